/**
 * One loaded version of a plugin in its own sandbox: the part processors and middlewares share. It runs a shim
 * module (the plugin is imported by it) synchronously on the host thread or on the isolate's thread, turns
 * sandbox failures into a SipError 500 for the request (counted and logged), and counts the calls in flight so
 * a version that was swapped out is disposed only once the requests already inside it have finished.
 */
import { SipError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Capability, Sandbox, SandboxEngine } from '../../sandbox/types.js';
import { SandboxError } from '../../sandbox/types.js';
import type { LoadedPlugin } from '../plugins/bundle.js';

export interface InstanceOptions {
  /** The processor or middleware entry this instance serves (names it in logs and metrics). */
  ref: string;
  plugin: LoadedPlugin;
  config: Record<string, unknown>;
  limits: { timeoutMs: number; memoryMb: number };
  engine: SandboxEngine;
  logger: Logger;
  metrics: Metrics;
  capabilities: Record<string, Capability>;
}

/** Results larger than this are a failure: a decision is a few hundred bytes. */
const MAX_RESULT_BYTES = 256 * 1024;

export abstract class PluginInstance {
  readonly ref: string;
  readonly plugin: LoadedPlugin;
  protected readonly sandbox: Sandbox;
  protected readonly sync: boolean;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  #inflight = 0;
  #retired = false;

  protected constructor(sandbox: Sandbox, options: InstanceOptions) {
    this.ref = options.ref;
    this.plugin = options.plugin;
    this.sandbox = sandbox;
    this.sync = options.plugin.manifest.spec.execution !== 'async';
    this.#metrics = options.metrics;
    this.#logger = options.logger;
  }

  /** A sandbox running `shim`, which imports the plugin as 'plugin' and its config as 'config'. */
  protected static sandboxFor(shim: string, options: InstanceOptions): Promise<Sandbox> {
    const { plugin } = options;
    const kind = plugin.manifest.kind.toLowerCase();
    return options.engine.create({
      name: `${kind}:${options.ref}@${plugin.manifest.metadata.version}`,
      source: shim,
      filename: `routr:${kind}-shim`,
      // JSON.parse of a string literal, not an object literal: V8 parses JSON several times faster than the same
      // data as JavaScript (a 7.5 MB config, 100,000 map entries: ≈ 150 ms instead of ≈ 600 ms to load).
      modules: { plugin: plugin.source, config: `export default JSON.parse(${JSON.stringify(JSON.stringify(options.config))});` },
      limits: options.limits,
      capabilities: options.capabilities,
      maxResultBytes: MAX_RESULT_BYTES,
    });
  }

  get version(): string {
    return this.plugin.manifest.metadata.version;
  }

  get digest(): string {
    return this.plugin.digest;
  }

  get stats() {
    return this.sandbox.stats;
  }

  /** Calls inside this instance right now. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Run an export of the shim: `syncName` on the host thread, or `asyncName` on the isolate's thread. A
   * sandbox failure becomes a SipError 500 (`fail`). The in-flight count brackets the whole call.
   */
  protected async run(syncName: string, asyncName: string, argJson: string): Promise<string> {
    this.#inflight++;
    try {
      return this.sync ? this.sandbox.callSync(syncName, argJson) : await this.sandbox.call(asyncName, argJson);
    } catch (err) {
      return this.fail(err instanceof SandboxError ? kindOf(err) : 'result', err);
    } finally {
      if (--this.#inflight === 0 && this.#retired) this.sandbox.dispose();
    }
  }

  /** The plugin's own exported function names, asked once when the instance is built. */
  protected async exportedHooks(): Promise<string[]> {
    return JSON.parse(await this.sandbox.call('hooks', 'null')) as string[];
  }

  protected fail(kind: string, err: unknown): never {
    this.#metrics.sandboxFailures.inc({ processor: this.ref, kind });
    this.#logger.warn({ processor: this.ref, version: this.version, kind, err: err instanceof Error ? err.message : String(err) }, 'plugin failed');
    throw new PluginFailure(kind, `${this.ref} failed: ${kind}`, err);
  }

  /** Swapped out: dispose now if idle, else when the last call in flight returns. */
  retire(): void {
    this.#retired = true;
    if (this.#inflight === 0) this.sandbox.dispose();
  }

  /** Dispose at once (shutdown, or a version that was never swapped in). */
  dispose(): void {
    this.#retired = true;
    this.sandbox.dispose();
  }
}

/** A plugin failed (500 for the request); `kind` says how (timeout, memory, script, result, invalid_decision...). */
export class PluginFailure extends SipError {
  readonly kind: string;
  constructor(kind: string, message: string, cause: unknown) {
    super('ROUTR_INTERNAL', message, { cause });
    this.kind = kind;
  }
}

/** True for a SipError that means the plugin itself failed (not a refusal it chose to give). */
export function isPluginFailure(err: unknown): boolean {
  return err instanceof SipError && err.code === 'ROUTR_INTERNAL';
}

/**
 * Whether a failure counts towards the plugin's circuit breaker. A decision that fails validation is most often
 * made of one request's data (an AOR's bad contact, a header a caller sent): it costs that request its 500, but
 * must not let one caller switch the processor off for everybody. Timeouts, memory breaches, throws and
 * unreadable results are the plugin's own faults and count.
 */
export function countsForBreaker(err: unknown): boolean {
  return isPluginFailure(err) && !(err instanceof PluginFailure && err.kind === 'invalid_decision');
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

/** What a host lets a plugin manifest ask for (spec.host.pluginLimits). */
export interface LimitCaps {
  maxTimeoutMs: number;
  maxMemoryMb: number;
}

export const DEFAULT_LIMIT_CAPS: LimitCaps = { maxTimeoutMs: 1000, maxMemoryMb: 128 };

/**
 * A manifest's limits cut down to the operator's caps: a plugin author cannot give a synchronous plugin 60 s of
 * the host thread or 4 GiB of heap by writing it in plugin.yaml.
 */
export function cappedLimits(limits: { timeoutMs?: number; memoryMb?: number } | undefined, caps: LimitCaps = DEFAULT_LIMIT_CAPS): { timeoutMs?: number; memoryMb?: number } {
  const out: { timeoutMs?: number; memoryMb?: number } = {};
  if (limits?.timeoutMs !== undefined) out.timeoutMs = Math.min(limits.timeoutMs, caps.maxTimeoutMs);
  if (limits?.memoryMb !== undefined) out.memoryMb = Math.min(limits.memoryMb, caps.maxMemoryMb);
  return out;
}
