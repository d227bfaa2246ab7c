import { status, type ServiceError } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { microsOfTimestamp, timestampOfMicros, type ProtoTimestamp } from '@alfabet/service-kit/timestamps';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { isoOfMicros } from '../src/reports/report-types.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { idsOf, listAll } from './support/report-client.js';

/**
 * Timestamps carry the database's microseconds to the client (DESIGN §3), so
 * the report's order — create_time desc, then transaction_id desc — is the
 * order a client can check from what it receives. Two rows in one millisecond
 * whose ids run the other way show it: sent to the millisecond, they would
 * look tied and out of id order.
 */
let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;
let account: string;
let early: { id: string; us: bigint }; // larger id, earlier microsecond
let late: { id: string; us: bigint }; // smaller id, later microsecond of the same millisecond

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
  pool = testPool();
  account = await api.fundedAccount(0n, 'microsecond rows');
  const other = await api.fundedAccount(0n, 'microsecond peer');
  const millisecondUs = BigInt(Date.now() - 60_000) * 1000n;
  early = { id: `ffffffff${randomUUID().slice(8)}`, us: millisecondUs + 100n };
  late = { id: `00000000${randomUUID().slice(8)}`, us: millisecondUs + 900n };
  await pool.query(
    `INSERT INTO transactions (transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction,
                               status, failure_reason, failure_message, from_account_id, to_account_id)
     SELECT id, at, 'transfer', $3, $4, 100, 'debit',
            'failed', 'insufficient_funds', 'seeded for a precision test', $3, $4
     FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)`,
    [[early.id, late.id], [isoOfMicros(early.us), isoOfMicros(late.us)], account, other],
  );
  await forgetReportCounts(pool); // rows written directly, not by ledger_post()
  const stored = await pool.query<{ us: string }>(
    'SELECT (extract(epoch FROM create_time) * 1000000)::bigint AS us FROM transactions WHERE transaction_id = ANY($1::uuid[]) ORDER BY us',
    [[early.id, late.id]],
  );
  expect(stored.rows.map((row) => BigInt(row.us))).toEqual([early.us, late.us]);
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const byTimeThenIdDesc = (a: { t: bigint; id: string }, b: { t: bigint; id: string }) =>
  a.t !== b.t ? (a.t > b.t ? -1 : 1) : a.id > b.id ? -1 : a.id < b.id ? 1 : 0;

test('the report sends microseconds, and its order is the one the client computes from them', async () => {
  const pages = await listAll(ledger.client, { accountId: account });
  const rows = pages.flatMap((page) => page.transactions);
  expect(rows.map((row) => row.transactionId)).toEqual([late.id, early.id]);
  expect(rows.map((row) => microsOfTimestamp(row.createTime!))).toEqual([late.us, early.us]);
  const seen = rows.map((row) => ({ t: microsOfTimestamp(row.createTime!), id: row.transactionId }));
  expect([...seen].sort(byTimeThenIdDesc)).toEqual(seen);
});

test('GetTransaction, Transfer and the account carry the stored microsecond', async () => {
  expect((await api.getTransaction({ transactionId: late.id })).createTime).toEqual(timestampOfMicros(late.us));

  const payer = await api.fundedAccount(1_000n, 'microsecond payer');
  const posted = await api.transfer({ srcAccountId: payer, dstAccountId: account, amount: 10n });
  const opened = await api.getAccount(payer);
  const stored = await pool.query<{ transaction: string; account: string }>(
    `SELECT (SELECT (extract(epoch FROM create_time) * 1000000)::bigint FROM transactions WHERE transaction_id = $1) AS transaction,
            (SELECT (extract(epoch FROM create_time) * 1000000)::bigint FROM accounts WHERE account_id = $2) AS account`,
    [posted.transactionId, payer],
  );
  expect(microsOfTimestamp(posted.createTime!)).toBe(BigInt(stored.rows[0]!.transaction));
  expect(microsOfTimestamp(opened.createTime!)).toBe(BigInt(stored.rows[0]!.account));
});

test('a window bound between two microseconds selects exactly what the instant does', async () => {
  const at = (us: bigint, extraNanos = 0): ProtoTimestamp => {
    const timestamp = timestampOfMicros(us);
    return { seconds: timestamp.seconds, nanos: timestamp.nanos + extraNanos };
  };
  const listed = async (startTime: ProtoTimestamp, endTime?: ProtoTimestamp) =>
    idsOf(await listAll(ledger.client, { accountId: account, startTime, endTime }));
  expect(await listed(at(early.us), at(late.us, 1))).toEqual([late.id, early.id]);
  expect(await listed(at(early.us, 1), at(late.us, 1))).toEqual([late.id]);
  expect(await listed(at(early.us), at(late.us))).toEqual([early.id]);
});

test.each([
  ['start_time', -1],
  ['start_time', 1_000_000_000],
  ['end_time', -1],
  ['end_time', 1_000_000_000],
])('%s with nanos %d is INVALID_ARGUMENT, never normalised', async (field, nanos) => {
  const valid = timestampOfMicros(BigInt(Date.now() - 60_000) * 1000n);
  const request = field === 'start_time' ? { startTime: { ...valid, nanos } } : { endTime: { ...valid, nanos } };
  const error = await listAll(ledger.client, { accountId: account, ...request }).then(
    () => null,
    (e: ServiceError) => e,
  );
  expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(`^${field}: nanos`) });
});
