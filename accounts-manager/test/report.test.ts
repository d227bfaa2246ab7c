import { status, type ServiceError } from '@grpc/grpc-js';
import { type ListTransactionsResponse } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { idsOf, listAll, listFirst, listRequest, seedFailedTransfers } from './support/report-client.js';
import { microsOfTimestamp, timestampOfDate } from '@alfabet/service-kit/timestamps';

/**
 * ListTransactions streams pages of one exact snapshot: what had committed
 * when the listing began, nothing else, however long the client pages.
 */
let ledger: TestLedger;
let pool: pg.Pool;
let api: ReturnType<typeof ledgerApi>;

beforeAll(async () => {
  ledger = await startTestLedger();
  pool = testPool(8);
  api = ledgerApi(ledger.client);
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const pagesFetched = async () => (await ledger.app.metrics.reportPages.get()).values[0]?.value ?? 0;

/**
 * A transfer src → dst through ledger_post() on a connection of our own,
 * inside whatever transaction that connection has open.
 */
async function transferOn(client: pg.PoolClient, src: string, dst: string, amount: bigint): Promise<string> {
  const transactionId = randomUUID();
  await client.query(`SELECT * FROM ledger_post($1, NULL, 'transfer', $2, $3, $4, 'debit', '', $2, $3)`, [
    transactionId,
    src,
    dst,
    amount.toString(),
  ]);
  return transactionId;
}

function expectConsistentPages(pages: ListTransactionsResponse[], pageSize: number, expectedTotal: number) {
  const totalPages = Math.ceil(expectedTotal / pageSize);
  expect(pages).toHaveLength(Math.max(totalPages, 1));
  pages.forEach((page, index) => {
    expect(page.page).toBe(index + 1);
    expect(page.pageSize).toBe(pageSize);
    expect(page.totalSize).toBe(BigInt(expectedTotal));
    expect(page.totalPages).toBe(totalPages);
    expect(page.snapshotToken).toBe(pages[0]!.snapshotToken);
    expect(page.nextPageToken === '').toBe(index === pages.length - 1);
  });
}

describe('ListTransactions: the snapshot', () => {
  it('shows what committed before it, never a transaction that began before and committed after, never a rolled-back one, never a later one', async () => {
    // Four transfers on four separate account pairs, so that none waits for another's row locks.
    const pairs = await Promise.all(
      [1, 2, 3, 4].map(
        async () =>
          [
            await api.fundedAccount(100n, 'report race payer'),
            (await api.createAccount('report race payee')).accountId,
          ] as const,
      ),
    );
    const clients = await Promise.all(pairs.map(() => pool.connect()));
    const [early, committedBefore, rolledBack, afterwards] = clients as [
      pg.PoolClient,
      pg.PoolClient,
      pg.PoolClient,
      pg.PoolClient,
    ];
    try {
      // Began (and wrote) before the snapshot, will commit after it.
      await early.query('BEGIN');
      const earlyId = await transferOn(early, ...pairs[0]!, 1n);
      // Committed before the snapshot, with a later create_time than `early`'s.
      const beforeId = await transferOn(committedBefore, ...pairs[1]!, 2n);
      // Written before the snapshot, rolled back after it.
      await rolledBack.query('BEGIN');
      const rolledBackId = await transferOn(rolledBack, ...pairs[2]!, 4n);

      // The listing begins: its snapshot is taken now.
      const [first] = await listFirst(ledger.client, { pageSize: 1000 }, 1);
      const snapshotToken = first!.snapshotToken;

      await rolledBack.query('ROLLBACK');
      await early.query('COMMIT');
      const laterId = await transferOn(afterwards, ...pairs[3]!, 8n);

      // A timestamp cut-off would wrongly include `early`: it began before `before` committed.
      const times = await pool.query<{ transaction_id: string; create_time: Date }>(
        'SELECT transaction_id, create_time FROM transactions WHERE transaction_id = ANY($1::uuid[])',
        [[earlyId, beforeId]],
      );
      const timeOf = (id: string) => times.rows.find((row) => row.transaction_id === id)!.create_time.getTime();
      expect(timeOf(earlyId)).toBeLessThanOrEqual(timeOf(beforeId));

      // The whole snapshot, read again after all that happened, twice: the same set, the same totals.
      const pages = await listAll(ledger.client, { snapshotToken });
      const again = await listAll(ledger.client, { snapshotToken });
      expect(idsOf(again)).toEqual(idsOf(pages));
      expectConsistentPages(pages, 1000, Number(first!.totalSize));
      const ids = idsOf(pages);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toContain(beforeId);
      expect(ids).not.toContain(earlyId);
      expect(ids).not.toContain(rolledBackId);
      expect(ids).not.toContain(laterId);

      // A new listing sees every committed one.
      const fresh = idsOf(await listAll(ledger.client, { pageSize: 1000 }));
      expect(fresh).toEqual(expect.arrayContaining([earlyId, beforeId, laterId]));
      expect(fresh).not.toContain(rolledBackId);
    } finally {
      for (const client of clients) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
    }
  });

  it('keeps rows committed while the client pages out of every page, and its totals constant', async () => {
    const a = await api.createAccount('report paging a');
    const b = await api.createAccount('report paging b');
    const seeded = await seedFailedTransfers(pool, a.accountId, b.accountId, 300);
    const pages: ListTransactionsResponse[] = [];
    let next = '';
    do {
      const [page] = await listFirst(
        ledger.client,
        next ? { pageToken: next } : { accountId: a.accountId, pageSize: 7 },
        1,
      );
      pages.push(page!);
      // Between pages, more transactions for the same account commit (newer and, seeded, older in time).
      await seedFailedTransfers(pool, a.accountId, b.accountId, 3);
      next = page!.nextPageToken;
    } while (next);
    expectConsistentPages(pages, 7, seeded.length);
    expect(idsOf(pages)).toEqual(seeded);
  });

  it.each([1, 7, 100, 1000])(
    'covers the snapshot exactly, in order, with no duplicates or gaps, at page size %i',
    async (pageSize) => {
      const a = await api.createAccount('report exact a');
      const b = await api.createAccount('report exact b');
      const seeded = await seedFailedTransfers(pool, a.accountId, b.accountId, 2500);
      const pages = await listAll(ledger.client, { accountId: b.accountId, pageSize });
      expectConsistentPages(pages, pageSize, seeded.length);
      expect(idsOf(pages)).toEqual(seeded);
    },
    60_000,
  );

  it('restarts at page N of a snapshot and continues from any page_token, with the same rows', async () => {
    const a = await api.createAccount('report resume a');
    const b = await api.createAccount('report resume b');
    const seeded = await seedFailedTransfers(pool, a.accountId, b.accountId, 95);
    const all = await listAll(ledger.client, { accountId: a.accountId, pageSize: 10 });
    await seedFailedTransfers(pool, a.accountId, b.accountId, 20);

    const fromPage7 = await listAll(ledger.client, { snapshotToken: all[0]!.snapshotToken, page: 7 });
    expect(fromPage7.map((page) => page.page)).toEqual([7, 8, 9, 10]);
    expect(idsOf(fromPage7)).toEqual(seeded.slice(60));
    expect(fromPage7[0]!.snapshotToken).toBeDefined();

    const afterPage3 = await listAll(ledger.client, { pageToken: all[2]!.nextPageToken });
    expect(afterPage3[0]!.page).toBe(4);
    expect(idsOf(afterPage3)).toEqual(seeded.slice(30));
    // The same filters may be repeated alongside a token.
    const repeated = await listAll(ledger.client, {
      pageToken: all[8]!.nextPageToken,
      accountId: a.accountId,
      pageSize: 10,
    });
    expect(idsOf(repeated)).toEqual(seeded.slice(90));
  });

  it('lists every account newest first and streams one empty page for an empty window', async () => {
    await api.fundedAccount(500n, 'report all accounts');
    const pages = await listAll(ledger.client, { pageSize: 50 });
    const times = pages.flatMap((page) => page.transactions.map((t) => microsOfTimestamp(t.createTime!)));
    expect(times.length).toBeGreaterThan(0);
    expect([...times].sort((x, y) => (x < y ? 1 : x > y ? -1 : 0))).toEqual(times);

    const quiet = await api.createAccount('report empty');
    const empty = await listAll(ledger.client, { accountId: quiet.accountId });
    expect(empty).toHaveLength(1);
    expect(empty[0]).toMatchObject({ page: 1, totalSize: 0n, totalPages: 0, nextPageToken: '', transactions: [] });
    expect(empty[0]!.pageSize).toBe(100);
  });

  it('honours the window [start_time, end_time)', async () => {
    const a = await api.createAccount('report window a');
    const b = await api.createAccount('report window b');
    const seeded = await seedFailedTransfers(pool, a.accountId, b.accountId, 30); // 10 distinct seconds, newest first
    const times = await pool.query<{ create_time: Date }>(
      'SELECT DISTINCT create_time FROM transactions WHERE transaction_id = ANY($1::uuid[]) ORDER BY create_time DESC',
      [seeded],
    );
    const t = times.rows.map((row) => row.create_time);
    // [t[6], t[2]) holds the rows of t[6] … t[3]: 4 seconds × 3 rows.
    const pages = await listAll(ledger.client, {
      accountId: a.accountId,
      startTime: timestampOfDate(t[6]!),
      endTime: timestampOfDate(t[2]!),
    });
    expect(idsOf(pages)).toEqual(seeded.slice(9, 21));
  });
});

describe('ListTransactions: flow control and cancellation', () => {
  let account: string;
  // Enough pages that the buffers on the way (16 messages in each stream's
  // queue, the HTTP/2 windows) cannot hold them all.
  const PAGES = 200;
  const PAGE_SIZE = 100;

  beforeAll(async () => {
    const a = await api.createAccount('report big a');
    const b = await api.createAccount('report big b');
    await seedFailedTransfers(pool, a.accountId, b.accountId, PAGES * PAGE_SIZE);
    account = a.accountId;
  }, 60_000);

  /**
   * Lists `accountId`'s rows (every account's: ''), pauses after the first page for 1.5 s, then reads the
   * rest: the pages read from the database while it was paused and in all, the listing's pages, those received.
   */
  async function pausedAfterFirstPage(accountId: string) {
    const before = await pagesFetched();
    const stream = ledger.client.listTransactions(listRequest({ pageSize: PAGE_SIZE, accountId }));
    const done = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    done.catch(() => undefined); // awaited below; no unhandled rejection while paused
    const first = await new Promise<ListTransactionsResponse>((resolve) =>
      stream.once('data', (page: ListTransactionsResponse) => {
        stream.pause();
        resolve(page);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const fetchedWhilePaused = (await pagesFetched()) - before;
    let received = 1;
    stream.on('data', () => {
      received++;
    });
    stream.resume();
    await done;
    return { fetchedWhilePaused, fetched: (await pagesFetched()) - before, totalPages: first.totalPages, received };
  }

  it('reads a page only when the client can take it', async () => {
    const listed = await pausedAfterFirstPage(account);
    // Some pages sit in buffers (HTTP/2 window, stream high-water mark) — never the whole report.
    expect(listed.fetchedWhilePaused).toBeLessThan(PAGES);
    expect(listed.received).toBe(PAGES);
  }, 60_000);

  it('reads a whole-window listing ahead of a paused client by no more than one read', async () => {
    const listed = await pausedAfterFirstPage('');
    expect(listed.totalPages).toBeGreaterThanOrEqual(PAGES);
    // The pages in the buffers on the way (~30 of 100 rows) and the read ahead of them (each read at most
    // twice the one before: 1, 2, 4, … pages) — never the whole listing, nor half of it.
    expect(listed.fetchedWhilePaused).toBeLessThan(listed.totalPages / 2);
    expect(listed.received).toBe(listed.totalPages);
    expect(listed.fetched).toBe(listed.totalPages);
  }, 60_000);

  it('stops reading when the client cancels mid-stream', async () => {
    const before = await pagesFetched();
    const pages = await listFirst(ledger.client, { accountId: account, pageSize: PAGE_SIZE }, 2);
    expect(pages).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const fetched = (await pagesFetched()) - before;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await pagesFetched()) - before).toBe(fetched); // nothing more after the cancel
    expect(fetched).toBeLessThan(PAGES);
  }, 30_000);

  it('stops reading when the client deadline passes', async () => {
    const before = await pagesFetched();
    const stream = ledger.client.listTransactions(
      {
        startTime: undefined,
        endTime: undefined,
        pageSize: PAGE_SIZE,
        pageToken: '',
        snapshotToken: '',
        page: 0,
        accountId: account,
      },
      { deadline: Date.now() + 1000 },
    );
    const failed = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    stream.once('data', () => stream.pause());
    expect((await failed).code).toBe(status.DEADLINE_EXCEEDED);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const fetched = (await pagesFetched()) - before;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await pagesFetched()) - before).toBe(fetched);
    expect(fetched).toBeLessThan(PAGES);
  }, 30_000);
});

describe('ListTransactions: a page whose database connection is lost', () => {
  it('ends the listing UNAVAILABLE, and the same page_token then lists the rest whole', async () => {
    const a = await api.createAccount('report lost a');
    const b = await api.createAccount('report lost b');
    const ids = await seedFailedTransfers(pool, a.accountId, b.accountId, 5);
    // The whole listing first: a stream cancelled after its first page may still be reading its next one.
    const [first] = await listAll(ledger.client, { accountId: a.accountId, pageSize: 2 });
    // The next page's COPY waits on a lock we hold; then its connection is ended under it.
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE transactions IN ACCESS EXCLUSIVE MODE');
      const lost = listAll(ledger.client, { pageToken: first!.nextPageToken });
      lost.catch(() => undefined); // awaited below
      const waiting = async () =>
        (
          await pool.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND query LIKE 'COPY (SELECT * FROM report_account_page(%'`,
          )
        ).rows[0]?.pid;
      let pid = await waiting();
      for (let tries = 0; !pid && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        pid = await waiting();
      }
      expect(pid).toBeDefined();
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(lost).rejects.toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    const rest = await listAll(ledger.client, { pageToken: first!.nextPageToken });
    expect(idsOf([first!, ...rest])).toEqual(ids);
  }, 30_000);
});

it('moves no money and leaves balances as they were', async () => {
  const funded = await api.fundedAccount(1234n, 'report read only');
  await listAll(ledger.client, { accountId: funded, pageSize: 1 });
  expect((await api.getAccount(funded)).balance).toBe(1234n);
});
