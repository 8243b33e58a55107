/**
 * Runs one processor plugin in its own sandbox and enforces the processor contract (Routr v2 spec):
 * isValid → 400, isAuthenticated → 401, isAuthorized → 403, then doProcess → decision. A small shim module
 * inside the sandbox walks the stages so a request costs one boundary crossing.
 *
 * Plugins run synchronously on the host's thread by default (`spec.execution: sync`, ≈ 20 µs a request, still
 * under the isolate's time limit and memory cap). Measured on two cores under sipp load, the async path — the
 * isolate's own thread, needed only by plugins with async capabilities — queued to ≈ 10 ms a request, because
 * every call waits for a thread wake-up behind the load; the sync path does not. Each stage may return
 * `true` (go on), `false` (the stage's standard refusal) or a respond decision (for example a 401 carrying
 * a digest challenge). Whatever comes back is validated against the decision schema; a sandbox failure or
 * an invalid decision is a SipError 500 for this request, and the sandbox keeps serving the next one.
 */
import type { Decision } from '../envelope.js';
import { SipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Capability, Sandbox, SandboxEngine } from '../../sandbox/types.js';
import { SandboxError } from '../../sandbox/types.js';
import { describeErrors, validator } from '../config/schemas.js';
import type { LoadedPlugin } from './plugins.js';

const SHIM = `import * as plugin from 'plugin';
import config from 'config';
const impl = plugin.default !== null && typeof plugin.default === 'object' ? plugin.default : plugin;
const STAGES = ['isValid', 'isAuthenticated', 'isAuthorized'];
const context = { config };
const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
const refusal = (stage, verdict) => ({ stage, verdict: verdict === false ? false : verdict === undefined ? null : verdict });
function noDoProcess() {
  throw new Error('the plugin exports no doProcess function');
}
function syncOnly(stage, value) {
  if (isThenable(value)) {
    throw new Error(stage + ' returned a Promise, but this plugin runs synchronously (spec.execution: sync): make it synchronous or declare spec.execution: async');
  }
  return value;
}
export function runSync(request) {
  for (const stage of STAGES) {
    const fn = impl[stage];
    if (typeof fn !== 'function') continue;
    const verdict = syncOnly(stage, fn.call(impl, request, context));
    if (verdict !== true) return refusal(stage, verdict);
  }
  if (typeof impl.doProcess !== 'function') noDoProcess();
  return { stage: 'doProcess', decision: syncOnly('doProcess', impl.doProcess.call(impl, request, context)) };
}
export async function run(request) {
  for (const stage of STAGES) {
    const fn = impl[stage];
    if (typeof fn !== 'function') continue;
    const verdict = await fn.call(impl, request, context);
    if (verdict !== true) return refusal(stage, verdict);
  }
  if (typeof impl.doProcess !== 'function') noDoProcess();
  return { stage: 'doProcess', decision: await impl.doProcess.call(impl, request, context) };
}
`;

const REFUSALS = {
  isValid: 'ROUTR_BAD_REQUEST',
  isAuthenticated: 'ROUTR_UNAUTHORIZED',
  isAuthorized: 'ROUTR_FORBIDDEN',
} as const;

type Outcome =
  | { stage: keyof typeof REFUSALS; verdict: unknown }
  | { stage: 'doProcess'; decision: unknown };

export interface ProcessorOptions {
  ref: string;
  plugin: LoadedPlugin;
  config: Record<string, unknown>;
  limits: { timeoutMs: number; memoryMb: number };
  engine: SandboxEngine;
  logger: Logger;
  metrics: Metrics;
  capabilities: Record<string, Capability>;
}

export class Processor {
  readonly ref: string;
  readonly version: string;
  readonly #sandbox: Sandbox;
  readonly #sync: boolean;
  readonly #metrics: Metrics;
  readonly #logger: Logger;

  private constructor(ref: string, version: string, sandbox: Sandbox, options: ProcessorOptions) {
    this.ref = ref;
    this.version = version;
    this.#sandbox = sandbox;
    this.#sync = options.plugin.manifest.spec.execution !== 'async';
    this.#metrics = options.metrics;
    this.#logger = options.logger;
  }

  static async create(options: ProcessorOptions): Promise<Processor> {
    const { plugin } = options;
    const sandbox = await options.engine.create({
      name: `processor:${options.ref}@${plugin.manifest.metadata.version}`,
      source: SHIM,
      filename: `routr:processor-shim`,
      modules: { plugin: plugin.source, config: `export default ${JSON.stringify(options.config)};` },
      limits: options.limits,
      capabilities: options.capabilities,
      maxResultBytes: 256 * 1024,
    });
    return new Processor(options.ref, plugin.manifest.metadata.version, sandbox, options);
  }

  /** The decision for the request whose envelope is `envelopeJson`; throws SipError for every refusal or failure. */
  async process(envelopeJson: string): Promise<Decision> {
    let outcome: Outcome;
    try {
      const text = this.#sync ? this.#sandbox.callSync('runSync', envelopeJson) : await this.#sandbox.call('run', envelopeJson);
      outcome = JSON.parse(text) as Outcome;
    } catch (err) {
      this.#fail(err instanceof SandboxError ? kindOf(err) : 'result', err);
    }
    if (outcome === null || typeof outcome !== 'object') this.#fail('result', new Error('shim returned no outcome'));
    if (outcome.stage !== 'doProcess') {
      const { verdict } = outcome;
      if (verdict === false || verdict === null) throw new SipError(REFUSALS[outcome.stage], `${this.ref}: ${outcome.stage} refused`);
      return this.#validated(verdict, outcome.stage, 'respond');
    }
    return this.#validated(outcome.decision, 'doProcess');
  }

  #validated(decision: unknown, stage: string, only?: 'respond'): Decision {
    const validate = validator('decision');
    if (!validate(decision)) {
      this.#fail('invalid_decision', new Error(`${stage} returned an invalid decision: ${describeErrors(validate.errors).slice(0, 5).join('; ')}`));
    }
    const d = decision as Decision;
    if (only && d.action !== only) this.#fail('invalid_decision', new Error(`${stage} may only return true, false or a respond decision`));
    return d;
  }

  #fail(kind: string, err: unknown): never {
    this.#metrics.sandboxFailures.inc({ processor: this.ref, kind });
    this.#logger.warn({ processor: this.ref, kind, err: err instanceof Error ? err.message : String(err) }, 'processor failed');
    throw new SipError('ROUTR_INTERNAL', `processor ${this.ref} failed: ${kind}`, { cause: err });
  }

  get stats() {
    return this.#sandbox.stats;
  }

  dispose(): void {
    this.#sandbox.dispose();
  }
}

export function kindOf(err: SandboxError): string {
  switch (err.name) {
    case 'SandboxTimeoutError':
      return 'timeout';
    case 'SandboxMemoryError':
      return 'memory';
    case 'SandboxResultError':
      return 'result';
    case 'SandboxAbortedError':
      // Stopped because another call on the same isolate looped or blew the memory cap.
      return 'aborted';
    default:
      return 'script';
  }
}
