import { spawn } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';

/**
 * Runs a PostgreSQL client program (pg_dump, pg_restore) from PATH against a
 * database URL. The password, if the URL has one, goes in PGPASSWORD, never on
 * the command line (where `ps` would show it). Resolves when the program exits
 * 0; rejects naming it and its exit code otherwise (its own stderr is shown).
 */
export function runPgTool(program: 'pg_dump' | 'pg_restore', databaseUrl: string, args: string[]): Promise<void> {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}) };
  return new Promise((resolvePromise, reject) => {
    const child = spawn(program, [...args, `--dbname=${url.toString()}`], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', (error) =>
      reject(new Error(`${program} could not start (${error.message}): install the PostgreSQL client tools`)),
    );
    child.once('exit', (code, signal) =>
      code === 0 ? resolvePromise() : reject(new Error(`${program} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

/** A path given on the command line, read from where `npm run` was called (npm runs a workspace's script in its folder). */
export function pathFromCaller(path: string): string {
  return isAbsolute(path) ? path : resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/** The database a URL names, for messages (never the URL itself: it may hold a password). */
export const databaseNameOf = (databaseUrl: string) => decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
