// Benchmark: what archiving costs the writers. A day of `rows` transactions is
// seeded by SQL (generate_series into one daily partition 10 days old, bank
// credits with balances to match, so ledger:verify holds), then Transfer ×32
// runs through the RPC twice in the same run: once alone (the anchor), once
// while `transactions:archive` — the real command — moves that day to the
// archive schema. It reports Transfer throughput and p99 of the calls made
// while the command ran next to the anchor's, the command's duration and its
// locked part, and the longest lock wait a writer (a backend inside
// ledger_post) showed in pg_locks, sampled every 5 ms.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { forgetReportCounts } from '../accounts-manager/dist/src/db/report-counts.sql.js';
import { percentile, ratio, round } from './stats.mjs';
import { BANK_ACCOUNT_ID as BANK } from './accounts-runner.mjs';

const SEED_ACCOUNTS = 1_000;
const DAYS_AGO = 10;
const CALLERS = 32;
const LOCK_SAMPLE_MS = 5;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function archiveBenchmark({
  root,
  address,
  databaseUrl,
  accountsFile,
  work,
  rows,
  seconds,
  warmupMs,
  say,
}) {
  const loadBefore = loadavg();
  const seed = await seedDay(databaseUrl, rows);
  say(`archive: seeded ${rows.toLocaleString('en')} rows into ${seed.partition} in ${seed.seconds} s`);
  const load = { root, address, accountsFile, work, warmupMs };
  const aloneFor = () =>
    transferLoad(load, async () => {
      const from = Date.now();
      await sleep(seconds * 1000);
      return { window: [from, Date.now()] };
    });
  // The anchor runs before and after the move, so neither a cold start nor the machine's drift favours one side.
  const before = await aloneFor();
  const during = await transferLoad(load, async () => {
    await sleep(500);
    return archiveWatched({ root, databaseUrl, before: seed.next });
  });
  const after = await aloneFor();
  const moved = await movedRows(databaseUrl, seed.partition);
  const result = {
    rows,
    day: seed.day,
    seedSeconds: seed.seconds,
    callers: CALLERS,
    alone: windowStats([before, after]),
    duringMove: windowStats([during]),
    // The calls that overlapped the locked transaction: what writers queued behind it cost them.
    duringLock: windowStats([{ calls: during.calls, window: during.lockedWindow }]),
    move: during.move,
    lockWait: during.lockWait,
    movedEveryRow: moved === rows,
    loadAverage: { before: loadBefore.map((x) => round(x, 1)), after: loadavg().map((x) => round(x, 1)) },
  };
  result.p99Ratio = ratio(result.duringMove.p99Ms, result.alone.p99Ms);
  say(
    `archive: Transfer ×${CALLERS} during the move ${result.duringMove.rps}/s p99 ${result.duringMove.p99Ms} ms ` +
      `(alone ${result.alone.rps}/s p99 ${result.alone.p99Ms} ms); move ${result.move.seconds} s, locked ` +
      `${result.move.lockedMs} ms (calls overlapping it: max ${result.duringLock.maxMs} ms); longest writer lock wait ` +
      `${result.lockWait.longestMs} ms (pg_locks every ${result.lockWait.sampleEveryMs} ms); ${moved} rows archived`,
  );
  return result;
}

