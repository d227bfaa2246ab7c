import pg from 'pg';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { readPage, takeSnapshot } from '../src/db/report-queries.sql.js';
import { openReportPool } from '../src/db/report-pool.js';
import { microsOfDate, type ReportFilter, type ReportSnapshot } from '../src/reports/report-types.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { explainEveryStatement } from './support/auto-explain.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * What PostgreSQL's plan cache does to the report's statements over a
 * session's life, on a ledger where one account holds most rows (as the bank
 * does). Seen on the benchmark's grown ledger (5.6 M rows in the window, the
 * bank's among them; docs/benchmarks.md, session 21):
 *
 * - one account's listing: after five listings of the bank on a posting
 *   connection, PostgreSQL judged its generic plan cheaper than the bank's
 *   custom plans and kept it for every account on that connection — a walk of
 *   the whole window filtered by account, 1.4 s for the snapshot and 1.35 s a
 *   page of an account with 5 000 rows, where its own plan takes 7 ms and 3 ms;
 * - the whole window's snapshot, planned once for every window on the report
 *   pool (db/report-pool.ts): its estimate over partitions not pruned yet grew
 *   past jit_above_cost as the day's partition filled, and PostgreSQL compiled
 *   it to machine code at every execution — 113 ms of JIT for 7 ms of work.
 *
 * The plans are the ones the service runs, seen through auto_explain on the
 * session that runs them. In a database of its own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_plan_cache`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const DAY = 24 * 3600 * 1000;
const ACCOUNTS = 200;
const ROWS = 80_000;

let ledger: TestLedger;
let setup: pg.Pool;
let bigAccount: string;
let smallAccount: string;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  setup = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  await setup.query(
    `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'cache ' || i FROM generate_series(1, $1) i`,
    [ACCOUNTS],
  );
  // FAILED transfers over the last two days, three in four from one account, the rest among the others.
  await setup.query(
    `
    WITH a AS (SELECT array_agg(account_id ORDER BY account_id) AS ids FROM accounts WHERE NOT is_system)
    INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                              status, failure_reason, from_account_id, to_account_id)
    SELECT gen_random_uuid(), now() - (i * (2 * 86400.0 / $1)) * interval '1 second', 'transfer',
           src, dst, 100, 'debit', 'failed', 'insufficient_funds', src, dst
    FROM generate_series(1, $1) i, a,
         LATERAL (SELECT CASE WHEN i % 4 = 0 THEN a.ids[2 + i % ($2 - 1)] ELSE a.ids[1] END AS src,
                         a.ids[2 + (i + 1) % ($2 - 1)] AS dst) pair`,
    [ROWS, ACCOUNTS],
  );
  await forgetReportCounts(setup); // history written directly: its hour counts are taken again
  await setup.query('ANALYZE transactions');
  const counts = await setup.query<{ id: string; n: string }>(
    'SELECT from_account_id AS id, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 2 DESC',
  );
  bigAccount = counts.rows[0]!.id;
  smallAccount = counts.rows.at(-1)!.id;
}, 120_000);
afterAll(async () => {
  await setup.end();
  await ledger.stop();
});

const filterOf = (accountId: string | null): ReportFilter => ({
  startUs: microsOfDate(new Date(Date.now() - 3 * DAY)),
  endUs: null,
  accountId,
});

/** A listing's first page as the service reads it: its snapshot (and count), then its first page of 100. */
async function firstPage(pool: pg.Pool, accountId: string | null): Promise<void> {
  const filter = filterOf(accountId);
  const taken = await takeSnapshot(pool, filter);
  if (!taken) throw new Error(`no account ${accountId}`);
  const snapshot: ReportSnapshot = { filter, pageSize: 100, takenAtMs: Date.now(), ...taken };
  await readPage(pool, snapshot, { offset: 0 }, () => undefined);
}

/** The plans auto_explain reports for the statements `run` sends on `pool`'s one session (its own statements included). */
async function plansOn(pool: pg.Pool, settings: string, run: () => Promise<void>): Promise<string[]> {
  const client = await pool.connect();
  let explained: Awaited<ReturnType<typeof explainEveryStatement>>;
  try {
    explained = await explainEveryStatement(client, settings);
  } finally {
    client.release(); // the pool has this one session: `run` runs on it, auto_explain loaded
  }
  try {
    await run();
  } finally {
    explained.stop();
  }
  return explained.plans;
}

/** An auto_explain report without its query text (which names the statement's parameters): the plan's nodes. */
const planNodes = (explained: string) => explained.slice(explained.search(/^.*\(cost=/m));

/** A pool of one session: every statement of a test runs on the same connection, as on a long-lived one. */
const oneSession = () => new pg.Pool({ connectionString: DATABASE_URL, max: 1 });

it("plans one account's listing for that account, even after a connection listed an account that holds most rows", async () => {
  const posting = oneSession(); // the posting pool's sessions: PostgreSQL's own plan_cache_mode
  try {
    // Five listings of the big account: five custom plans, each costly.
    for (let i = 0; i < 5; i++) await firstPage(posting, bigAccount);
    const plans = await plansOn(posting, '', () => firstPage(posting, smallAccount));
    const snapshotPlan = plans.find((plan) => plan.includes('account_found'));
    const pagePlan = plans.find((plan) => plan.includes('FROM transactions t') && plan.includes('p_account'));
    for (const explained of [snapshotPlan, pagePlan]) {
      expect(explained).toBeDefined();
      const plan = planNodes(explained!);
      // Planned with the account's id (a custom plan), not a parameter kept for every account (the generic one).
      expect(plan).toContain(`'${smallAccount}'::uuid`);
      expect(plan).toMatch(/Index (Only )?Scan (using|on) transactions_p\d{8}_(from|to)_account_id/);
      expect(plan).not.toMatch(/(from|to)_account_id = \$\d/);
    }
  } finally {
    await posting.end();
  }
});

it('never compiles the whole window’s snapshot or pages with JIT, even when every statement is costly enough for it', async () => {
  const reportPool = openReportPool({ databaseUrl: DATABASE_URL, poolSize: 1, statementTimeoutMs: 60_000 }, () => {});
  const plain = oneSession();
  try {
    // jit_above_cost = 0: any statement is "costly enough"; the report pool's sessions must still not compile.
    const report = await plansOn(reportPool, 'SET jit_above_cost = 0', () => firstPage(reportPool, null));
    expect(report.some((plan) => plan.includes('account_found'))).toBe(true);
    for (const plan of report) expect(plan).not.toContain('JIT:');
    // Where PostgreSQL has JIT (llvmjit), the same snapshot on a session with its defaults is compiled:
    // the check above sees JIT when it happens.
    const { rows } = await plain.query<{ available: boolean }>('SELECT pg_jit_available() AS available');
    if (rows[0]!.available) {
      const compiled = await plansOn(plain, 'SET jit_above_cost = 0', () => firstPage(plain, null));
      expect(compiled.find((plan) => plan.includes('account_found'))).toContain('JIT:');
    }
  } finally {
    await reportPool.end();
    await plain.end();
  }
});
