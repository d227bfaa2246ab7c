import pg from 'pg';
import type { OrmOptions } from '@alfabet/service-kit/orm';
import { warmReportSession } from './report-queries.sql.js';
import { microsOfDate } from '../reports/report-types.js';

/**
 * The connections whole-window listings of the transactions report read
 * through (ListTransactions without an account: its snapshot and its pages),
 * apart from the pool that posts money.
 *
 * Why a pool of its own: its sessions plan each prepared report statement once
 * and keep that plan (`plan_cache_mode = force_generic_plan`). Left to choose,
 * PostgreSQL re-plans a page for every execution: the generic plan, which
 * prunes the daily partitions only when it runs, looks costlier to the planner
 * than planning again with the window known. Planning a page over the hot and
 * the days-ahead partitions takes about a millisecond — longer than reading a
 * first page of 100 rows (1.5 ms a page against 0.5 ms; a stream of 1 000-row
 * pages 2.3–3.1 against 1.4–1.6 µs a row, read straight from PostgreSQL on the
 * benchmark's million-row ledger). The posting path keeps PostgreSQL's own
 * choice: forced generic plans made it no faster there (Transfer ×32 A/B, 4 rounds).
 *
 * A plan kept for hours must not depend on how full a partition was when it
 * was made (tomorrow's is empty now; it will hold a day of rows): these
 * sessions may not scan a partition whole or sort it (`enable_seqscan`,
 * `enable_sort` off), so every partition is read by an index walk, whatever
 * its size. One account's listings stay on the posting pool, planned at every
 * execution (an unnamed statement, and report_account_page()'s own
 * plan_cache_mode): their best index (the account's own, or the window's) does
 * depend on the partition's size, and a plan made for the bank fits no one else.
 *
 * JIT is off in these sessions: a plan kept for every window is costed over
 * the partitions it has not pruned yet, and once the day's partition held a
 * million rows that estimate passed jit_above_cost — PostgreSQL then compiled
 * the snapshot's statement at every execution, 113 ms of JIT for 7 ms of work
 * (docs/benchmarks.md, session 21; test/report-plan-cache.test.ts).
 *
 * It also keeps long listings off the posting path's connections: a quarter of
 * ACCOUNTS_DB_POOL_SIZE (at least 2), with the same statement timeout.
 */
export function openReportPool(options: OrmOptions, onIdleError: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: reportPoolSize(options.poolSize),
    // Its connections stay open once made (a handful). Closed after 10 s idle (pg's default), the first
    // listing after a pause paid 30-38 ms for a new session, its prepared statements and plans, where a
    // first page takes 4-5 ms under Transfer x8 (bench/report-under-load.mjs: "the one after a minute idle").
    idleTimeoutMillis: 0,
    statement_timeout: options.statementTimeoutMs,
    options: withSessionSettings(options.databaseUrl, REPORT_SESSION_SETTINGS),
  });
  // A connection that breaks while idle (the server restarted) is dropped by the pool; without a
  // listener its error would end the process.
  pool.on('error', onIdleError);
  return pool;
}

/**
 * Opens every connection of the report pool and runs a whole-window listing of the last `windowMs`
 * on each (report-queries.sql.ts, warmReportSession), before the service answers: its connections stay
 * open, so no listing pays for a new session — on the grown ledger a first page took p99 26 ms over
 * 200 listings where PostgreSQL alone took p50 9, the slowest of them each on a connection the pool had
 * just opened (docs/benchmarks.md, session 22). A connection opened later (after one broke) is not
 * warmed: its first listing pays once.
 */
export async function warmReportPool(pool: pg.Pool, windowMs: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: pool.options.max }, () => pool.connect()));
  const filter = { startUs: microsOfDate(new Date(Date.now() - windowMs)), endUs: null, accountId: null };
  const warmed = await Promise.allSettled(clients.map((client) => warmReportSession(client, filter)));
  warmed.forEach((outcome, i) => clients[i]!.release(outcome.status === 'rejected' ? outcome.reason : undefined));
  const failed = warmed.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/** How the report pool's sessions plan (see above). */
const REPORT_SESSION_SETTINGS =
  '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c enable_sort=off -c jit=off';

/** The report pool's size for a posting pool of `poolSize`. */
function reportPoolSize(poolSize: number): number {
  return Math.max(2, Math.ceil(poolSize / 4));
}

/** `settings` after whatever session options the database URL already names (`?options=…`). */
function withSessionSettings(databaseUrl: string, settings: string): string {
  const own = URL.canParse(databaseUrl) ? new URL(databaseUrl).searchParams.get('options') : null;
  return own ? `${own} ${settings}` : settings;
}
