import pg from 'pg';
import { BinaryCopyOut } from '../src/db/binary-copy-out.sql.js';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { openReportPool } from '../src/db/report-pool.js';
import { readPage, takeSnapshot, type PagePosition } from '../src/db/report-queries.sql.js';
import { READ_BYTES_MAX, READ_ROWS_MAX, ReportPageReader } from '../src/grpc/report-page-reader.js';
import { ReportPageWriter } from '../src/grpc/report-page-wire.js';
import { microsOfDate, totalPagesOf, type ReportFilter, type ReportSnapshot } from '../src/reports/report-types.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { prng } from './support/prng.js';

/**
 * ReportPageReader (src/grpc/report-page-reader.ts) reads a listing's pages
 * ahead of the stream, many pages a statement. Held here to the reference it
 * replaced — one report_page() call a page, whose pages report-page-wire.test.ts
 * holds to the generated encoder — byte for byte, over every page size and
 * starting point, with rows committed after the snapshot in the window; and to
 * its bounds: how far ahead it reads (rows, bytes, a slow stream), that a
 * stream which stops leaves no connection behind, and that failures reach the
 * stream. In a database of its own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_reader`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Rows of the main window, the last two days: four rows share each create_time (the order falls back to the id). */
const ROWS = 3_000;
/** Rows of a window of their own, a little over two days ago: enough for reads of READ_ROWS_MAX. */
const LONG_ROWS = 40_000;
/** Rows of a window of their own, three days ago, each with a 500-character description. */
const HEAVY_ROWS = 12_000;

let ledger: TestLedger;
let pool: pg.Pool;
let reportPool: pg.Pool;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  reportPool = openReportPool({ databaseUrl: DATABASE_URL, poolSize: 8, statementTimeoutMs: 60_000 }, () => undefined);
  await pool.query(
    `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'reader ' || i FROM generate_series(1, 20) i`,
  );
  await seed(ROWS, `now() - (i / 4) * interval '200 seconds'`, "'row ' || i");
  await seed(LONG_ROWS, `now() - interval '49 hours' - i * interval '500 milliseconds'`, "'long ' || i");
  await seed(HEAVY_ROWS, `now() - interval '3 days' - i * interval '1 second'`, `repeat('é', 500)`);
  await forgetReportCounts(pool); // history written directly: its minute counts are taken again
}, 120_000);

afterAll(async () => {
  await reportPool?.end();
  await pool?.end();
  await ledger?.stop();
});

async function seed(rows: number, createTime: string, description: string): Promise<void> {
  await pool.query(
    `WITH a AS (SELECT array_agg(account_id) AS ids FROM accounts WHERE NOT is_system)
     INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                               description, status, failure_reason, from_account_id, to_account_id)
     SELECT gen_random_uuid(), ${createTime}, 'transfer', a.ids[1 + i % 20], a.ids[1 + (i + 1) % 20], i, 'debit',
            ${description}, 'failed', 'insufficient_funds', a.ids[1 + i % 20], a.ids[1 + (i + 1) % 20]
     FROM generate_series(1, $1) i, a`,
    [rows],
  );
}

const LAST_TWO_DAYS: ReportFilter = {
  startUs: microsOfDate(new Date(Date.now() - 2 * DAY)),
  endUs: null,
  accountId: null,
};
const LONG_WINDOW = (): ReportFilter => ({
  startUs: microsOfDate(new Date(Date.now() - 2.4 * DAY)),
  endUs: microsOfDate(new Date(Date.now() - 2 * DAY)),
  accountId: null,
});
const HEAVY_WINDOW = (): ReportFilter => ({
  startUs: microsOfDate(new Date(Date.now() - 4 * DAY)),
  endUs: microsOfDate(new Date(Date.now() - 2.5 * DAY)),
  accountId: null,
});

/** The page's own fields, the same for every page compared: only its transactions differ. */
const PAGE_FIELDS = { page: 1, pageSize: 1, totalSize: 0n, totalPages: 1, snapshotToken: '', nextPageToken: '' };

