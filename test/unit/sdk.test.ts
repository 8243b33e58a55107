/**
 * The plugin SDK: `routr/sdk` resolves through the package's exports (this file imports it by name), its types
 * describe what hosts really accept (the typed modules below are the test plugins' contracts), the example
 * plugins type-check against it with checkJs, and every plugin routr ships passes its own fixtures.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Decision, MiddlewareModule, PreVerdict, ProcessorModule, StageVerdict } from 'routr/sdk';
import { loadPlugin } from '../../core/plugins/bundle.js';
import { packagePath } from '../../core/paths.js';
import { localCapabilities, runFixtures } from '../../core/host/fixtures.js';
import { testEngine } from '../helpers/sandbox-engine.js';

// Compile-time checks: these only have to type-check.
const processor: ProcessorModule<{ status: number }> = {
  isValid: (request): StageVerdict => typeof request.message.uri === 'string',
  isAuthenticated: () => ({ action: 'respond', status: 401, headers: { 'WWW-Authenticate': 'Digest realm="x"' } }),
  doProcess: (_request, { config }): Decision => ({ action: 'respond', status: config.status }),
};
const middleware: MiddlewareModule = {
  onRequest: (request): PreVerdict => (request.metadata.tenant ? true : { metadata: { tenant: 'acme' } }),
  onDecision: (_request, decision) => (decision.action === 'respond' ? { ...decision, headers: { 'X-Seen': 'yes' } } : undefined),
};

test('sdk - typed processor and middleware modules are plain objects of functions', () => {
  assert.equal(typeof processor.doProcess, 'function');
  assert.equal(typeof middleware.onRequest, 'function');
});

const shipped = [
  ...readdirSync(packagePath('plugins')).map((d) => packagePath('plugins', d)),
  ...readdirSync(packagePath('plugins', 'examples')).map((d) => packagePath('plugins', 'examples', d)),
].filter((dir) => existsSync(join(dir, 'plugin.yaml')));

for (const dir of shipped) {
  test(`sdk - shipped plugin ${dir.slice(packagePath().length + 1)} passes its fixtures`, async () => {
    const plugin = loadPlugin(dir);
    const results = await runFixtures(plugin, { engine: testEngine(), capabilities: localCapabilities() });
    assert.ok(results.length > 0, 'it has fixtures');
    assert.deepEqual(results.filter((r) => !r.ok), []);
  });
}

test('sdk - the example plugins type-check against routr/sdk (checkJs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'routr-sdk-'));
  try {
    const files = readdirSync(packagePath('plugins', 'examples')).map((d) => packagePath('plugins', 'examples', d, 'index.js'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, allowJs: true, checkJs: true, types: [] },
        files,
      }),
    );
    const tsc = spawnSync(process.execPath, [packagePath('node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
