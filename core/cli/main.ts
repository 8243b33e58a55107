/**
 * The `routr` command line. Exit codes: 0 success, 1 failure (invalid config or input, cannot start, refused by
 * the server), 2 usage error. Each command lives in its own module and registers one line in COMMANDS.
 */
import { runCerts } from './certs.js';
import { runStart } from './start.js';
import { UsageError } from './usage.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  start: { summary: 'start [--config <file>] [--role all|edge|host]   run the server (default config: config/routr.yaml)', run: runStart },
  certs: { summary: 'certs dev [--out <dir>] [--host <name>...]       self-signed cert.pem and key.pem for local TLS/WSS (needs openssl)', run: runCerts },
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.summary}`);
  return `usage: routr <command> [options]\n\ncommands:\n${lines.join('\n')}\n\noptions:\n  -h, --help   show this help`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: a command is done when it says so, not when the last timer or socket lets go.
    process.exit(code);
  },
  (err: unknown) => {
    const isUsage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`routr: ${(err as Error).message}\n${isUsage ? usage() + '\n' : ''}`);
    process.exitCode = isUsage ? 2 : 1;
  },
);
