#!/usr/bin/env -S node --no-node-snapshot --enable-source-maps
// isolated-vm needs --no-node-snapshot on Node 20+; the shebang passes it. Build first: npm run build.
import '../dist/core/cli/main.js';
