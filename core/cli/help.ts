/**
 * `routr <command> --help`: each command's own page — what it does, its verbs, every option with its default.
 * One place, so the summaries in `routr --help` and the pages cannot drift apart from each other.
 */

const SERVER_FLAGS = `
server options (how they default, when not given):
  --url <url>          ROUTR_URL, else the ops port of --config, else http://127.0.0.1:8080
  --token <token>      ROUTR_API_TOKEN, else <stateDir>/api-token (routr writes it at the first start when no
                       spec.http.apiToken is set; ROUTR_STATE_DIR overrides where it is looked for)
  -c, --config <file>  the server's config (ROUTR_CONFIG; default config/routr.yaml), to find the port and the
                       state directory`;

import { permissionsSection } from './permissions.js';

export interface CommandHelp {
  summary: string;
  page: string;
}

export const HELP: Record<string, CommandHelp> = {
  start: {
    summary: 'start [--config <file>] [--role all|edge|host] [--resources <dir>]   run the server',
    page: `usage: routr start [options]

Run routr: the edge (SIP transports), the processor host (plugins), or both in one process. SIGTERM or SIGINT
drains transactions in flight and exits 0; a second signal exits at once.

options:
  -c, --config <file>     the kind: Server config (default: config/routr.yaml of the package); a Routr v1
                          config.yaml is converted on load (routr config convert writes it once and for all)
  --role all|edge|host    which roles this process runs (default all; edge and host alone need spec.bus.url)
  -r, --resources <dir>   serve the resources in <dir> (files provider), overriding spec.resources
  -h, --help              this page

With no spec.http.apiToken (nor ROUTR_API_TOKEN) the first start writes a random API token to
<stateDir>/api-token (default .routr next to the config, mode 0600) and the ops HTTP server listens on
127.0.0.1 only; the CLI on the same machine reads that file. Exit codes: 0 stopped cleanly, 1 invalid config or
cannot start, 70 a sandbox thread was lost (restart the process).`,
  },
  trunks: {
    summary: 'trunks status [--json]   registration with each carrier (per outbound URI) and probe results',
    page: `usage: routr trunks status [options]

routr's registration with every Trunk outbound URI that has sendRegister (state, the carrier's last answer,
registered until, the next attempt, the node and edge doing it, the last error), and what the OPTIONS probes
found about each Trunk URI and Peer binding (up or down since when, the last answer). Exit 1 when any
registration has failed or any probed target is down, so scripts can alert on it.

options:
  --json               the whole answer as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  status: {
    summary: 'status [--json]   roles, bus, edges, hosts, processors, registrations, calls, trace memory',
    page: `usage: routr status [options]

What a running routr is: its roles, the bus, the edge's listening points and transactions, the host's
processors and their breaker states, registrations, calls in progress, resources by kind, and how much of each
edge's trace memory is used (every edge on the bus answers).

options:
  --json               the whole answer as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  trace: {
    summary: 'trace <call-id> [--full] | trace --follow | trace --list   a call\'s ladder, sngrep style',
    page: `usage: routr trace <call-id> [options]
       routr trace --list [--limit <n>]
       routr trace --follow [--full]

Draw a call's ladder from the trace rings of every edge that saw it: one column per participant (caller, each
edge, callee or trunk), an arrow per message with its method or status, timestamps, and the host's decisions
(processor, routing type, target) noted on the edge. Authorization values are redacted.

options:
  --full               print every message under its arrow
  --list               the most recent calls the edges hold (Call-ID, first request, final status)
  --limit <n>          how many with --list (default 20)
  --follow             wait for calls and print each one's ladder when it ends (Ctrl-C stops)
  --json               the traces and the ladder as JSON
  --utc                timestamps in UTC instead of local time
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  console: {
    summary: 'console   print the web console\'s address (it logs the browser in once)',
    page: `usage: routr console [options]

Print the address of the web console (/console/ on the ops HTTP server) with the API token in it: opening it
sets a session cookie and drops the token from the address. Anyone with the address is in: treat it like the
token.

options:
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  resources: {
    summary: 'resources validate | convert | export | apply | get | delete   resources, offline and on a server',
    page: `usage: routr resources <verb> [arguments] [options]

verbs:
  validate <path>...                    check files or directories; exit 0 valid, 1 invalid (every problem)
  convert <v1 path> -o <file>           v1beta1 → v2beta1 YAML, written to a file (mode 0600)
  export <path>... --format routr -o <file>   write a set in Routr's own shapes
  apply -f <file|dir>                   send every file in one all-or-nothing request
  get <kind> [ref] [-o yaml|json]       what the server holds (passwords are never returned)
  delete <kind> <ref>                   remove one resource (refused while others refer to it)

options:
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  config: {
    summary: 'config convert <v1 config.yaml> -o <routr.yaml>   Routr v1\'s general configuration as a kind: Server document',
    page: `usage: routr config convert <v1 config.yaml> -o <routr.yaml> [--force]

Write Routr v1's general configuration (apiVersion v1beta1) as the kind: Server document routr runs: each mapped
property reported, each refused one with the reason, and nothing written when any is refused. The output may
carry keystore and Redis passwords, so it goes to a file (mode 0600), never to the terminal.

options:
  -o, --out <file>     where to write (required)
  --force              overwrite an existing file
  -h, --help           this page`,
  },
  plugin: {
    summary: 'plugin install | list | remove | rollback | enable | disable | test   plugins on a server',
    page: `usage: routr plugin <verb> [argument] [options]

verbs:
  install <dir|.tgz>   pack and install; the host checks it and runs its fixtures first (refused with the reason)
  list                 ref, version, state (closed/open/half-open/disabled), calls, failures
  remove <ref>         drop every installed version (back to the directory or built-in one)
  rollback <ref>       back to the previous installed version
  enable <ref>         enable, and close an open circuit at once
  disable <ref>        requests fall through to the next processor
  test <dir|.tgz>      run the plugin's fixtures here in a real sandbox; no server needed
                       (--engine auto|isolated-vm|quickjs: the sandbox engine, default auto)

options:
  --json               answers as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  bans: {
    summary: 'bans list | add <address> [--seconds N] | lift <address>   the ban list every edge shares',
    page: `usage: routr bans <verb> [address] [options]

The ban list (README "Abuse defences"): sources banned by the rate limit, by password guessing or by hand,
dropped by every edge before any parse. An IPv6 address stands for its /64 (spec.security.rateLimit.ipv6PrefixLength).

verbs:
  list                 every ban, soonest to end first: source, reason (rate|password|api), until, by
  add <address>        ban it on every edge (--seconds N, default 3600, at most 86400)
  lift <address>       lift its ban everywhere

options:
  --seconds <n>        add: how long
  --json               answers as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  acl: {
    summary: 'acl get | set [--allow <net>]... [--deny <net>]...   the edge access list set through the API',
    page: `usage: routr acl get | set [options]

The edge access list checked on the socket source of every datagram and connection before any parse: the
configured one (spec.edge.accessControlList) merged with the one set here, which every edge reads from the bus.
Entries are addresses, CIDRs or IPv4 address/netmask; allow wins over deny; neither lets in.

verbs:
  get                  the configured list and the one set through the API
  set                  replace the API's list (every --allow and --deny given; none clears it)

options:
  --allow <net>        repeat for more
  --deny <net>         repeat for more
  --json               answers as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  keys: {
    summary: 'keys create --role <role> [--tenant <t>] | list | revoke <id>   API keys with a role and a tenant',
    page: `usage: routr keys <verb> [id] [options]

API keys for the management API (README "Roles, tenants and API keys"): each has a role (admin, tenant-admin,
operator, read-only) and optionally a tenant, expires, and can be revoked. They are kept in the bus KV, so every
node knows them; a revoked key is refused by every node at once. routr stores only a hash: \`create\` prints the
key once, on standard output.

verbs:
  create               make a key (--role required; --tenant, --name, --expires)
  list                 id, state (active/expired/revoked), role@tenant, expiry, name
  revoke <id>          revoke it everywhere

options:
  --role <role>        admin | tenant-admin | operator | read-only (a key makes keys of its own rank or lower)
  --tenant <name>      the tenant the key is bound to (required for tenant-admin; none for admin)
  --name <text>        for people (default role@tenant)
  --expires <when>     90d, 12h, 30m, 3600s, 2w, an ISO date, or never (default 90d)
  --json               answers as JSON
  -h, --help           this page
${SERVER_FLAGS}`,
  },
  certs: {
    summary: 'certs dev [--out <dir>] [--host <name>...]   self-signed cert.pem and key.pem for local TLS/WSS',
    page: `usage: routr certs dev [options]

Write a self-signed cert.pem and key.pem (mode 0600) for trying the TLS and WSS transports locally. Runs
openssl (1.1.1 or newer; ROUTR_OPENSSL names another binary). Never for production.

options:
  -o, --out <dir>      where to write (default certs)
  --host <name>        a DNS name or IP address for subjectAltName; repeat for more (default localhost,
                       127.0.0.1, ::1)
  --days <n>           validity (default 365)
  --force              replace existing files
  -h, --help           this page`,
  },
};

for (const [name, help] of Object.entries(HELP)) help.page += permissionsSection(name);

export function overview(): string {
  const lines = Object.values(HELP).map((h) => `  ${h.summary}`);
  return `usage: routr <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n\`routr <command> --help\` shows a command's options.\n\noptions:\n  -h, --help   show this help`;
}
