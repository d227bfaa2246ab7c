import { Direction } from '@alfabet/proto/accounts/v1';
import { createDatabaseIfMissing } from '@alfabet/service-kit/postgres';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import { randomInt, randomUUID } from 'node:crypto';
import pg from 'pg';
import { callLedgerPostBatch } from '../src/db/ledger-post-batch.sql.js';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { openOrm } from '../src/db/orm.js';
import { verifyReportCounts } from '../src/db/report-counts-verify.sql.js';
import { forgetReportCounts, maintainReportCounts } from '../src/db/report-counts.sql.js';
import {
  compactLiveCounts,
  LIVE_VACUUM_AFTER_DEAD_ROWS,
  REPORT_COUNTS_LOCK_KEY,
} from '../src/db/report-live-counts.sql.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { idsOf, listAll, listFirst } from './support/report-client.js';

/**
 * Live counts (src/db/report-live-counts.sql.ts): the minutes not sealed yet
 * are counted by the transactions that write their rows, so a first page adds
 * them up instead of counting rows. These tests check that every listing's
 * total_size is still exactly the rows it streams while postings of every kind
 * commit, roll back and stay in flight across compactions; that the total is
 * really made of the live counts; that compactions take turns; that the table
 * is vacuumed; and that the migration starts the counts exact. In a database
 * of their own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_live_counts`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const DAY = 24 * 60 * 60_000;

let ledger: TestLedger;
let pool: pg.Pool;
let api: ReturnType<typeof ledgerApi>;
let accounts: string[];

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  api = ledgerApi(ledger.client);
  accounts = [];
  for (let i = 0; i < 12; i++) accounts.push(await api.fundedAccount(5_000n, `live ${i}`));
  await sealSomething();
}, 60_000);
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

/**
 * Live counts are used from the first sealed minute on. The ledger's maintenance seals the window's
 * empty minutes at start; xids are cluster-wide, so a transaction open in another test's database can
 * hold that back a while (as it must): wait for it.
 */
async function sealSomething(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await maintainReportCounts(pool, new Date(Date.now() - 5 * DAY - 3_600_000));
    const { rows } = await pool.query<{ n: string }>('SELECT count(row_count) AS n FROM report_counts');
    if (Number(rows[0]!.n) > 0) return;
    if (Date.now() > deadline) throw new Error('no minute sealed after 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A whole listing: its total_size and the rows it streamed. */
async function listing(endTime?: Date): Promise<{ total: number; streamed: number }> {
  const pages = await listAll(ledger.client, {
    pageSize: 1_000,
    endTime: endTime ? timestampOfDate(endTime) : undefined,
  });
  return { total: Number(pages[0]!.totalSize), streamed: idsOf(pages).length };
}
const totalNow = async () => Number((await listFirst(ledger.client, { pageSize: 1 }, 1))[0]!.totalSize);
const pick = <T>(items: T[]) => items[randomInt(items.length)]!;

/** One random posting through the API: a transfer (some fail, some name no payee), a batch (either mode) or a bank transaction. */
async function postSomething(): Promise<void> {
  const [src, dst] = [pick(accounts), pick(accounts)];
  const amount = BigInt(randomInt(1, 400));
  const kind = randomInt(10);
  if (kind < 4) {
    if (src !== dst) await api.transfer({ srcAccountId: src, dstAccountId: dst, amount });
  } else if (kind < 5) {
    // No such payee: NOT_FOUND. Grouped with others, its provisional row is inserted, then deleted.
    await api.transfer({ srcAccountId: src, dstAccountId: randomUUID(), amount }).catch(() => undefined);
  } else if (kind < 8) {
    const transfers = Array.from({ length: randomInt(2, 20) }, () => {
      const from = pick(accounts);
      return { srcAccountId: from, dstAccountId: pick(accounts.filter((a) => a !== from)), amount };
    });
    // An atomic batch with a failing item is refused whole; that stores nothing, which is fine here.
    await api.batchTransfer({ atomic: randomInt(2) === 0, transfers }).catch(() => undefined);
  } else {
    const direction = randomInt(2) === 0 ? Direction.DIRECTION_CREDIT : Direction.DIRECTION_DEBIT;
    await api.bankTransaction({ dstAccountId: dst, amount, direction, requestId: randomUUID() });
  }
}

/** Postings straight through ledger_post() in a transaction held open a while, then committed or rolled back. */
async function postInFlight(): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Always the same two accounts: each statement locks both in the same order, so two of these never deadlock.
    for (let i = randomInt(1, 4); i > 0; i--) {
      const [src, dst] = randomInt(2) === 0 ? [accounts[0], accounts[1]] : [accounts[1], accounts[0]];
      await client.query(
        `SELECT 1 FROM ledger_post(gen_random_uuid(), NULL, 'transfer', $1, $2, $3, 'debit', '', $1, $2, '')`,
        [src, dst, randomInt(1, 10_000)],
      );
    }
    await new Promise((resolve) => setTimeout(resolve, randomInt(0, 400)));
    await client.query(randomInt(3) === 0 ? 'ROLLBACK' : 'COMMIT');
  } finally {
    client.release();
  }
}

