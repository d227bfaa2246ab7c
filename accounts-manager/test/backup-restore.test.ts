import { status, type ServiceError } from '@grpc/grpc-js';
import { type AccountsServiceClient, Direction, type Transaction } from '@alfabet/proto/accounts/v1';
import { microsOfTimestamp, timestampOfDate } from '@alfabet/service-kit/timestamps';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { forgetReportCounts, maintainReportCounts } from '../src/db/report-counts.sql.js';
import { startPrivatePostgres, type PrivatePostgres } from '../../test-support/private-postgres.js';
import { freePort } from '../../test-support/temporal-dev-server.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { idsOf, listAll } from './support/report-client.js';

/**
 * Backup and restore, end to end (docs/ledger.md, "Backup and restore"). A
 * ledger under write load (Transfers and BankTransactions from 8 clients) is
 * backed up with ledger:backup while the load runs, restored with
 * ledger:restore into a PostgreSQL cluster of the test's own (initdb on another
 * port) whose transaction-id counter is far behind the source's (50 000 xids
 * burned on the source first; asserted), and served there by accounts-manager.
 * On the restore: ledger:verify holds; it holds exactly the transactions of
 * the backup's snapshot, each found by id and by request id as on the source;
 * a new 5-day listing shows exactly what the source showed at that snapshot;
 * snapshot and page tokens taken on the source before the backup list exactly
 * what they listed there; replayed request ids return the original
 * transaction and move no money; new transactions appear in new listings and
 * in no earlier token. The source runs on a private cluster too: no other
 * test's open transaction can hold back its minute seals, and its burned xids
 * are its own.
 */
const SECRET = 'backup-restore-test-report-token-secret';
const cli = (name: string) => fileURLToPath(new URL(`../dist/src/cli/${name}.js`, import.meta.url));
const DAY = 24 * 3600 * 1000;
const BURNED_XIDS = 50_000;
const CLIENTS = 8;
const ACCOUNTS = 12;
const PAGE_SIZE = 50;
/** Every listing of the test covers the same 5 days (a few minutes inside REPORT_WINDOW, so still valid minutes later). */
const START = new Date(Date.now() - 5 * DAY + 10 * 60_000);

/** A request the load made and its answer: replayed on the restore with the very same fields. */
interface Sent {
  method: 'transfer' | 'bankTransaction';
  request: Record<string, unknown> & { requestId: string };
  answer: Transaction;
}

/** A listing taken on the source: what its snapshot_token, each page_token and a page jump list there. */
interface Taken {
  snapshotToken: string;
  totalSize: bigint;
  ids: string[];
  pageTokens: { token: string; rest: string[] }[];
}

/** A row of the backup, read on the source with the backup's own snapshot. */
interface DumpedRow {
  transaction_id: string;
  request_id: string | null;
  create_time_us: string;
  archived: boolean;
}

let work: string;
let sourceCluster: PrivatePostgres;
let sourceUrl: string;
let sourcePool: pg.Pool;
let source: TestLedger;
let cluster: PrivatePostgres;
let restoredUrl: string;
let restoredPool: pg.Pool;
let restored: TestLedger;
let accounts: string[];
const sent: Sent[] = [];
/** Listings taken on the source before the backup, and one after it. */
const listings: Taken[] = [];
let takenAfter: Taken;
let backupSnapshot: string;
let dumped: DumpedRow[];
/** Transactions made on the restore. */
const fresh: Transaction[] = [];

function runCli(name: string, databaseUrl: string, args: string[] = []): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--no-warnings', cli(name), ...args],
      { env: { ...process.env, NODE_OPTIONS: '', ACCOUNTS_DATABASE_URL: databaseUrl } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
    );
  });
}

/** Advances the source cluster's transaction-id counter: each subtransaction that writes takes an xid of its own. */
async function burnXids(pool: pg.Pool, count: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('CREATE TEMP TABLE burn (i int)');
    await client.query(`DO $$ BEGIN
      FOR i IN 1..${count} LOOP
        BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END;
      END LOOP; END $$`);
    await client.query('DROP TABLE burn');
  } finally {
    client.release();
  }
}

/**
 * History as ledger_post() would have left it: FAILED transfers (no money moves) with request
 * ids over the last 5 days, and 30 more 8 days back for transactions:archive to move away.
 */
