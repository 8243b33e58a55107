/**
 * The `routr` command line. Exit codes: 0 success, 1 failure (invalid config, cannot start), 2 usage error.
 * Subcommands live in their own modules; this file only dispatches.
 */
import { parseArgs } from 'node:util';
import { runStart } from './start.js';
import { UsageError } from './usage.js';

const USAGE = `usage: routr <command> [options]

commands:
  start [--config <file>] [--role all|edge|host]   run the server (default config: config/routr.yaml)

options:
  -h, --help   show this help`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  switch (command) {
    case 'start': {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, role: { type: 'string', default: 'all' } },
        strict: true,
      });
      return runStart({ config: values.config, role: values.role });
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: a command is done when it says so, not when the last timer or socket lets go.
    process.exit(code);
  },
  (err: unknown) => {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`routr: ${(err as Error).message}\n${usage ? USAGE + '\n' : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
