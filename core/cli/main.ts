/**
 * The `routr` command line. Exit codes: 0 success, 1 failure (invalid config or input, cannot start, refused by
 * the server), 2 usage error. Each command lives in its own module, loaded only when it runs (a command that
 * talks to a server should not load the whole server), and has one entry in COMMANDS.
 */
import { UsageError } from './usage.js';
import { args, exit, setExitCode, writeStderr, writeStdout } from '../runtime/process.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'start [--config <file>] [--role all|edge|host] [--resources <dir>]   run the server (default config: config/routr.yaml; a Routr v1 config.yaml is converted)',
    run: async (args) => (await import('./start.js')).runStart(args),
  },
  resources: {
    summary: 'resources validate <path>... | convert <v1 path> -o <file> | export <path>... --format routr -o <file> | apply -f <file|dir> | get <kind> [ref] | delete <kind> <ref>   (server verbs: --url, --token)',
    run: async (args) => (await import('./resources.js')).runResources(args),
  },
  config: {
    summary: 'config convert <v1 config.yaml> -o <routr.yaml>   Routr v1\'s general configuration as a kind: Server document',
    run: async (args) => (await import('./config.js')).runConfig(args),
  },
  plugin: {
    summary: 'plugin install <dir|.tgz> | list | remove|rollback|enable|disable <ref> | test <dir|.tgz>  [--url <url>] [--token <t>] [--json]',
    run: async (args) => (await import('./plugin.js')).runPlugin(args),
  },
  certs: {
    summary: 'certs dev [--out <dir>] [--host <name>...]   self-signed cert.pem and key.pem for local TLS/WSS (needs openssl)',
    run: async (args) => (await import('./certs.js')).runCerts(args),
  },
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.summary}`);
  return `usage: routr <command> [options]\n\ncommands:\n${lines.join('\n')}\n\noptions:\n  -h, --help   show this help`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    writeStdout(usage() + '\n');
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command.run(rest);
}

main(args()).then(
  (code) => {
    // Exit explicitly: a command is done when it says so, not when the last timer or socket lets go.
    exit(code);
  },
  (err: unknown) => {
    const isUsage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    writeStderr(`routr: ${(err as Error).message}\n${isUsage ? usage() + '\n' : ''}`);
    setExitCode(isUsage ? 2 : 1);
  },
);
