import pg from 'pg';
import { randomInt } from 'node:crypto';
import { forgetReportCounts, maintainReportCounts, VACUUM_AFTER_DEAD_ROWS } from '../src/db/report-counts.sql.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { listFirst } from './support/report-client.js';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';

/**
 * Sealed minute counts (src/db/report-counts.sql.ts): a report's total_size
 * adds counts of finished minutes instead of counting every row. These tests
 * check the totals stay exact wherever a window starts and ends, that the
 * sealed counts are really what the total is made of, that a minute is not
 * sealed while a transaction that could still write into it is open, and that
 * ledger_post() stamps a row after its xid exists. In a database of its own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_counts`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROWS = 20_000;

let ledger: TestLedger;
let pool: pg.Pool;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  // FAILED transfers (they move no money) spread over the last three days, written as history.
  await pool.query(
    `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'counts ' || i FROM generate_series(1, 2) i`,
  );
  await pool.query(
    `
    WITH a AS (SELECT array_agg(account_id) AS ids FROM accounts WHERE NOT is_system)
    INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                              status, failure_reason, from_account_id, to_account_id)
    SELECT gen_random_uuid(), now() - (i * (3 * 86400.0 / $1)) * interval '1 second', 'transfer',
           a.ids[1], a.ids[2], 100, 'debit', 'failed', 'insufficient_funds', a.ids[1], a.ids[2]
    FROM generate_series(1, $1) i, a`,
    [ROWS],
  );
  await forgetReportCounts(pool);
}, 60_000);
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const oldest = () => new Date(Date.now() - 5 * DAY - HOUR);
const rowsIn = async (start: Date, end: Date | null) =>
  Number(
    (
      await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM transactions WHERE create_time >= $1 AND ($2::timestamptz IS NULL OR create_time < $2)',
        [start, end],
      )
    ).rows[0]!.n,
  );
const totalOf = async (start: Date, end: Date | null) =>
  Number(
    (
      await listFirst(
        ledger.client,
        { startTime: timestampOfDate(start), endTime: end ? timestampOfDate(end) : undefined, pageSize: 1 },
        1,
      )
    )[0]!.totalSize,
  );
/**
 * Runs the maintenance until `minutes` minutes are sealed. xids are cluster-wide:
 * a transaction open in another test's database holds the seal back (as it
 * must), so this waits rather than expecting the seal at once.
 */
