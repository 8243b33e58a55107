/**
 * Reads V8 CPU profiles (`--cpu-prof`, as `npm run bench:compare` with BENCH_PROFILE=<dir> writes them) and prints
 * where the time went: self time by area of routr (codec, transactions, sandbox, …, attributed by source path),
 * then the functions with the most self time. `node dist/bench/profile-summary.js <file.cpuprofile|dir> [calls]`;
 * with the number of calls the profile covers, the areas are also given in µs per call. SKIP=<seconds> leaves out
 * the samples of the profile's first seconds (start-up: module loading, schema compilation), UNTIL=<seconds> those
 * after that point.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Areas by source path, first match wins; what is not routr's is named by its package or the engine's bucket. */
const AREAS: Array<[string, RegExp]> = [
  ['sip codec', /\/core\/sip\//],
  ['transactions', /\/core\/edge\/transactions\//],
  ['edge transports', /\/core\/edge\/(udp|tcp|tls|ws|stream|transport|transports)\.js/],
  ['edge proxy', /\/core\/edge\//],
  ['trace', /\/core\/trace\//],
  ['bus', /\/core\/bus\//],
  ['host', /\/core\/host\//],
  ['auth/digest', /\/core\/auth\//],
  ['location', /\/core\/location\//],
  ['resources', /\/core\/resources\//],
  ['capabilities', /\/core\/capabilities\//],
  ['shield', /\/core\/shield\//],
  ['events', /\/core\/events\//],
  ['metrics', /\/core\/metrics\.js|prom-client/],
  ['logging', /\/core\/log\.js|pino/],
  ['ajv', /ajv/],
  ['sandbox (host side)', /\/sandbox\//],
  ['sandbox (guest code)', /^routr:|plugins\/|^plugin$|^config$/],
  ['other routr', /\/core\//],
  ['node: dgram/net', /node:dgram|node:net|node:internal\/dgram|node:internal\/net/],
  ['node: timers', /node:internal\/timers|node:timers/],
  ['node: crypto', /node:crypto|node:internal\/crypto/],
  ['node: other', /^node:/],
];

function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, engine)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  for (const [name, re] of AREAS) if (re.test(url)) return name;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return pkg ? `npm: ${pkg[1]}` : url;
}

function summarize(file: string, calls: number | undefined): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const from = Number(process.env.SKIP ?? 0) * 1e6;
  const until = process.env.UNTIL ? Number(process.env.UNTIL) * 1e6 : Infinity;
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > until) continue;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const area = areaOf(node);
    if (area === 'idle') continue;
    busy += us;
    areas.set(area, (areas.get(area) ?? 0) + us);
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(dist|node_modules)\//, '')}:${lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const wall = Math.min(profile.endTime - profile.startTime, until) - from;
  process.stdout.write(`${file}\n  wall ${(wall / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / wall).toFixed(0)}% of one core)${calls ? `, ${((busy / calls) | 0)} µs per call over ${calls} calls` : ''}\n`);
  process.stdout.write('  area                          share   ' + (calls ? 'µs/call' : '') + '\n');
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1])) {
    if (us / busy < 0.002) continue;
    process.stdout.write(`  ${area.padEnd(30)}${((100 * us) / busy).toFixed(1).padStart(5)}%  ${calls ? (us / calls).toFixed(1).padStart(7) : ''}\n`);
  }
  process.stdout.write('  top functions (self)\n');
  for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) {
    process.stdout.write(`  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${fn}\n`);
  }
}

const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile|dir> [calls]\n');
  process.exit(2);
}
const calls = process.argv[3] ? Number(process.argv[3]) : undefined;
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
for (const file of files) summarize(file, calls);
