/**
 * The sandbox contract and hostile suites against the QuickJS-ng engine (WebAssembly: the engine for Bun and
 * Deno, and a choice on Node), plus what only this engine promises.
 */
import { after } from 'node:test';
import { QuickJSEngine } from '../../sandbox/quickjs.js';
import { sandboxHostileContract } from './sandbox-hostile.case.js';
import { declareTraits } from './sandbox-support.js';
import { sandboxContract } from './sandbox.case.js';

const engine = new QuickJSEngine();
declareTraits(engine, { runsOnHostThread: true });
sandboxContract(engine);
sandboxHostileContract(engine);
after(() => engine.disposeAll());
