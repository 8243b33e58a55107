/**
 * Start a real PostgreSQL for a test suite: initdb into a temp dir, pg_ctl start on a free port on loopback (its
 * Unix socket in the same temp dir), trust authentication for one user, stopped and removed after. Never the
 * server that may be running on 5432. PostgreSQL refuses to run as root, so as root it runs as the `postgres`
 * user (runuser), which must exist (Debian's postgresql package makes it).
 *
 * The binaries are found in PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian), else on PATH.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const POSTGRES_MISSING = 'PostgreSQL server binaries not found: install them (apt-get install -y postgresql) or set PG_BIN to the directory holding initdb and pg_ctl';

export interface PostgresHandle {
  host: string;
  port: number;
  user: string;
  database: string;
  /** postgres://user@127.0.0.1:port/database */
  url: string;
  stop(): Promise<void>;
}

function binDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean));
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error(POSTGRES_MISSING);
  return found;
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout: uid } = await run('id', ['-u', name]).catch(() => {
    throw new Error(`running as root, PostgreSQL needs a "${name}" user to run as (apt-get install -y postgresql makes one)`);
  });
  const { stdout: gid } = await run('id', ['-g', name]);
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgres(options: { database?: string } = {}): Promise<PostgresHandle> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'routr-pg-'));
  const data = join(dir, 'data');
  const root = userInfo().uid === 0;
  const asUser = async (command: string, args: string[]) => {
    const file = join(bin, command);
    return root ? run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: 60_000 }) : run(file, args, { timeout: 60_000 });
  };
  if (root) {
    const { uid, gid } = await userIds('postgres');
    chownSync(dir, uid, gid);
  }
  const port = await freePort('tcp');
  const user = 'routr';
  const database = options.database ?? 'routr';
  try {
    await asUser('initdb', ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8']);
    const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    await asUser('pg_ctl', ['-D', data, '-o', settings, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
    await asUser('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', user, database]);
  } catch (err) {
    await asUser('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}`);
  }
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    database,
    url: `postgres://${user}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await asUser('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
