/**
 * `routr trunks status`: routr's registrations with carriers and the probe results, from the operations API
 * (`GET /api/v1/trunks/status`). Exit 0 when every registration holds and every probed target answers, 1
 * otherwise (or when the server refuses), 2 on usage errors.
 */
import { parseArgs, writeStdout } from '../runtime/process.js';
import type { TrunksStatus } from '../trunks/status.js';
import { CLIENT_OPTIONS } from './client.js';
import { client, get, refused } from './ops.js';
import { UsageError } from './usage.js';

export async function runTrunks(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...CLIENT_OPTIONS, json: { type: 'boolean', default: false } } });
  if (positionals[0] !== 'status' || positionals.length > 1) throw new UsageError('usage: routr trunks status [--json]');
  const answer = await get(client(values), 'trunks/status');
  if (answer.status !== 200) return refused(answer);
  const status = answer.body as TrunksStatus;
  const healthy = status.registrations.every((r) => r.state === 'registered') && status.probes.every((p) => p.up);
  if (values.json) {
    writeStdout(JSON.stringify(status, null, 2) + '\n');
    return healthy ? 0 : 1;
  }
  const at = (ms: number | null) => (ms === null ? '–' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
  if (status.registrations.length === 0) writeStdout('registrations: none (no Trunk has outbound.sendRegister with credentials)\n');
  for (const r of status.registrations) {
    writeStdout(`${r.trunk} ${r.uri}  ${r.state}${r.status ? ` (${r.status})` : ''}  as ${r.aor}\n`);
    writeStdout(`    registered until ${at(r.registeredUntil)} · next attempt ${at(r.nextAttempt)} · by ${r.owner}${r.edge ? ` via ${r.edge}` : ''}${r.contact ? ` · Contact ${r.contact}` : ''}\n`);
    if (r.reason) writeStdout(`    last error: ${r.reason}\n`);
  }
  if (status.probes.length === 0) writeStdout('probes: none (spec.host.probes, or probes on a Trunk or Peer, turns them on)\n');
  for (const p of status.probes) {
    writeStdout(`${p.kind} ${p.target}  ${p.up ? 'up' : 'DOWN'} since ${at(p.since)} · last ${p.lastStatus ?? p.lastError ?? '–'} at ${at(p.checkedAt)}\n`);
  }
  return healthy ? 0 : 1;
}
