import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL server of a test's own (initdb into a temporary folder, on a
 * free port), for tests that restart or kill the database: the shared server
 * on 5432 serves every other test at the same time and must stay up. Uses the
 * server binaries of the installed PostgreSQL; as root they run as `postgres`.
 */
export interface PrivatePostgres {
  url(database: string): string;
  restart(): void;
  stop(): void;
}

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  const newest = versions.sort((a, b) => Number(a) - Number(b)).pop();
  if (!newest)
    throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (scripts/toolchain.sh installs them)');
  return `/usr/lib/postgresql/${newest}/bin`;
}

/** `settings`: extra server settings (`name=value`), e.g. ones only a server start can change. */
export function startPrivatePostgres(port: number, settings: string[] = []): PrivatePostgres {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'alfabet-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (command: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : join(bin, command),
      asRoot ? ['-u', 'postgres', '--', join(bin, command), ...args] : args,
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = [
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
    ...settings.map((setting) => `-c ${setting}`),
  ].join(' ');
  const pgCtl = (...args: string[]) =>
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', ...args]);
  pgCtl('start');
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      pgCtl('stop', '-m', 'immediate');
    } catch {
      /* already down */
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  return {
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    restart: () => pgCtl('restart', '-m', 'fast'),
    stop,
  };
}