async function seedHistory(pool: pg.Pool, from: string, to: string): Promise<void> {
  const times = [
    ...Array.from({ length: 600 }, (_, i) => new Date(Date.now() - DAY / 24 - i * ((4.8 * DAY) / 600))),
    ...Array.from({ length: 30 }, (_, i) => new Date(Date.now() - 8 * DAY - i * 60_000)),
  ];
  await pool.query(
    `SELECT ensure_transaction_partitions((now() AT TIME ZONE 'UTC')::date - 9, (now() AT TIME ZONE 'UTC')::date)`,
  );
  await pool.query(
    `WITH rows AS (SELECT gen_random_uuid() AS id, gen_random_uuid() AS request_id, t FROM unnest($1::timestamptz[]) AS t),
          requests AS (INSERT INTO transaction_requests (request_id, transaction_id, create_time)
                       SELECT request_id, id, t FROM rows)
     INSERT INTO transactions (transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
                               direction, status, failure_reason, failure_message, from_account_id, to_account_id)
     SELECT id, t, request_id, 'transfer', $2, $3, 1000000, 'debit', 'failed', 'insufficient_funds', 'seeded history', $2, $3
     FROM rows`,
    [times, from, to],
  );
  // Written directly, not by ledger_post(): the minutes are counted afresh, then marked and sealed.
  await forgetReportCounts(pool);
  const oldest = new Date(Date.now() - 5 * DAY - 3600_000);
  // Marked, then sealed (in the same call when no older xid is still running, as on this private cluster).
  const first = await maintainReportCounts(pool, oldest);
  expect(first.sealed + (await maintainReportCounts(pool, oldest)).sealed).toBeGreaterThan(100);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'alfabet-backup-'));
  sourceCluster = startPrivatePostgres(await freePort());
  sourceUrl = sourceCluster.url('alfabet_accounts');
  source = await startTestLedger({ ACCOUNTS_DATABASE_URL: sourceUrl, REPORT_TOKEN_SECRET: SECRET });
  sourcePool = new pg.Pool({ connectionString: sourceUrl, max: 4 });
  await burnXids(sourcePool, BURNED_XIDS);
  const api = ledgerApi(source.client);
  accounts = [];
  for (let i = 0; i < ACCOUNTS; i++) accounts.push(await api.fundedAccount(5_000n, `backup ${i}`));
  await seedHistory(sourcePool, accounts[0]!, accounts[1]!);
  const archive = await runCli('transactions-archive', sourceUrl);
  expect(archive.code).toBe(0);
  const { rows } = await sourcePool.query<{ n: string }>('SELECT count(*) AS n FROM archive.transactions');
  expect(Number(rows[0]!.n)).toBe(30);
}, 180_000);

afterAll(async () => {
  await restored?.stop();
  await restoredPool?.end();
  cluster?.stop();
  await source?.stop();
  await sourcePool?.end();
  sourceCluster?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** CLIENTS clients sending Transfers (70 %) and BankTransactions with request ids until `until` resolves. */
async function writeLoad(client: AccountsServiceClient, until: Promise<void>): Promise<void> {
  let stopping = false;
  void until.then(() => {
    stopping = true;
  });
  const pick = () => accounts[Math.floor(Math.random() * accounts.length)]!;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (!stopping) {
        const src = pick();
        let dst = pick();
        while (dst === src) dst = pick();
        const amount = BigInt(1 + Math.floor(Math.random() * 400));
        const transfer = Math.random() < 0.7;
        const entry: Omit<Sent, 'answer'> = transfer
          ? {
              method: 'transfer',
              request: { requestId: randomUUID(), srcAccountId: src, dstAccountId: dst, amount, direction: 1 },
            }
          : {
              method: 'bankTransaction',
              request: { requestId: randomUUID(), dstAccountId: dst, amount, direction: Math.random() < 0.5 ? 1 : 2 },
            };
        sent.push({ ...entry, answer: await send(client, entry) });
      }
    }),
  );
}

function send(client: AccountsServiceClient, entry: Omit<Sent, 'answer'>): Promise<Transaction> {
  const request = { description: entry.method === 'bankTransaction' ? 'backup load' : '', ...entry.request };
  return new Promise((resolve, reject) => {
    const callback = (error: ServiceError | null, response: { transaction?: Transaction }) =>
      error ? reject(error) : resolve(response.transaction!);
    if (entry.method === 'transfer') client.transfer(request as never, callback);
    else client.bankTransaction(request as never, callback);
  });
}

