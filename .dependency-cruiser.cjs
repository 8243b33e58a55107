/**
 * routr's layers, lowest first. A module may import its own layer and the layers below it, never one above:
 * the rules below fail `npm test` on an upward import, an import cycle, or a Node built-in imported outside the
 * runtime seam. README.md ("Architecture") explains each layer.
 *
 *   0 runtime       core/runtime: everything that differs between Node, Bun and Deno
 *   1 foundations   core/sip (the codec), core/sdk, core/{errors,log,metrics,envelope,paths}.ts, sandbox/
 *   2 config        core/config
 *   3 plumbing      core/bus (with KvMirror), core/events (events on the bus), core/trace (message traces), core/capabilities (the registry), core/api + core/http.ts (ops HTTP)
 *   4 resources     core/resources
 *   5 services      core/auth, core/location, core/plugins (store, bundles, the kv capability), core/shield (abuse defences)
 *   6 roles         core/edge, core/host, core/apps (apps outside the sandbox: the host's side, and the SDK), core/trunks
 *                   (trunk registration, carriers' challenges, probes: on hosts, through edges over the bus)
 *   7 process       core/server.ts, core/console (ops views: status, traces, events, the web console), core/cli
 *
 * Run by test/unit/layers.test.ts (and `npm run check:layers`), which also checks that no Node global (`process`,
 * `Buffer`, `setImmediate`, ...) is used in core/ outside core/runtime.
 */
const layers = [
  { name: 'runtime', path: '^core/runtime/' },
  { name: 'foundations', path: '^(core/(sip|sdk)/|core/(errors|log|metrics|envelope|paths)\\.ts$|sandbox/)' },
  { name: 'config', path: '^core/config/' },
  { name: 'plumbing', path: '^(core/(bus|events|trace|capabilities|api)/|core/http\\.ts$)' },
  { name: 'resources', path: '^core/resources/' },
  { name: 'services', path: '^core/(auth|location|plugins|shield)/' },
  { name: 'roles', path: '^core/(edge|host|apps|trunks)/' },
  { name: 'process', path: '^(core/server\\.ts$|core/console/|core/cli/)' },
];

const upward = layers.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}-imports-upward`,
  comment: `${layer.name} (layer ${i}) may import only layers 0-${i}; move the shared code down instead`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: layers.slice(i + 1).map((l) => l.path) },
}));

/** Siblings of one layer stay independent of each other. */
function siblings(name, dirs) {
  return dirs.map((dir) => ({
    name: `${name}-siblings-${dir}`,
    comment: `core/${dir} does not import its sibling layers (${dirs.filter((d) => d !== dir).join(', ')})`,
    severity: 'error',
    from: { path: `^core/${dir}/` },
    to: { path: `^core/(${dirs.filter((d) => d !== dir).join('|')})/` },
  }));
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'import cycles hide the layer order; cut the cycle by moving the shared part into its own module',
      severity: 'error',
      from: { path: '^(core|sandbox)/' },
      to: { circular: true },
    },
    ...upward,
    ...siblings('roles', ['edge', 'host', 'trunks']),
    ...siblings('services', ['auth', 'location', 'plugins', 'shield']),
    {
      name: 'sip-codec-stands-alone',
      comment: 'core/sip is the codec: it imports nothing of routr but the runtime seam',
      severity: 'error',
      from: { path: '^core/sip/' },
      to: { path: '^(core|sandbox)/', pathNot: '^core/(sip|runtime)/' },
    },
    {
      name: 'sandbox-knows-no-routr',
      comment: 'sandbox/ runs serialized requests; it knows nothing of the bus, SIP or the host (only the runtime seam)',
      severity: 'error',
      from: { path: '^sandbox/' },
      to: { path: '^core/', pathNot: '^core/runtime/' },
    },
    {
      name: 'node-builtins-only-in-runtime',
      comment: 'Node built-ins are imported in core/runtime only (sandbox/ keeps its engine-specific ones), so Bun and Deno differ in one place',
      severity: 'error',
      from: { path: '^core/', pathNot: '^core/runtime/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'app-sdk-stands-apart',
      comment: 'core/apps/sdk (routr/app) runs in apps on Node, Bun and Deno: only the app protocol, the bus types, the codec and the envelope, no host code and no runtime seam',
      severity: 'error',
      from: { path: '^core/apps/sdk/' },
      to: { path: '^(core|sandbox)/', pathNot: '^core/(apps/sdk/|apps/protocol\\.ts$|bus/(types|subjects)\\.ts$|sip/|envelope\\.ts$)' },
    },
    {
      name: 'edge-knows-no-apps',
      comment: 'apps answer hosts; the edge meets them only through a host, on the bus',
      severity: 'error',
      from: { path: '^core/edge/' },
      to: { path: '^core/apps/' },
    },
    {
      name: 'runtime-packages-only-in-runtime',
      comment: 'packages that stand in for runtime features (the ws WebSocket server) are imported in core/runtime only',
      severity: 'error',
      from: { path: '^core/', pathNot: '^core/runtime/' },
      to: { path: '^node_modules/ws/' },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
  },
};
