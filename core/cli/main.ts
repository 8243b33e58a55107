/**
 * The `routr` command line. Exit codes: 0 success, 1 failure (invalid config or input, cannot start, refused by
 * the server), 2 usage error. Each command lives in its own module, loaded only when it runs (a command that
 * talks to a server should not load the whole server), and has one entry in COMMANDS.
 */
import { HELP, overview } from './help.js';
import { UsageError } from './usage.js';
import { args, exit, setExitCode, writeStderr, writeStdout } from '../runtime/process.js';

/** Each command's entry point (its help page is in help.ts under the same name). */
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  start: async (args) => (await import('./start.js')).runStart(args),
  status: async (args) => (await import('./ops.js')).runStatus(args),
  trunks: async (args) => (await import('./trunks.js')).runTrunks(args),
  trace: async (args) => (await import('./ops.js')).runTrace(args),
  console: async (args) => (await import('./ops.js')).runConsole(args),
  resources: async (args) => (await import('./resources.js')).runResources(args),
  config: async (args) => (await import('./config.js')).runConfig(args),
  plugin: async (args) => (await import('./plugin.js')).runPlugin(args),
  bans: async (args) => (await import('./shield.js')).runBans(args),
  acl: async (args) => (await import('./shield.js')).runAcl(args),
  keys: async (args) => (await import('./keys.js')).runKeys(args),
  certs: async (args) => (await import('./certs.js')).runCerts(args),
};

/** The command the failure belongs to, for the usage text printed with a usage error. */
let running: string | undefined;

function usage(): string {
  return running && HELP[running] ? HELP[running].page : overview();
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help') {
    writeStdout(overview() + '\n');
    return name ? 0 : 2;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic && !Object.hasOwn(HELP, topic)) throw new UsageError(`unknown command "${topic}"`);
    writeStdout((topic ? HELP[topic].page : overview()) + '\n');
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`unknown command "${name}"`);
  running = name;
  // --help anywhere after the command (`routr plugin install --help` too) shows the command's page.
  if (rest.includes('--help') || rest.includes('-h')) {
    writeStdout(HELP[name].page + '\n');
    return 0;
  }
  return command(rest);
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