async function snapshotOf(filter: ReportFilter, pageSize: number): Promise<ReportSnapshot> {
  const taken = await takeSnapshot(filter.accountId ? pool : reportPool, filter);
  return { filter, pageSize, takenAtMs: Date.now(), ...taken! };
}

/** The reference: one report_page() call a page, each from the last row of the one before. */
async function pagesOneByOne(snapshot: ReportSnapshot, firstPage: number): Promise<Buffer[]> {
  const pages: Buffer[] = [];
  let position: PagePosition = { offset: (firstPage - 1) * snapshot.pageSize };
  for (;;) {
    const writer = new ReportPageWriter();
    await readPage(reportPool, snapshot, position, (row) => writer.add(row));
    if (writer.rows === 0) break;
    pages.push(writer.finish(PAGE_FIELDS));
    if (writer.rows < snapshot.pageSize) break;
    position = { after: writer.lastRow()! };
  }
  return pages;
}

/** Every page a reader gives for the listing, as the stream asks for them (until its last page). */
async function pagesRead(reader: ReportPageReader, snapshot: ReportSnapshot, firstPage: number): Promise<Buffer[]> {
  const totalPages = totalPagesOf(snapshot);
  const pages: Buffer[] = [];
  for (let page = firstPage; page <= Math.max(totalPages, 1); page++) {
    const written = await reader.next();
    if (written.rows > 0) pages.push(written.finish(PAGE_FIELDS));
  }
  return pages;
}

/**
 * The report pool, each read's COPY handed to `sending` (with the read's number, from 1) to send
 * when it will, instead of sent at once.
 */
function poolSending(sending: (copy: BinaryCopyOut, send: () => void, read: number) => void): pg.Pool {
  let reads = 0;
  return {
    connect: async () => {
      const client = await reportPool.connect();
      const read = ++reads;
      return Object.assign(Object.create(client) as pg.PoolClient, {
        query: (copy: BinaryCopyOut) => sending(copy, () => void client.query(copy), read),
        release: (error?: Error) => client.release(error),
      });
    },
  } as unknown as pg.Pool;
}

/** A pool that records the statement of every read (the rows it asks for). */
const recordingPool = (statements: string[]) =>
  poolSending((copy, send) => {
    statements.push(copy.text);
    send();
  });

/** The rows each recorded read asked for, one page for a report_page() call. */
const rowsAsked = (statements: string[], pageSize: number) =>
  statements.map((text) => (text.includes('report_page(') ? pageSize : Number(/LIMIT (\d+)\)/.exec(text)![1])));

describe('the pages a stream gets', () => {
  it('are exactly those of one report_page() call a page, for any page size and first page, newer rows left out', async () => {
    const random = prng(Date.now() % 1_000_000);
    for (const pageSize of [1, 7, 100, 1000]) {
      const snapshot = await snapshotOf(LAST_TWO_DAYS, pageSize);
      expect(snapshot.totalSize).toBe(BigInt(ROWS));
      // Committed after the snapshot, all over its window: in neither side's pages.
      await seed(20, `now() - i * interval '2 hours'`, "'after the snapshot'");
      const totalPages = Math.ceil(ROWS / pageSize);
      for (const firstPage of [1, 1 + Math.floor(random() * totalPages), totalPages]) {
        const expected = await pagesOneByOne(snapshot, firstPage);
        const position = { offset: (firstPage - 1) * pageSize };
        const got = await pagesRead(
          new ReportPageReader(reportPool, snapshot, firstPage, position),
          snapshot,
          firstPage,
        );
        expect(got.length).toBe(expected.length);
        got.forEach((page, i) => {
          if (!page.equals(expected[i]!))
            throw new Error(`page size ${pageSize}, from page ${firstPage}: page ${firstPage + i} differs`);
        });
      }
      await pool.query(`DELETE FROM transactions WHERE description = 'after the snapshot'`);
    }
  }, 120_000);

  it('are the same from a page token (a cursor) as from the page number', async () => {
    const snapshot = await snapshotOf(LAST_TWO_DAYS, 250);
    const first = new ReportPageWriter();
    await readPage(reportPool, snapshot, { offset: 250 * 3 }, (row) => first.add(row));
    const byCursor = await pagesRead(
      new ReportPageReader(reportPool, snapshot, 5, { after: first.lastRow()! }),
      snapshot,
      5,
    );
    expect(byCursor).toEqual(await pagesOneByOne(snapshot, 5));
  });

  it('are those of one report_account_page() call a page for one account', async () => {
    const account = (await pool.query<{ id: string }>('SELECT from_account_id AS id FROM transactions LIMIT 1'))
      .rows[0]!.id;
    const statements: string[] = [];
    const snapshot = { ...(await snapshotOf({ ...LAST_TWO_DAYS, accountId: account }, 10)) };
    const reader = new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 });
    const pages = await pagesRead(reader, snapshot, 1);
    expect(pages.length).toBe(Math.ceil(Number(snapshot.totalSize) / 10));
    expect(statements.every((text) => text.includes('report_account_page('))).toBe(true);
  });
});