/**
 * A compaction by this test, not skipped: the service's own (once a second) may hold the turn, and it
 * may have taken its snapshot just before this test's last posting committed — leaving that posting's
 * live count beside the folded row of its minute. Tried again until this one runs.
 */
async function compactNow() {
  for (;;) {
    const compaction = await compactLiveCounts(pool);
    if (compaction) return compaction;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `step` over and over until `until`. */
async function repeat(until: number, step: () => Promise<unknown>): Promise<void> {
  while (Date.now() < until) await step();
}

it('keeps every total exact while postings commit, roll back and stay in flight across compactions', async () => {
  const until = Date.now() + 6_000;
  let folded = 0;
  let listings = 0;
  const mismatches: unknown[] = [];
  await Promise.all([
    ...Array.from({ length: 4 }, () => repeat(until, postSomething)),
    ...Array.from({ length: 2 }, () => repeat(until, postInFlight)),
    // Compactions far more often than the service's one a second, to cut between as many postings as possible.
    repeat(until, async () => {
      folded += (await compactLiveCounts(pool))?.folded ?? 0;
      await new Promise((resolve) => setTimeout(resolve, randomInt(0, 30)));
    }),
    repeat(until, async () => {
      // Every listing, and one that ends a moment ago: a partial minute at its end is counted row by row.
      const end = randomInt(2) === 0 ? undefined : new Date(Date.now() - randomInt(0, 2_000));
      const { total, streamed } = await listing(end);
      listings++;
      if (total !== streamed) mismatches.push({ end, total, streamed });
    }),
  ]);
  expect(mismatches).toEqual([]);
  expect(listings).toBeGreaterThan(5);
  expect(folded).toBeGreaterThan(0);
  expect(await verifyReportCounts(pool)).toMatchObject({ miscounted: [] });
  expect(await verifyLedger(pool)).toMatchObject({ ok: true });
}, 60_000);

it('adds up the live counts for minutes not sealed, and forgetReportCounts() counts them again', async () => {
  await postSomething();
  await compactNow();
  const exact = await totalNow();
  const { rows } = await pool.query<{ bucket_start: Date }>(
    'SELECT max(bucket_start) AS bucket_start FROM report_live_counts',
  );
  const minute = rows[0]!.bucket_start;
  // A live count changed by hand shows in the total: the minute is not counted row by row. (One row of
  // the minute's: it has one now, folded, but the change must not depend on that.)
  await pool.query(
    `UPDATE report_live_counts SET row_count = row_count + 1000
      WHERE ctid = (SELECT ctid FROM report_live_counts WHERE bucket_start = $1 LIMIT 1)`,
    [minute],
  );
  expect(await totalNow()).toBe(exact + 1000);
  const verified = await verifyReportCounts(pool);
  expect(verified.miscounted).toEqual([{ bucketStart: minute, rows: expect.any(BigInt), counted: expect.any(BigInt) }]);
  expect(verified.miscounted[0]!.counted - verified.miscounted[0]!.rows).toBe(1000n);

  await forgetReportCounts(pool);
  expect(await totalNow()).toBe(exact);
  await sealSomething();
  expect(await totalNow()).toBe(exact);
  expect(await verifyReportCounts(pool)).toMatchObject({ miscounted: [] });
});

it('leaves a posting in flight out of every listing and every compaction until it commits', async () => {
  await compactNow();
  const before = await totalNow();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (let i = 0; i < 3; i++)
      await client.query(
        `SELECT 1 FROM ledger_post(gen_random_uuid(), NULL, 'transfer', $1, $2, 100000, 'debit', '', $1, $2, '')`,
        [accounts[0], accounts[1]],
      );
    await compactNow(); // a compaction runs while the posting is in flight
    expect(await totalNow()).toBe(before);
    // Its own live count is still there, not folded: the compaction could not see it.
    const own = await client.query<{ n: string }>(
      'SELECT row_count AS n FROM report_live_counts WHERE xact_id = pg_current_xact_id()',
    );
    expect(own.rows).toEqual([{ n: '3' }]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  expect(await totalNow()).toBe(before + 3);
  await compactNow();
  expect(await totalNow()).toBe(before + 3);
});

it('counts a minute sealed while its live counts are still there once, by its sealed count', async () => {
  const minute = new Date(Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000);
  const rowsNow = async () =>
    Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM transactions')).rows[0]!.n);
  const holder = await pool.connect(); // holds every compaction off, the service's included
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [REPORT_COUNTS_LOCK_KEY]);
    // The service sealed that minute empty at start: its mark goes, then rows are inserted into it
    // (the trigger counts them live) and it is marked and sealed again before any compaction runs.
    await pool.query('DELETE FROM report_counts WHERE bucket_start = $1', [minute]);
    await pool.query(
      `INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                                 status, failure_reason, from_account_id, to_account_id)
       SELECT gen_random_uuid(), $1::timestamptz + i * interval '1 second', 'transfer', $2, $3, 100, 'debit',
              'failed', 'insufficient_funds', $2, $3
       FROM generate_series(0, 29) i`,
      [minute, accounts[0], accounts[1]],
    );
    expect(await totalNow()).toBe(await rowsNow());
    for (let sealed = false; !sealed; ) {
      await maintainReportCounts(pool, new Date(Date.now() - 5 * DAY - 3_600_000));
      const { rows } = await pool.query('SELECT 1 FROM report_counts WHERE bucket_start = $1 AND row_count = 30', [
        minute,
      ]);
      sealed = rows.length === 1;
    }
    const live = await pool.query<{ n: string }>(
      'SELECT sum(row_count) AS n FROM report_live_counts WHERE bucket_start = $1',
      [minute],
    );
    expect(live.rows[0]!.n).toBe('30');
    expect(await totalNow()).toBe(await rowsNow());
    expect(await verifyReportCounts(pool)).toMatchObject({ miscounted: [] });
    await holder.query('COMMIT');
  } finally {
    holder.release();
  }
  await compactNow();
  const left = await pool.query('SELECT 1 FROM report_live_counts WHERE bucket_start = $1', [minute]);
  expect(left.rows).toEqual([]);
  expect(await totalNow()).toBe(await rowsNow());
}, 40_000);

it('uncounts the row of a grouped transfer that names no account (its provisional row is deleted)', async () => {
  // The group commit's lenient ledger_post_batch(): every new item's row is inserted before the accounts are
  // locked, and an item whose account does not exist lets its row go again, in the same transaction.
  const before = await totalNow();
  const item = (dst: string) => ({
    requestId: randomUUID(),
    srcAccountId: accounts[2]!,
    dstAccountId: dst,
    amountMinor: 1n,
    direction: 'debit' as const,
    fromAccountId: accounts[2]!,
    toAccountId: dst,
    initiatedBy: '',
  });
  const outcomes = await callLedgerPostBatch(pool, {
    requestId: null,
    atomic: false,
    lenient: true,
    items: [item(accounts[3]!), item(randomUUID()), item(accounts[4]!)],
  });
  expect(outcomes.map((o) => o.outcome)).toEqual(['posted', 'not_found', 'posted']);
  expect(await totalNow()).toBe(before + 2);
  expect(await verifyReportCounts(pool)).toMatchObject({ miscounted: [] });
  await compactNow();
  expect(await totalNow()).toBe(before + 2);
});

it('folds to one row per minute, drops sealed minutes, and lets one compaction run at a time', async () => {
  const holder = await pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [REPORT_COUNTS_LOCK_KEY]);
    expect(await compactLiveCounts(pool)).toBeNull();
    await holder.query('COMMIT');
  } finally {
    holder.release();
  }
  // Nothing else posts now: after a compaction each minute has one row, none of them sealed.
  expect(await compactLiveCounts(pool)).not.toBeNull();
  const { rows } = await pool.query<{ rows: string; minutes: string; sealed: string }>(`
    SELECT count(*) AS rows, count(DISTINCT bucket_start) AS minutes,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM report_counts c
                                          WHERE c.bucket_start = l.bucket_start AND c.row_count IS NOT NULL)) AS sealed
    FROM report_live_counts l`);
  expect(rows[0]!.rows).toBe(rows[0]!.minutes);
  expect(rows[0]!.sealed).toBe('0');
});

