import pg from 'pg';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { BinaryCopyOut } from '../src/db/binary-copy-out.sql.js';
import { pageCopy, REPORT_ROW_COLUMNS, rowsAfterCopy, type PagePosition } from '../src/db/report-queries.sql.js';
import { openReportPool } from '../src/db/report-pool.js';
import { microsOfDate, type ReportSnapshot } from '../src/reports/report-types.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { explainEveryStatement } from './support/auto-explain.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * The plan of a report page on a realistic table (300 000 transactions over
 * four days, analyzed): an ordered walk of the report index over the hot
 * partitions of the window only — no sort, no sequential scan, and the same
 * for every later page (keyset); the per-account indexes for one account. In a database of its own.
 *
 * Each plan is the one the service runs: the page's statement inside
 * report_page(), seen through auto_explain while the service's COPY of that
 * page runs. A whole-window listing runs on a session of the report's pool,
 * which plans it once for every window (a generic plan, db/report-pool.ts):
 * the partitions outside the window must be pruned when it runs, not when it
 * is planned, and the days ahead, empty when it was planned, are walked by an
 * index too. One account's listing is planned for its values, on the posting
 * pool.
 */
const DATABASE = `${TEST_DATABASES.accounts}_plan`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const DAY = 24 * 3600 * 1000;
const ROWS = 300_000;
const ACCOUNTS = 1000;

let ledger: TestLedger;
let pool: pg.Pool;
let reportPool: pg.Pool;
let snapshot: string;
let someAccount: string;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  reportPool = openReportPool({ databaseUrl: DATABASE_URL, poolSize: 4, statementTimeoutMs: 60_000 }, () => undefined);
  // FAILED transfers among 1000 accounts, one every ~1.15 s over the last four days.
  await pool.query(
    `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'plan ' || i FROM generate_series(1, $1) i`,
    [ACCOUNTS],
  );
  await pool.query(
    `
    WITH a AS (SELECT array_agg(account_id) AS ids FROM accounts WHERE NOT is_system)
    INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                              status, failure_reason, from_account_id, to_account_id)
    SELECT gen_random_uuid(), now() - (i * (4 * 86400.0 / $1)) * interval '1 second', 'transfer',
           a.ids[1 + i % $2], a.ids[1 + (i + 1) % $2], 100, 'debit', 'failed', 'insufficient_funds',
           a.ids[1 + i % $2], a.ids[1 + (i + 1) % $2]
    FROM generate_series(1, $1) i, a`,
    [ROWS, ACCOUNTS],
  );
  await forgetReportCounts(pool); // history written directly: its hour counts are taken again
  await pool.query('ANALYZE transactions');
  snapshot = (await pool.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;
  someAccount = (await pool.query<{ id: string }>('SELECT from_account_id AS id FROM transactions LIMIT 1')).rows[0]!
    .id;
}, 120_000);
afterAll(async () => {
  await reportPool.end();
  await pool.end();
  await ledger.stop();
});

/**
 * The plan PostgreSQL runs for the page's statement inside report_page() (or
 * report_account_page()), as auto_explain reports it to this session when the
 * service's own COPY of that page runs.
 */
async function planOf(
  report: Omit<ReportSnapshot, 'snapshot' | 'epoch' | 'cluster' | 'takenAtMs' | 'totalSize'>,
  position: PagePosition,
): Promise<string> {
  return planOfCopy(pageCopy(snapshotOf(report), position), report.filter.accountId ? pool : reportPool);
}

const snapshotOf = (report: Omit<ReportSnapshot, 'snapshot' | 'epoch' | 'cluster' | 'takenAtMs' | 'totalSize'>) =>
  ({ ...report, snapshot, epoch: 1, cluster: null, totalSize: 1000n, takenAtMs: Date.now() }) as ReportSnapshot;

/** The plan of the page statement `copy` runs, on a session of `sessions`. */
async function planOfCopy(copy: string, sessions: pg.Pool): Promise<string> {
  const client = await sessions.connect();
  let plans: string[] = [];
  try {
    ({ plans } = await explainEveryStatement(client));
    const read = new BinaryCopyOut(copy, REPORT_ROW_COLUMNS.length, () => undefined);
    client.query(read);
    await read.done;
  } finally {
    client.release(true); // auto_explain stays loaded in that session: it is not given back
  }
  const page = plans.filter((plan) => plan.includes('FROM transactions t'));
  expect(page).toHaveLength(1);
  return page[0]!;
}