describe('how far ahead it reads', () => {
  it('doubles the pages a read while the stream waits for them, up to READ_ROWS_MAX rows', async () => {
    const pageSize = 100;
    const snapshot = await snapshotOf(LAST_TWO_DAYS, pageSize);
    const statements: string[] = [];
    await pagesRead(new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 }), snapshot, 1);
    // 1, 2, 4 and 8 pages, then the 15 left of the 30 (no more than the snapshot holds).
    expect(rowsAsked(statements, pageSize)).toEqual([100, 200, 400, 800, 1500]);
  });

  it('asks no read for more than READ_ROWS_MAX rows', async () => {
    const pageSize = 1000;
    const snapshot = await snapshotOf(LONG_WINDOW(), pageSize);
    expect(snapshot.totalSize).toBe(BigInt(LONG_ROWS));
    const statements: string[] = [];
    await pagesRead(new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 }), snapshot, 1);
    expect(READ_ROWS_MAX / pageSize).toBe(16);
    // 1 + 2 + 4 + 8 pages, then 16 (READ_ROWS_MAX), then the 9 left.
    expect(rowsAsked(statements, pageSize)).toEqual([1000, 2000, 4000, 8000, 16_000, 9000]);
  });

  it('asks no read for more pages than READ_BYTES_MAX holds, by the bytes of the pages before', async () => {
    const pageSize = 1000;
    const snapshot = await snapshotOf(HEAVY_WINDOW(), pageSize);
    expect(snapshot.totalSize).toBe(BigInt(HEAVY_ROWS));
    const statements: string[] = [];
    const reader = new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 });
    let pageBytes = 0;
    for (let page = 1; page <= HEAVY_ROWS / pageSize; page++)
      pageBytes = Math.max(pageBytes, (await reader.next()).bytes);
    const mostPages = Math.floor(READ_BYTES_MAX / pageBytes);
    expect(mostPages).toBeLessThan(READ_ROWS_MAX / pageSize); // the bytes are the bound here, not the rows
    const asked = rowsAsked(statements, pageSize);
    expect(asked.reduce((sum, rows) => sum + rows, 0)).toBe(HEAVY_ROWS);
    expect(Math.max(...asked)).toBe(mostPages * pageSize);
  });

  it('does not grow its reads while the stream is the slower side', async () => {
    const pageSize = 50;
    const snapshot = await snapshotOf(LAST_TWO_DAYS, pageSize);
    const statements: string[] = [];
    const reader = new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 });
    for (let page = 0; page < 30; page++) {
      await reader.next();
      await new Promise((resolve) => setTimeout(resolve, 100)); // a slow client: every read is done before it asks
    }
    reader.close();
    const asked = rowsAsked(statements, pageSize);
    // The first page was waited for (two pages the next read); never again after.
    expect(asked.slice(0, 2)).toEqual([pageSize, 2 * pageSize]);
    expect(asked.slice(2).every((rows) => rows === 2 * pageSize)).toBe(true);
    // At most two pages wait in memory, and one read's worth beyond what the stream took.
    expect(asked.reduce((sum, rows) => sum + rows, 0)).toBeLessThanOrEqual((30 + 3) * pageSize);
  });
});