it('vacuums report_live_counts once compaction has left LIVE_VACUUM_AFTER_DEAD_ROWS dead rows', async () => {
  // Rows of count 0 change no total: written by hand, folded by the compaction, dead rows after it.
  await pool.query(
    `INSERT INTO report_live_counts (bucket_start, xact_id, row_count)
     SELECT date_trunc('minute', now()), (1000000000 + i)::text::xid8, 0 FROM generate_series(1, $1) i`,
    [LIVE_VACUUM_AFTER_DEAD_ROWS],
  );
  const deadline = Date.now() + 30_000;
  let vacuumed = false;
  while (!vacuumed) {
    expect(Date.now()).toBeLessThan(deadline);
    vacuumed = (await compactLiveCounts(pool))?.vacuumed ?? false;
    if (!vacuumed) await new Promise((resolve) => setTimeout(resolve, 300));
  }
  expect(await verifyReportCounts(pool)).toMatchObject({ miscounted: [] });
}, 40_000);

it('starts exact: the migration counts every minute without a sealed count', async () => {
  const name = `${TEST_DATABASES.accounts}_live_counts_migration`;
  const url = testDatabaseUrl(name);
  await dropTestDatabase(name);
  await createDatabaseIfMissing(url);
  const orm = await openOrm({ databaseUrl: url, poolSize: 2, statementTimeoutMs: 10_000 });
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await orm.migrator.up({ to: 'Migration20261212000000_report_pages_binary' });
    await db.query(`SELECT ensure_transaction_partitions(current_date - 1, current_date + 1)`);
    await db.query(
      `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'm ' || i FROM generate_series(1, 2) i`,
    );
    // FAILED rows over the last three hours (no money moves), then the previous release's marks and seals.
    await db.query(`
      WITH a AS (SELECT array_agg(account_id) AS ids FROM accounts WHERE NOT is_system)
      INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                                status, failure_reason, from_account_id, to_account_id)
      SELECT gen_random_uuid(), now() - i * interval '5 seconds', 'transfer', a.ids[1], a.ids[2], 100, 'debit',
             'failed', 'insufficient_funds', a.ids[1], a.ids[2]
      FROM generate_series(0, 2159) i, a`);
    await db.query(`
      INSERT INTO report_counts (bucket_start, xid_mark, marked_at)
      SELECT bucket, pg_current_xact_id(), clock_timestamp()
      FROM generate_series(date_trunc('minute', now() - interval '4 hours'), now() - interval '1 hour', interval '1 minute') bucket`);
    await db.query(`
      UPDATE report_counts c SET row_count = (SELECT count(*) FROM transactions t
        WHERE t.create_time >= c.bucket_start AND t.create_time < c.bucket_start + interval '1 minute'), sealed_at = now()`);

    await orm.migrator.up();

    const verified = await verifyReportCounts(db);
    expect(verified.miscounted).toEqual([]);
    expect(verified.minutesChecked).toBeGreaterThan(200);
    // The last hour had no sealed count: its rows are now in live counts, one row per minute.
    const { rows } = await db.query<{ live: string; rows: string }>(`
      SELECT (SELECT sum(row_count) FROM report_live_counts) AS live,
             (SELECT count(*) FROM transactions t WHERE NOT EXISTS (
                SELECT 1 FROM report_counts c WHERE c.row_count IS NOT NULL
                  AND t.create_time >= c.bucket_start AND t.create_time < c.bucket_start + interval '1 minute')) AS rows`);
    expect(Number(rows[0]!.live)).toBeGreaterThan(600);
    expect(rows[0]!.live).toBe(rows[0]!.rows);
  } finally {
    await db.end();
    await orm.close(true);
    await dropTestDatabase(name);
  }
});