/**
 * transactions_report_snapshot on each partition: PostgreSQL names a partition's index after its
 * columns, INCLUDE (xact_id, epoch) among them, cut to 63 characters.
 */
const REPORT_INDEX = /transactions_p\d{8}_create_time_transaction_id_xact_id_e_idx/;

const windowStart = () => microsOfDate(new Date(Date.now() - 2 * DAY));
const dayName = (daysAgo: number) =>
  `transactions_p${new Date(Date.now() - daysAgo * DAY).toISOString().slice(0, 10).replace(/-/g, '')}`;

function expectOrderedIndexWalk(plan: string, index: RegExp) {
  expect(plan).toMatch(index);
  // Planned once for every window ($1 stays a parameter), pruned to the window when it runs.
  expect(plan).toMatch(/create_time >= \$1/);
  expect(plan).toMatch(/Subplans Removed: [1-9]/);
  // The days ahead are empty now: still walked by the index (they fill up while the plan is kept).
  expect(plan).toContain(dayName(-2));
  expect(plan).not.toMatch(/Sort Key|Seq Scan/);
  // The window starts two days ago: the partitions of three and four days ago are never read.
  expect(plan).not.toContain(dayName(3));
  expect(plan).not.toContain(dayName(4));
}

it("walks the report index of the window's partitions, newest first, for the first page", async () => {
  const plan = await planOf(
    { filter: { startUs: windowStart(), endUs: null, accountId: null }, pageSize: 1000 },
    { offset: 0 },
  );
  expectOrderedIndexWalk(plan, new RegExp(`Index (Only )?Scan using ${REPORT_INDEX.source}`));
});

it('starts every later page at its cursor (keyset), not at an offset', async () => {
  const plan = await planOf(
    { filter: { startUs: windowStart(), endUs: null, accountId: null }, pageSize: 1000 },
    {
      after: {
        createTimeUs: microsOfDate(new Date(Date.now() - DAY)),
        transactionId: '80000000-0000-4000-8000-000000000000',
      },
    },
  );
  expectOrderedIndexWalk(plan, new RegExp(`Index (Only )?Scan using ${REPORT_INDEX.source}`));
  expect(plan).toMatch(/ROW\(create_time, transaction_id\) < ROW\(/);
});

it('reads many pages after a cursor as one statement planned for its window: the same ordered walk', async () => {
  const report = { filter: { startUs: windowStart(), endUs: null, accountId: null }, pageSize: 1000 };
  const cursor = {
    createTimeUs: microsOfDate(new Date(Date.now() - DAY)),
    transactionId: '80000000-0000-4000-8000-000000000000',
  };
  const plan = await planOfCopy(rowsAfterCopy(snapshotOf(report), cursor, 16_000), reportPool);
  // An index of (create_time, transaction_id) on each partition, the partitions read newest first.
  expect(plan).toMatch(
    new RegExp(`Index (Only )?Scan (Backward )?using (${REPORT_INDEX.source}|transactions_p\\d{8}_pkey)`),
  );
  expect(plan).toMatch(/Limit .*\n\s+->  (Merge )?Append/);
  expect(plan).toMatch(/ROW\(create_time, transaction_id\) < ROW\(/);
  expect(plan).not.toMatch(/Sort Key|Seq Scan/);
  // Planned with the window's values: the partitions before it are left out when it is planned.
  expect(plan).not.toContain(dayName(3));
  expect(plan).not.toContain(dayName(4));
  expect(plan).toContain(dayName(1));
});

it('uses the per-account indexes of both legs for one account, never a scan of the whole window', async () => {
  const plan = await planOf(
    { filter: { startUs: windowStart(), endUs: null, accountId: someAccount }, pageSize: 100 },
    { offset: 0 },
  );
  // Sorting the few hundred rows of one account is fine; reading everyone's rows is not.
  expect(plan).toMatch(/Index Scan (using|on) transactions_p\d{8}_from_account_id_create_time_transact\w*_idx/);
  expect(plan).toMatch(/Index Scan (using|on) transactions_p\d{8}_to_account_id_create_time_transacti\w*_idx/);
  expect(plan).not.toMatch(REPORT_INDEX);
  for (const line of plan.split('\n').filter((l) => l.includes('Seq Scan'))) {
    expect(line).toMatch(/rows=1 /); // only the empty partitions of days to come
  }
  expect(plan).not.toContain(dayName(3));
});