async function sealUntil(minutes: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await maintainReportCounts(pool, oldest());
    if ((await sealedMinutes()) >= minutes) return;
    if (Date.now() > deadline) throw new Error(`fewer than ${minutes} minutes sealed after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const sealedMinutes = async () =>
  Number(
    (await pool.query<{ n: string }>('SELECT count(*) AS n FROM report_counts WHERE row_count IS NOT NULL')).rows[0]!.n,
  );

it('keeps totals exact for windows that start and end anywhere, and the total is made of the sealed counts', async () => {
  await sealUntil(3 * 24 * 60);
  // By the minute, what is left to the live counts is the 5-minute mark delay and a minute or so, not an hour.
  const {
    rows: [sealedTo],
  } = await pool.query<{ end: Date }>(
    "SELECT max(bucket_start) + interval '1 minute' AS end FROM report_counts WHERE row_count IS NOT NULL",
  );
  expect(Date.now() - sealedTo!.end.getTime()).toBeLessThan(7 * MINUTE);

  // Windows with edges at random milliseconds: partial minutes at both ends, sealed minutes between.
  for (let i = 0; i < 12; i++) {
    const start = new Date(Date.now() - randomInt(HOUR, 4 * DAY));
    const end = i % 3 === 0 ? null : new Date(start.getTime() + randomInt(1, 3 * DAY));
    expect({ start, end, total: await totalOf(start, end) }).toEqual({ start, end, total: await rowsIn(start, end) });
  }

  // Proof the sealed counts are used: a count changed by hand shows up in the total.
  const start = new Date(Date.now() - 2 * DAY);
  const {
    rows: [bucket],
  } = await pool.query<{ bucket_start: Date }>(
    'SELECT bucket_start FROM report_counts WHERE row_count IS NOT NULL AND bucket_start > $1 ORDER BY bucket_start LIMIT 1',
    [new Date(start.getTime() + HOUR)],
  );
  const exact = await totalOf(start, null);
  await pool.query('UPDATE report_counts SET row_count = row_count + 1000 WHERE bucket_start = $1', [
    bucket!.bucket_start,
  ]);
  expect(await totalOf(start, null)).toBe(exact + 1000);
  await pool.query('UPDATE report_counts SET row_count = row_count - 1000 WHERE bucket_start = $1', [
    bucket!.bucket_start,
  ]);
  expect(await totalOf(start, null)).toBe(exact);
  expect(exact).toBe(await rowsIn(start, null));
});

it('does not seal a minute while a transaction that already had its xid is still open', async () => {
  const open = await pool.connect();
  try {
    await open.query('BEGIN');
    await open.query('SELECT pg_current_xact_id()'); // holds an xid: it could still write a row stamped in a past minute
    await forgetReportCounts(pool);
    const first = await maintainReportCounts(pool, oldest());
    const second = await maintainReportCounts(pool, oldest());
    expect(first.marked).toBeGreaterThanOrEqual(3 * 24 * 60);
    expect(first.sealed + second.sealed).toBe(0);
    expect(await sealedMinutes()).toBe(0);
    await open.query('COMMIT');
  } finally {
    open.release();
  }
  await sealUntil(3 * 24 * 60);
  const start = new Date(Date.now() - 3 * DAY + 17_000);
  expect(await totalOf(start, null)).toBe(await rowsIn(start, null));
});

it('stamps a transaction with the time it was written, not the time its database transaction began', async () => {
  const api = ledgerApi(ledger.client);
  const payer = await api.fundedAccount(1_000n, 'stamp payer');
  const payee = await api.createAccount('stamp payee');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const began = (await client.query<{ began: Date }>('SELECT now() AS began')).rows[0]!.began;
    await client.query('SELECT pg_sleep(0.3)');
    const {
      rows: [row],
    } = await client.query<{ create_time: Date }>(
      `SELECT create_time FROM ledger_post(gen_random_uuid(), NULL, 'transfer', $1, $2, 5, 'debit', '', $1, $2)`,
      [payer, payee.accountId],
    );
    await client.query('COMMIT');
    expect(row!.create_time.getTime() - began.getTime()).toBeGreaterThanOrEqual(300);
  } finally {
    client.release();
  }
});

it('vacuums report_counts itself once sealing has left VACUUM_AFTER_DEAD_ROWS dead rows, whatever autovacuum does', async () => {
  const vacuums = async () =>
    Number(
      (
        await pool.query<{ n: string }>(
          `SELECT vacuum_count + autovacuum_count AS n FROM pg_stat_user_tables WHERE relid = 'report_counts'::regclass`,
        )
      ).rows[0]!.n,
    );
  await forgetReportCounts(pool); // 3 days of minutes marked again, then sealed: a dead row each
  await sealUntil(3 * 24 * 60);
  const before = await vacuums();
  // The statistics show the dead rows within a second or so; the run after that vacuums.
  const deadline = Date.now() + 30_000;
  let vacuumed = false;
  while (!vacuumed) {
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 500));
    vacuumed = (await maintainReportCounts(pool, oldest())).vacuumed;
  }
  expect(await vacuums()).toBeGreaterThan(before);
  // Then it stops: a run with fewer dead rows leaves the table alone (another vacuum or two may
  // come first, for dead rows whose statistics arrived after the vacuum).
  while ((await maintainReportCounts(pool, oldest())).vacuumed) {
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 1_200));
  }
  const dead = await pool.query<{ n: string }>(
    `SELECT n_dead_tup AS n FROM pg_stat_user_tables WHERE relid = 'report_counts'::regclass`,
  );
  expect(Number(dead.rows[0]!.n)).toBeLessThan(VACUUM_AFTER_DEAD_ROWS);
}, 60_000);
