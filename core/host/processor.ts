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
 * In-flight counting and disposal after a hot swap live in `instance.ts`.
 */
import type { Decision, HeaderAlterations } from '../envelope.js';
import { SipError } from '../errors.js';
import { headerKey, setHeader, type SipMessage } from '../sip/index.js';
import { describeErrors, validator } from '../config/schemas.js';
import { PluginInstance, type InstanceOptions } from './instance.js';

export { kindOf } from './instance.js';

// 'config' first: modules evaluate in import order, so the config is parsed before plugin code could touch JSON.
const SHIM = `import config from 'config';
import * as plugin from 'plugin';
const impl = plugin.default !== null && typeof plugin.default === 'object' ? plugin.default : plugin;
const STAGES = ['isValid', 'isAuthenticated', 'isAuthorized'];
const context = { config };
const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
const refusal = (stage, verdict) => ({ stage, verdict: verdict === false ? false : verdict === undefined ? null : verdict });
// init(ctx): once per sandbox build (and rebuild), before any request: build tables from the config here; a
// throw refuses the version or config (the sandbox does not load). It must be synchronous.
if (typeof impl.init === 'function') syncOnly('init', impl.init.call(impl, context));
function noDoProcess() {
  throw new Error('the plugin exports no doProcess function');
}
function syncOnly(stage, value) {
  if (isThenable(value)) {
    throw new Error(stage + ' returned a Promise, but this plugin runs synchronously (spec.execution: sync): make it synchronous or declare spec.execution: async');
  }
  return value;
}
export function hooks() {
  return [...STAGES, 'doProcess'].filter((name) => typeof impl[name] === 'function');
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

export type ProcessorOptions = InstanceOptions;

export class Processor extends PluginInstance {
  /** Compile the plugin in a fresh sandbox; refuses (PluginError-like Error) a module without doProcess. */
  static async create(options: ProcessorOptions): Promise<Processor> {
    const processor = new Processor(await PluginInstance.sandboxFor(SHIM, options), options);
    try {
      if (!(await processor.exportedHooks()).includes('doProcess')) throw new Error(`plugin "${options.plugin.manifest.ref}" exports no doProcess function`);
    } catch (err) {
      processor.dispose();
      throw err;
    }
    return processor;
  }

  /** The decision for the request whose envelope is `envelopeJson`; throws SipError for every refusal or failure. */
  async process(envelopeJson: string): Promise<Decision> {
    let outcome: Outcome;
    try {
      outcome = JSON.parse(await this.run('runSync', 'run', envelopeJson)) as Outcome;
    } catch (err) {
      if (err instanceof SipError) throw err;
      this.fail('result', err);
    }
    if (outcome === null || typeof outcome !== 'object') this.fail('result', new Error('shim returned no outcome'));
    if (outcome.stage !== 'doProcess') {
      const { verdict } = outcome;
      if (verdict === false || verdict === null) throw new SipError(REFUSALS[outcome.stage], `${this.ref}: ${outcome.stage} refused`);
      return this.#validated(verdict, outcome.stage, 'respond');
    }
    return this.#validated(outcome.decision, 'doProcess');
  }

  #validated(decision: unknown, stage: string, only?: 'respond'): Decision {
    const d = checkDecision(decision, { trunkAuth: mayUseTrunkAuth(this.plugin.manifest.spec.capabilities) });
    if (typeof d === 'string') this.fail('invalid_decision', new Error(`${stage} returned an invalid decision: ${d}`));
    if (only && d.action !== only) this.fail('invalid_decision', new Error(`${stage} may only return true, false or a respond decision`));
    return d;
  }
}

/**
 * The decision, or a description of what is wrong with it: the first five schema errors, else the first header
 * the edge could not write. Every header value is parsed here by the same codec the edge uses (a Contact that
 * is not a URI, a header named twice in two spellings), so what the edge would refuse fails here, as this
 * request's 500, instead of at the edge.
 */
export function checkDecision(decision: unknown, options: { trunkAuth?: boolean | ReadonlySet<string> } = {}): Decision | string {
  const validate = validator('decision');
  if (!validate(decision)) return describeErrors(validate.errors).slice(0, 5).join('; ');
  const d = decision as Decision;
  const refused = trunkAuthProblem(d, options.trunkAuth ?? false);
  if (refused) return refused;
  const problem =
    d.action === 'respond'
      ? headersProblem(d.headers, '/headers')
      : alterationsProblem(d.headers, '/headers') ?? d.targets?.map((t, i) => alterationsProblem(t.headers, `/targets/${i}/headers`)).find(Boolean);
  return problem ?? d;
}

/** The capability that lets a plugin's decisions carry `targets[].auth` (a Trunk's credentials answer challenges). */
export const TRUNK_AUTH_CAPABILITY = 'trunks.auth';

export function mayUseTrunkAuth(capabilities: readonly string[] | undefined): boolean {
  return capabilities?.includes(TRUNK_AUTH_CAPABILITY) ?? false;
}

/** `<trunk> <uri>` for every target with auth: what a post middleware without the capability may keep, not add. */
export function trunkAuthTargets(decision: Decision): Set<string> {
  const out = new Set<string>();
  if (decision.action === 'forward') for (const t of decision.targets ?? []) if (t.auth) out.add(`${t.auth.trunk} ${t.uri ?? ''}`);
  return out;
}

/**
 * Targets with `auth` need the `trunks.auth` capability (`allowed` true), or — for a post middleware reworking a
 * decision — must be ones the decision it was given already had (`allowed` the set of them).
 */
function trunkAuthProblem(decision: Decision, allowed: boolean | ReadonlySet<string>): string | undefined {
  if (allowed === true) return undefined;
  for (const key of trunkAuthTargets(decision)) {
    if (allowed === false || !allowed.has(key)) return `targets[].auth (Trunk ${key.split(' ')[0]}) needs the ${TRUNK_AUTH_CAPABILITY} capability`;
  }
  return undefined;
}

function alterationsProblem(alterations: HeaderAlterations | undefined, where: string): string | undefined {
  if (!alterations) return undefined;
  return headersProblem(alterations.set, `${where}/set`) ?? headersProblem(alterations.add, `${where}/add`);
}

/** Header values the codec cannot write, or two keys naming one header (`X-A` and `x-a`, `Contact` and `m`). */
function headersProblem(headers: Record<string, string | string[]> | undefined, where: string): string | undefined {
  if (!headers) return undefined;
  const seen = new Set<string>();
  const scratch = { headers: {} } as unknown as SipMessage;
  for (const [name, values] of Object.entries(headers)) {
    const key = headerKey(name);
    if (seen.has(key)) return `${where}: header "${name}" is named twice (header names are case-insensitive)`;
    seen.add(key);
    try {
      setHeader(scratch, name, values);
    } catch (err) {
      return `${where}/${name}: ${(err as Error).message}`;
    }
  }
  return undefined;
}
