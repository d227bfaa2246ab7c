// What several benchmarks do with an accounts-manager of their own: start it
// on a database (created and migrated by the service itself), fund accounts
// in it, and run the load process (bench/load.mjs) against it.
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { accountsManagerRuntime } from '../scripts/service-runtime.mjs';
import { healthCheck } from '../scripts/stack-health.mjs';
import { freePort } from './ports.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const run = promisify(execFile);
export const BANK_ACCOUNT_ID = '00000000-0000-7000-8000-000000000001';

/**
 * Starts accounts-manager (of `root`, default this checkout) on `databaseUrl`
 * with the services' runtime settings; its log lines go to a pipe that is
 * read and dropped, as a log shipper would. Resolves once it is healthy.
 */
export async function startAccountsManager({ databaseUrl, root = ROOT, env = {}, nodeArgs = [], onOutput }) {
  const address = `127.0.0.1:${await freePort()}`;
  // `env`'s own NODE_OPTIONS come after accounts-manager's settings, and win (scripts/service-runtime.mjs).
  const runtime = accountsManagerRuntime({
    ...process.env,
    ACCOUNTS_GRPC_ADDR: address,
    ACCOUNTS_DATABASE_URL: databaseUrl,
    ACCOUNTS_METRICS_ADDR: 'off',
    ...env,
  });
  const child = spawn(
    process.execPath,
    [...runtime.nodeArgs, ...nodeArgs, join(root, 'accounts-manager/dist/src/main.js')],
    { cwd: root, env: runtime.env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (onOutput) onOutput(child.stdout);
  else child.stdout.on('data', () => undefined);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 90_000;
  while (!(await healthCheck(address))) {
    if (child.exitCode !== null) throw new Error(`accounts-manager on ${databaseUrl} exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error(`accounts-manager on ${databaseUrl} was not ready within 90 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    address,
    child,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `count` new accounts, each credited 10 000.00 by the bank through ledger_post(); their ids. */
export async function fundedAccounts(databaseUrl, count, name = 'bench') {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query(
      `WITH created AS (
         INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), $2 || ' ' || n FROM generate_series(1, $1) n RETURNING account_id)
       SELECT account_id, (SELECT status FROM ledger_post(gen_random_uuid(), NULL, 'bank', NULL, account_id, 1000000, 'credit', 'bench funding',
                                                          '${BANK_ACCOUNT_ID}', account_id)) AS status
       FROM created`,
      [count, name],
    );
    return rows.map((row) => row.account_id);
  } finally {
    await db.end();
  }
}

/** Writes the accounts to a file the load process reads; returns its path. */
export function accountsFile(dir, name, accounts) {
  const file = join(dir, `accounts-${name}.json`);
  writeFileSync(file, JSON.stringify(accounts));
  return file;
}

/**
 * Runs bench/load.mjs with `spec` (see there: address, mode, callers, warmupMs,
 * durationMs, accountsFile, repeatRatio, cpu) and returns its result line.
 */
export async function runLoad(spec, dir) {
  const specFile = join(dir, `load-${spec.mode}-${spec.callers}-${Date.now()}.json`);
  writeFileSync(specFile, JSON.stringify({ repeatRatio: 0, ...spec }));
  const { stdout } = await run(process.execPath, [join(ROOT, 'bench/load.mjs'), specFile], {
    cwd: ROOT,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** The database name of a postgres:// URL. */
export const databaseOf = (databaseUrl) => new URL(databaseUrl).pathname.slice(1);

/** The URL of database `name` on this machine's PostgreSQL (127.0.0.1:5432, trust auth, user postgres). */
export const databaseUrlOf = (name) => `postgres://postgres@127.0.0.1:5432/${name}`;

/** Drops a database (and its connections), if it exists. */
export async function dropDatabase(name) {
  await run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
}