describe('a stream that stops, a read that fails', () => {
  it('gives a read under way its connection back when the stream stops, and starts no other', async () => {
    const snapshot = await snapshotOf(LAST_TWO_DAYS, 100);
    const statements: string[] = [];
    const reader = new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 });
    await reader.next();
    await reader.next(); // the second read is under way or done; the stream goes
    reader.close();
    const readsWhenClosed = statements.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statements.length).toBe(readsWhenClosed);
    expect(reportPool.totalCount - reportPool.idleCount).toBe(0);
    expect(reportPool.waitingCount).toBe(0);
  });

  it('rejects the next page with the read failure, and the pool goes on', async () => {
    const snapshot = { ...(await snapshotOf(LAST_TWO_DAYS, 100)), snapshot: '9:1:' }; // refused by PostgreSQL
    const reader = new ReportPageReader(reportPool, snapshot, 1, { offset: 0 });
    await expect(reader.next()).rejects.toThrow(/pg_snapshot/);
    await expect(reader.next()).rejects.toThrow(/pg_snapshot/);
    expect((await reportPool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('fails the next page when a many-page read loses its connection, and keeps no broken connection', async () => {
    const snapshot = await snapshotOf(LAST_TWO_DAYS, 100);
    const locker = await pool.connect();
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    // The second read — the first of many pages — is sent once `locker` holds the table: it waits on the lock.
    const pausing = poolSending((_copy, send, read) => (read === 2 ? void lockTaken.then(send) : send()));
    try {
      const reader = new ReportPageReader(pausing, snapshot, 1, { offset: 0 });
      expect((await reader.next()).rows).toBe(100);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE transactions IN ACCESS EXCLUSIVE MODE');
      locked();
      let pid: number | undefined;
      for (let tries = 0; !pid && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        pid = (
          await pool.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY (SELECT t.transaction_id%'`,
          )
        ).rows[0]?.pid;
      }
      expect(pid).toBeDefined();
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(reader.next()).rejects.toThrow(/terminat/);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect(reportPool.totalCount - reportPool.idleCount).toBe(0);
    expect((await reportPool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('gives a short page, then empty ones, when the oldest rows of the snapshot are gone — no read after it', async () => {
    const pageSize = 100;
    const filter: ReportFilter = {
      startUs: microsOfDate(new Date(Date.now() - 30 * DAY)),
      endUs: null,
      accountId: null,
    };
    const snapshot = await snapshotOf(filter, pageSize);
    expect(snapshot.totalSize).toBe(BigInt(ROWS + LONG_ROWS + HEAVY_ROWS));
    const statements: string[] = [];
    const reader = new ReportPageReader(recordingPool(statements), snapshot, 1, { offset: 0 });
    await reader.next();
    // The oldest rows but 50 go (as an archive of a partition a token still covers would take them):
    // the listing ends 51 950 rows before its count, past the end of the read that finds it.
    await pool.query(
      `DELETE FROM transactions WHERE description = repeat('é', 500) OR (description LIKE 'long %' AND amount > 50)`,
    );
    const sizes: number[] = [];
    for (let page = 2; page <= Number(snapshot.totalSize) / pageSize; page++) sizes.push((await reader.next()).rows);
    const fullPages = ROWS / pageSize - 1;
    expect(sizes.slice(0, fullPages).every((rows) => rows === pageSize)).toBe(true);
    expect(sizes.slice(fullPages)).toEqual([50, ...Array(sizes.length - fullPages - 1).fill(0)]);
    // The read that came up short was the last: none for the pages it could not fill.
    const reads = statements.length;
    await reader.next();
    expect(statements.length).toBe(reads);
  });
});