/** One day of bank credits to SEED_ACCOUNTS new accounts, loaded into a table of its own, then attached. */
async function seedDay(databaseUrl, rows) {
  const started = Date.now();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const {
      rows: [{ day, next }],
    } = await db.query(
      `SELECT to_char(d, 'YYYY-MM-DD') AS day, to_char(d + 1, 'YYYY-MM-DD') AS next
       FROM (SELECT (now() AT TIME ZONE 'UTC')::date - $1::int AS d) x`,
      [DAYS_AGO],
    );
    const partition = `transactions_p${day.replaceAll('-', '')}`;
    const from = `'${day} 00:00:00+00'`;
    await db.query('BEGIN');
    await db.query(`CREATE TEMP TABLE seed_accounts (n int PRIMARY KEY, account_id uuid NOT NULL) ON COMMIT DROP`);
    await db.query(`INSERT INTO seed_accounts SELECT n, gen_random_uuid() FROM generate_series(0, $1 - 1) n`, [
      SEED_ACCOUNTS,
    ]);
    await db.query(
      `INSERT INTO accounts (account_id, display_name) SELECT account_id, 'bench archive ' || n FROM seed_accounts`,
    );
    // Loaded before its indexes exist (much faster), then attached: ATTACH builds them.
    await db.query(`CREATE TABLE ${partition} (LIKE transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await db.query(
      `INSERT INTO ${partition} (transaction_id, create_time, kind, dst_account_id, amount, direction, description,
                                 status, failure_message, from_account_id, to_account_id)
       SELECT gen_random_uuid(), ${from}::timestamptz + make_interval(secs => i * 86399.0 / $1), 'bank', a.account_id,
              100, 'credit', 'bench archive seed', 'success', '', '${BANK}'::uuid, a.account_id
       FROM generate_series(0, $1 - 1) i JOIN seed_accounts a ON a.n = i % ${SEED_ACCOUNTS}`,
      [rows],
    );
    await db.query(
      `ALTER TABLE transactions ATTACH PARTITION ${partition} FOR VALUES FROM (${from}) TO ('${next} 00:00:00+00')`,
    );
    await db.query(`UPDATE accounts a SET balance = a.balance + s.total
                    FROM (SELECT to_account_id, sum(amount) AS total FROM ${partition} GROUP BY to_account_id) s
                    WHERE a.account_id = s.to_account_id`);
    await db.query(
      `UPDATE accounts SET balance = balance - (SELECT sum(amount) FROM ${partition}) WHERE account_id = $1`,
      [BANK],
    );
    await db.query('COMMIT');
    // History attached past the triggers: the minute counts are taken again (report-counts.sql.ts).
    await forgetReportCounts(db);
    await db.query(`ANALYZE ${partition}`);
    return { day, next, partition, seconds: round((Date.now() - started) / 1000, 1) };
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await db.end();
  }
}

/** Runs bench/archive-load.mjs; after its warm-up runs `body`, then lets it run 1 s more and stops it. */
async function transferLoad({ root, address, accountsFile, work, warmupMs }, body) {
  const specFile = join(work, 'archive-load.json');
  writeFileSync(specFile, JSON.stringify({ address, callers: CALLERS, warmupMs, maxMs: 600_000, accountsFile }));
  const child = spawn(process.execPath, [join(root, 'bench/archive-load.mjs'), specFile], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await sleep(warmupMs + 200);
  const during = await body();
  await sleep(1_000);
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`archive-load exited with ${code}`);
  const load = JSON.parse(stdout.trim().split('\n').pop());
  if (Object.keys(load.errors).length > 0) throw new Error(`Transfer errors: ${JSON.stringify(load.errors)}`);
  // Calls as absolute [start, end] times (ms since the epoch).
  const calls = load.calls.map(([start, latency]) => [load.startedAt + start, load.startedAt + start + latency]);
  return { ...during, calls };
}

/** The archive command on the seeded day, its steps timed, with writers' lock waits sampled meanwhile. */
async function archiveWatched({ root, databaseUrl, before }) {
  const watcher = await watchWriterLockWaits(databaseUrl);
  const started = Date.now();
  const steps = {};
  const child = spawn(
    process.execPath,
    [join(root, 'accounts-manager/dist/src/cli/transactions-archive.js'), `--before=${before}`],
    { cwd: root, env: { ...process.env, ACCOUNTS_DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let pending = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const step = /^step \S+ (\w+)$/.exec(line)?.[1];
      if (step) steps[step] ??= Date.now();
    }
  });
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  const ended = Date.now();
  const lockWait = await watcher.stop();
  if (code !== 0) throw new Error(`transactions:archive exited with ${code}:\n${output}`);
  return {
    window: [started, ended],
    lockedWindow: [steps.prepared, steps.committed],
    move: {
      seconds: round((ended - started) / 1000, 2),
      // From the start to `prepared`: node's start, the horizon, the CHECK constraint validated (no lock on writers).
      preparedSeconds: round((steps.prepared - started) / 1000, 2),
      // From `prepared` to `committed`: waiting for the lock, DETACH, SET SCHEMA, ATTACH, COMMIT.
      lockedMs: round(steps.committed - steps.prepared, 0),
    },
    lockWait,
  };
}

/** Samples pg_locks every LOCK_SAMPLE_MS for lock waits of backends inside ledger_post(); the longest seen. */
async function watchWriterLockWaits(databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  let running = true;
  const from = Date.now();
  const seen = { longestMs: 0, samples: 0, samplesWithWaiters: 0, mostWaiters: 0 };
  const loop = (async () => {
    while (running) {
      const {
        rows: [row],
      } = await db.query(`
        SELECT coalesce(max(extract(epoch FROM clock_timestamp() - l.waitstart)) * 1000, 0)::float8 AS longest,
               count(DISTINCT l.pid)::int AS waiters
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.query LIKE '%ledger_post(%'`);
      seen.samples += 1;
      if (row.waiters > 0) seen.samplesWithWaiters += 1;
      seen.mostWaiters = Math.max(seen.mostWaiters, row.waiters);
      seen.longestMs = Math.max(seen.longestMs, row.longest);
      await sleep(LOCK_SAMPLE_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await db.end();
      // A sample is a query: on a loaded machine they come further apart than LOCK_SAMPLE_MS.
      return {
        ...seen,
        longestMs: round(seen.longestMs, 1),
        sampleEveryMs: round((Date.now() - from) / seen.samples, 1),
      };
    },
  };
}

/**
 * Throughput and latency of the calls that overlap each run's `window`
 * ([from, to], ms since the epoch), over all the runs given.
 */
function windowStats(runs) {
  let seconds = 0;
  let completed = 0;
  const latencies = [];
  for (const {
    calls,
    window: [from, to],
  } of runs) {
    seconds += (to - from) / 1000;
    completed += calls.filter(([, end]) => end >= from && end <= to).length;
    for (const [start, end] of calls) if (start < to && end > from) latencies.push(end - start);
  }
  latencies.sort((a, b) => a - b);
  return {
    seconds: round(seconds, 2),
    calls: latencies.length,
    rps: round(completed / seconds, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.length ? latencies[latencies.length - 1] : null),
  };
}

async function movedRows(databaseUrl, partition) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query(
      `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1`,
      [partition],
    );
    if (rows[0]?.schema !== 'archive') return 0;
    return Number((await db.query(`SELECT count(*) AS n FROM archive.${partition}`)).rows[0].n);
  } finally {
    await db.end();
  }
}

/** The benchmark's row of the results table. */
export function archiveRow(row, a) {
  row(
    `Archive a day of ${a.rows.toLocaleString('en')} rows under Transfer ×${a.callers}`,
    `while it moved (${a.duringMove.seconds} s): ${a.duringMove.rps}/s, p99 ${a.duringMove.p99Ms} ms, max ${a.duringMove.maxMs} ms; ` +
      `command ${a.move.seconds} s (locked ${a.move.lockedMs} ms, calls overlapping it: max ${a.duringLock.maxMs} ms); ` +
      `longest writer lock wait in pg_locks ${a.lockWait.longestMs} ms (sampled every ${a.lockWait.sampleEveryMs} ms)`,
    `same load alone: ${a.alone.rps}/s, p99 ${a.alone.p99Ms} ms, max ${a.alone.maxMs} ms`,
    `p99 ${a.p99Ratio}×`,
    `all rows moved: ${a.movedEveryRow ? 'yes' : 'NO'}`,
  );
}