/** A 5-day listing, and what its snapshot_token, each page_token and a jump to page 3 list on the same server. */
async function takeListing(client: AccountsServiceClient): Promise<Taken> {
  const pages = await listAll(client, { startTime: timestampOfDate(START), pageSize: PAGE_SIZE });
  const ids = idsOf(pages);
  expect(ids.length).toBeGreaterThan(3 * PAGE_SIZE);
  const pageTokens = pages
    .filter((page) => page.nextPageToken !== '')
    .map((page) => ({ token: page.nextPageToken, rest: ids.slice(page.page * PAGE_SIZE) }));
  return { snapshotToken: pages[0]!.snapshotToken, totalSize: pages[0]!.totalSize, ids, pageTokens };
}

/** Lists a taken listing again by each of its tokens: exactly what they listed when taken. */
async function expectListsAsTaken(client: AccountsServiceClient, taken: Taken): Promise<void> {
  const again = await listAll(client, { snapshotToken: taken.snapshotToken });
  expect(again[0]!.totalSize).toBe(taken.totalSize);
  expect(idsOf(again)).toEqual(taken.ids);
  expect(idsOf(await listAll(client, { snapshotToken: taken.snapshotToken, page: 3 }))).toEqual(
    taken.ids.slice(2 * PAGE_SIZE),
  );
  for (const { token, rest } of taken.pageTokens)
    expect(idsOf(await listAll(client, { pageToken: token }))).toEqual(rest);
}

/** The rows of the backup: on the source, those its exported snapshot sees (one cluster, one counter: exact there). */
async function rowsOfSnapshot(pool: pg.Pool, snapshot: string): Promise<DumpedRow[]> {
  const select = (table: string, archived: boolean) => `
    SELECT transaction_id, request_id, (extract(epoch FROM create_time) * 1000000)::bigint::text AS create_time_us,
           ${archived} AS archived
    FROM ${table} WHERE pg_visible_in_snapshot(xact_id, $1::pg_snapshot)`;
  const { rows } = await pool.query<DumpedRow>(
    `${select('public.transactions', false)} UNION ALL ${select('archive.transactions', true)}`,
    [snapshot],
  );
  return rows;
}

/** Newest first, as a report orders: create_time desc, then transaction_id desc. */
const reportOrder = (rows: { id: string; us: bigint }[]) =>
  [...rows].sort((a, b) => (a.us === b.us ? (a.id < b.id ? 1 : -1) : a.us < b.us ? 1 : -1)).map((row) => row.id);
const inReport = (rows: DumpedRow[]) =>
  rows
    .filter((row) => !row.archived && BigInt(row.create_time_us) >= BigInt(START.getTime()) * 1000n)
    .map((row) => ({ id: row.transaction_id, us: BigInt(row.create_time_us) }));

describe('a ledger backed up under load and restored into another cluster', () => {
  it('is backed up by ledger:backup while Transfers and BankTransactions run, tokens taken before', async () => {
    let stopLoad!: () => void;
    const load = writeLoad(source.client, new Promise((resolve) => (stopLoad = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    listings.push(await takeListing(source.client));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    listings.push(await takeListing(source.client));
    const backup = await runCli('ledger-backup', sourceUrl, [join(work, 'ledger-backup')]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    takenAfter = await takeListing(source.client);
    stopLoad();
    await load;
    expect(backup.output).toMatch(/^ledger:backup: .* ledger epoch 1 on cluster \d+, snapshot \d+:\d+:[\d,]*$/m);
    expect(backup.code).toBe(0);
    backupSnapshot = /snapshot (\d+:\d+:[\d,]*)$/m.exec(backup.output)![1]!;
    dumped = await rowsOfSnapshot(sourcePool, backupSnapshot);
    const dumpedIds = new Set(dumped.map((row) => row.transaction_id));
    // The load ran on both sides of the backup's snapshot.
    expect(sent.filter((s) => dumpedIds.has(s.answer.transactionId)).length).toBeGreaterThan(200);
    expect(sent.filter((s) => !dumpedIds.has(s.answer.transactionId)).length).toBeGreaterThan(20);
    for (const taken of [...listings, takenAfter]) await expectListsAsTaken(source.client, taken);
    expect(takenAfter.ids.some((id) => !dumpedIds.has(id))).toBe(true);
    console.log(
      `backup of snapshot ${backupSnapshot}: ${dumped.length} transactions (${dumped.filter((r) => r.archived).length} archived); ` +
        `${sent.length} requests answered, ${sent.filter((s) => !dumpedIds.has(s.answer.transactionId)).length} after the snapshot`,
    );
  }, 120_000);

  it('is restored by ledger:restore into a fresh cluster whose xid counter is far behind, and verifies', async () => {
    cluster = startPrivatePostgres(await freePort());
    restoredUrl = cluster.url('alfabet_accounts');
    const restore = await runCli('ledger-restore', restoredUrl, [join(work, 'ledger-backup')]);
    expect(restore.output).toContain(`(the backup's: epoch 1 on cluster`);
    expect(restore.output).toMatch(/ledger epoch 2 begun on cluster \d+ .*snapshot \d+:\d+:[\d,]*\)$/m);
    expect(restore.output).toContain('ledger:verify OK');
    expect(restore.output).toMatch(/report counts OK: \d+ minutes, 0 differ from their rows/);
    expect(restore.code).toBe(0);
    restoredPool = new pg.Pool({ connectionString: restoredUrl, max: 4 });
    await expectXidsFarBehind();
    // The sealed minute counts came along (a new listing's total is made of them); no unsealed mark of the old cluster did.
    const { rows: hours } = await restoredPool.query<{ sealed: string; unsealed: string }>(
      'SELECT count(row_count) AS sealed, count(*) - count(row_count) AS unsealed FROM report_counts',
    );
    expect(Number(hours[0]!.sealed)).toBeGreaterThan(100);
    expect(Number(hours[0]!.unsealed)).toBe(0);

    const verify = await runCli('ledger-verify', restoredUrl);
    expect(verify.output).toContain('ledger OK');
    expect(verify.code).toBe(0);
    // Exactly the transactions of the backup's snapshot, hot and archived, nothing else.
    const { rows } = await restoredPool.query<{ transaction_id: string }>(
      'SELECT transaction_id FROM ledger_transactions_all',
    );
    expect(new Set(rows.map((row) => row.transaction_id))).toEqual(new Set(dumped.map((row) => row.transaction_id)));
    restored = await startTestLedger({ ACCOUNTS_DATABASE_URL: restoredUrl, REPORT_TOKEN_SECRET: SECRET });
  }, 120_000);

  it('answers GetTransaction for every transaction of the backup, by id and by request id, as the source does', async () => {
    const sourceApi = ledgerApi(source.client);
    const restoredApi = ledgerApi(restored.client);
    await inBatches(dumped, 16, async (row) => {
      const original = await sourceApi.getTransaction({ transactionId: row.transaction_id });
      expect(await restoredApi.getTransaction({ transactionId: row.transaction_id })).toEqual(original);
      if (row.request_id) expect(await restoredApi.getTransaction({ requestId: row.request_id })).toEqual(original);
    });
    // Acknowledged after the backup's snapshot: not in it.
    const dumpedIds = new Set(dumped.map((row) => row.transaction_id));
    await inBatches(
      sent.filter((s) => !dumpedIds.has(s.answer.transactionId)),
      16,
      async (s) => {
        const error = await restoredApi.getTransaction({ requestId: s.request.requestId }).catch((e) => e);
        expect((error as ServiceError).code).toBe(status.NOT_FOUND);
      },
    );
  }, 120_000);

  it("lists in a new 5-day report exactly what the source listed at the backup's snapshot", async () => {
    const pages = await listAll(restored.client, { startTime: timestampOfDate(START), pageSize: PAGE_SIZE });
    const expected = reportOrder(inReport(dumped));
    expect(pages[0]!.totalSize).toBe(BigInt(expected.length));
    expect(idsOf(pages)).toEqual(expected);
  });

  it('lists by the tokens taken on the source before the backup exactly what they listed there', async () => {
    for (const taken of listings) await expectListsAsTaken(restored.client, taken);
  }, 60_000);

  it('refuses the tokens taken on the source after the backup: they name transactions it does not hold', async () => {
    for (const fields of [
      { snapshotToken: takenAfter.snapshotToken },
      { snapshotToken: takenAfter.snapshotToken, page: 2 },
      ...takenAfter.pageTokens.map(({ token }) => ({ pageToken: token })),
    ]) {
      const error = (await listAll(restored.client, fields).catch((e) => e)) as ServiceError;
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(
        /^(snapshot|page)_token: was taken after the backup this ledger database was restored/,
      );
    }
  });

  it('replays old request ids: the original transaction, no money moved', async () => {
    const dumpedIds = new Set(dumped.map((row) => row.transaction_id));
    const before = await ledgerState(restoredPool);
    await inBatches(
      sent.filter((s) => dumpedIds.has(s.answer.transactionId)),
      16,
      async (s) => {
        expect(await send(restored.client, s)).toEqual(s.answer);
      },
    );
    expect(await ledgerState(restoredPool)).toEqual(before);
  }, 120_000);

  it('never shows a transaction made on the restore in a token taken on the source', async () => {
    fresh.push(...(await transactOn(restored.client, 20)));
    for (const taken of listings) await expectListsAsTaken(restored.client, taken);
  }, 60_000);

  it('shows new transactions in new listings on the restore, never in a token taken before them', async () => {
    const freshRows = () => fresh.map((t) => ({ id: t.transactionId, us: microsOfTimestamp(t.createTime!) }));
    const beforeMore = await takeListing(restored.client);
    expect(beforeMore.ids).toEqual(reportOrder([...inReport(dumped), ...freshRows()]));
    fresh.push(...(await transactOn(restored.client, 20)));
    const pages = await listAll(restored.client, { startTime: timestampOfDate(START), pageSize: PAGE_SIZE });
    expect(idsOf(pages)).toEqual(reportOrder([...inReport(dumped), ...freshRows()]));
    for (const taken of [...listings, beforeMore]) await expectListsAsTaken(restored.client, taken);

    // A token of the restore's epoch names a cluster the source's history does not hold.
    const foreign = await listAll(source.client, { snapshotToken: beforeMore.snapshotToken }).catch((e) => e);
    expect((foreign as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((foreign as ServiceError).details).toMatch(/^snapshot_token: was taken on a ledger database/);

    const verify = await runCli('ledger-verify', restoredUrl);
    expect(verify.output).toContain('ledger OK');
    await expectXidsFarBehind();
  }, 120_000);
});

/** `count` new transactions (bank credits and transfers, one after another) on the restore. */
async function transactOn(client: AccountsServiceClient, count: number): Promise<Transaction[]> {
  const api = ledgerApi(client);
  const made: Transaction[] = [];
  for (let i = 0; i < count; i++) {
    const account = accounts[i % ACCOUNTS]!;
    made.push(
      i % 2
        ? await api.transfer({ srcAccountId: account, dstAccountId: accounts[(i + 1) % ACCOUNTS]!, amount: 7n })
        : await api.bankTransaction({ dstAccountId: account, amount: 5n, direction: Direction.DIRECTION_CREDIT }),
    );
  }
  return made;
}

/** The precondition that makes this test mean something: every copied row's xid is beyond the restore's counter. */
async function expectXidsFarBehind(): Promise<void> {
  const { rows } = await sourcePool.query<{ xid: string }>(
    `SELECT min(xact_id::text::bigint)::text AS xid
     FROM (SELECT xact_id FROM public.transactions UNION ALL SELECT xact_id FROM archive.transactions) r
     WHERE pg_visible_in_snapshot(xact_id, $1::pg_snapshot)`,
    [backupSnapshot],
  );
  const oldest = rows[0]!.xid;
  const counter = (await restoredPool.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid;
  console.log(`oldest xid of the backup's rows ${oldest}; the restore's counter ${counter}`);
  expect(BigInt(counter)).toBeLessThan(BigInt(oldest));
}

/** Balances of every account and the number of rows: what a replay must leave as it was. */
async function ledgerState(pool: pg.Pool) {
  const balances = await pool.query('SELECT account_id, balance FROM accounts ORDER BY account_id');
  const rows = await pool.query('SELECT count(*) AS n FROM ledger_transactions_all');
  return { balances: balances.rows, rows: rows.rows[0] };
}

async function inBatches<T>(items: T[], width: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(each));
}
