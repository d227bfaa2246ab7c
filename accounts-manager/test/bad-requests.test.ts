import { status, type ServiceError } from '@grpc/grpc-js';
import { Direction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { call, ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { storedFootprint, testPool } from './support/db.js';
import { healthCheck } from './support/ops-clients.js';
import { listAll } from './support/report-client.js';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;
let rich: string; // an account with money, so only the request's own fault can fail it
let other: string;
let snapshotToken: string; // a genuine token, for the tampered ones

const MAX_AMOUNT = 1_000_000_000_000n;

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
  pool = testPool();
  rich = await api.fundedAccount(MAX_AMOUNT);
  other = await api.fundedAccount(10n);
  snapshotToken = (await listAll(ledger.client, { pageSize: 1, accountId: rich }))[0]!.snapshotToken;
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

interface BadRequest {
  name: string;
  method: 'transfer' | 'bankTransaction' | 'createAccount' | 'getAccount' | 'getTransaction' | 'listTransactions';
  request: () => Record<string, unknown>;
  code: status;
  field: string;
}

const transfer = (overrides: Record<string, unknown>) => () => ({
  requestId: randomUUID(),
  srcAccountId: rich,
  dstAccountId: other,
  amount: 5n,
  direction: Direction.DIRECTION_DEBIT,
  ...overrides,
});
const bank = (overrides: Record<string, unknown>) => () => ({
  requestId: randomUUID(),
  dstAccountId: other,
  amount: 5n,
  direction: Direction.DIRECTION_CREDIT,
  description: 'x',
  ...overrides,
});

const DAY = 24 * 3600 * 1000;
const list = (fields: Record<string, unknown>) => () => fields;
/** The token with one character in its middle changed. */
const tampered = (token: string) => {
  const at = Math.floor(token.length / 2);
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
};

const cases: BadRequest[] = [
  {
    name: 'zero amount',
    method: 'transfer',
    request: transfer({ amount: 0n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'negative amount',
    method: 'transfer',
    request: transfer({ amount: -5n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'amount above MAX_AMOUNT',
    method: 'transfer',
    request: transfer({ amount: MAX_AMOUNT + 1n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'most negative int64',
    method: 'transfer',
    request: transfer({ amount: -(2n ** 63n) }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'largest int64',
    method: 'transfer',
    request: transfer({ amount: 2n ** 63n - 1n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'same src and dst',
    method: 'transfer',
    request: () => transfer({ dstAccountId: rich })(),
    code: status.INVALID_ARGUMENT,
    field: 'dst_account_id',
  },
  {
    name: 'missing src',
    method: 'transfer',
    request: transfer({ srcAccountId: '' }),
    code: status.INVALID_ARGUMENT,
    field: 'src_account_id',
  },
  {
    name: 'malformed src',
    method: 'transfer',
    request: transfer({ srcAccountId: 'not-a-uuid' }),
    code: status.INVALID_ARGUMENT,
    field: 'src_account_id',
  },
  {
    name: 'malformed dst',
    method: 'transfer',
    request: transfer({ dstAccountId: "1' OR '1'='1" }),
    code: status.INVALID_ARGUMENT,
    field: 'dst_account_id',
  },
  {
    name: 'malformed request id',
    method: 'transfer',
    request: transfer({ requestId: 'abc' }),
    code: status.INVALID_ARGUMENT,
    field: 'request_id',
  },
  {
    name: 'unspecified direction',
    method: 'transfer',
    request: transfer({ direction: Direction.DIRECTION_UNSPECIFIED }),
    code: status.INVALID_ARGUMENT,
    field: 'direction',
  },
  {
    name: 'unknown direction number',
    method: 'transfer',
    request: transfer({ direction: 7 }),
    code: status.INVALID_ARGUMENT,
    field: 'direction',
  },
  {
    name: 'the bank account as src',
    method: 'transfer',
    request: transfer({ srcAccountId: BANK_ACCOUNT_ID }),
    code: status.INVALID_ARGUMENT,
    field: 'src_account_id',
  },
  {
    name: 'unknown dst account',
    method: 'transfer',
    request: transfer({ dstAccountId: randomUUID() }),
    code: status.NOT_FOUND,
    field: 'dst_account_id',
  },
  {
    name: 'bank: zero amount',
    method: 'bankTransaction',
    request: bank({ amount: 0n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'bank: above MAX_AMOUNT',
    method: 'bankTransaction',
    request: bank({ amount: MAX_AMOUNT + 1n }),
    code: status.INVALID_ARGUMENT,
    field: 'amount',
  },
  {
    name: 'bank: missing dst',
    method: 'bankTransaction',
    request: bank({ dstAccountId: '' }),
    code: status.INVALID_ARGUMENT,
    field: 'dst_account_id',
  },
  {
    name: 'bank: the bank itself as dst',
    method: 'bankTransaction',
    request: bank({ dstAccountId: BANK_ACCOUNT_ID }),
    code: status.INVALID_ARGUMENT,
    field: 'dst_account_id',
  },
  {
    name: 'bank: unknown direction',
    method: 'bankTransaction',
    request: bank({ direction: 3 }),
    code: status.INVALID_ARGUMENT,
    field: 'direction',
  },
  {
    name: 'bank: description too long',
    method: 'bankTransaction',
    request: bank({ description: 'x'.repeat(501) }),
    code: status.INVALID_ARGUMENT,
    field: 'description',
  },
  {
    name: 'bank: unknown account',
    method: 'bankTransaction',
    request: bank({ dstAccountId: randomUUID() }),
    code: status.NOT_FOUND,
    field: 'dst_account_id',
  },
  {
    name: 'account: empty display name',
    method: 'createAccount',
    request: () => ({ requestId: randomUUID(), displayName: '   ' }),
    code: status.INVALID_ARGUMENT,
    field: 'display_name',
  },
  {
    name: 'account: display name too long',
    method: 'createAccount',
    request: () => ({ requestId: randomUUID(), displayName: 'x'.repeat(201) }),
    code: status.INVALID_ARGUMENT,
    field: 'display_name',
  },
  {
    name: 'account: NUL in display name',
    method: 'createAccount',
    request: () => ({ requestId: randomUUID(), displayName: 'Ada\u0000' }),
    code: status.INVALID_ARGUMENT,
    field: 'display_name',
  },
  {
    name: 'bank: control character in description',
    method: 'bankTransaction',
    request: bank({ description: 'line\u0007bell' }),
    code: status.INVALID_ARGUMENT,
    field: 'description',
  },
  {
    name: 'account: malformed request id',
    method: 'createAccount',
    request: () => ({ requestId: 'nope', displayName: 'A' }),
    code: status.INVALID_ARGUMENT,
    field: 'request_id',
  },
  {
    name: 'get account: missing id',
    method: 'getAccount',
    request: () => ({ accountId: '' }),
    code: status.INVALID_ARGUMENT,
    field: 'account_id',
  },
  {
    name: 'get account: malformed id',
    method: 'getAccount',
    request: () => ({ accountId: 'x' }),
    code: status.INVALID_ARGUMENT,
    field: 'account_id',
  },
  {
    name: 'get account: unknown id',
    method: 'getAccount',
    request: () => ({ accountId: randomUUID() }),
    code: status.NOT_FOUND,
    field: 'account_id',
  },
  {
    name: 'get transaction: no lookup',
    method: 'getTransaction',
    request: () => ({}),
    code: status.INVALID_ARGUMENT,
    field: 'transaction_id',
  },
  {
    name: 'get transaction: malformed id',
    method: 'getTransaction',
    request: () => ({ transactionId: 'x' }),
    code: status.INVALID_ARGUMENT,
    field: 'transaction_id',
  },
  {
    name: 'get transaction: malformed request id',
    method: 'getTransaction',
    request: () => ({ requestId: 'x' }),
    code: status.INVALID_ARGUMENT,
    field: 'request_id',
  },
  {
    name: 'get transaction: unknown id',
    method: 'getTransaction',
    request: () => ({ transactionId: randomUUID() }),
    code: status.NOT_FOUND,
    field: 'transaction_id',
  },
  {
    name: 'get transaction: unknown request id',
    method: 'getTransaction',
    request: () => ({ requestId: randomUUID() }),
    code: status.NOT_FOUND,
    field: 'request_id',
  },
  {
    name: 'report: start a month ago',
    method: 'listTransactions',
    request: list({ startTime: timestampOfDate(new Date(Date.now() - 30 * DAY)) }),
    code: status.INVALID_ARGUMENT,
    field: 'start_time',
  },
  {
    name: 'report: end before start',
    method: 'listTransactions',
    request: list({
      startTime: timestampOfDate(new Date(Date.now() - DAY)),
      endTime: timestampOfDate(new Date(Date.now() - 2 * DAY)),
    }),
    code: status.INVALID_ARGUMENT,
    field: 'end_time',
  },
  {
    name: 'report: page size 1001',
    method: 'listTransactions',
    request: list({ pageSize: 1001 }),
    code: status.INVALID_ARGUMENT,
    field: 'page_size',
  },
  {
    name: 'report: page size -1',
    method: 'listTransactions',
    request: list({ pageSize: -1 }),
    code: status.INVALID_ARGUMENT,
    field: 'page_size',
  },
  {
    name: 'report: page without a snapshot',
    method: 'listTransactions',
    request: list({ page: 3 }),
    code: status.INVALID_ARGUMENT,
    field: 'page',
  },
  {
    name: 'report: malformed account filter',
    method: 'listTransactions',
    request: list({ accountId: 'x' }),
    code: status.INVALID_ARGUMENT,
    field: 'account_id',
  },
  {
    name: 'report: tampered snapshot token',
    method: 'listTransactions',
    request: () => ({ snapshotToken: tampered(snapshotToken) }),
    code: status.INVALID_ARGUMENT,
    field: 'snapshot_token',
  },
  {
    name: 'report: foreign page token',
    method: 'listTransactions',
    request: list({ pageToken: 'c29tZW9uZSBlbHNlJ3MgdG9rZW4' }),
    code: status.INVALID_ARGUMENT,
    field: 'page_token',
  },
  {
    name: "report: another account's filter with the token",
    method: 'listTransactions',
    request: () => ({ snapshotToken, accountId: other }),
    code: status.INVALID_ARGUMENT,
    field: 'account_id',
  },
];

describe('a bad request is an error that names the field and stores nothing', () => {
  it.each(cases)('$method: $name → $code naming $field', async ({ method, request, code, field }) => {
    const body = request();
    const before = await storedFootprint(pool, [rich, other]);
    const balancesBefore = [(await api.getAccount(rich)).balance, (await api.getAccount(other)).balance];

    const error = await (method === 'listTransactions'
      ? listAll(ledger.client, body)
      : call(ledger.client, method, body)
    ).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(error).toMatchObject({ code, details: expect.stringMatching(new RegExp(`^${field}: `)) });
    expect(error!.metadata.get('alfabet-error-field')).toEqual([field]);

    const requestId = typeof body.requestId === 'string' ? body.requestId : undefined;
    const after = await storedFootprint(pool, [rich, other], requestId);
    expect(after.transactions).toBe(before.transactions);
    expect(after.requestRows).toBe(0);
    expect([(await api.getAccount(rich)).balance, (await api.getAccount(other)).balance]).toEqual(balancesBefore);
    expect(await healthCheck(ledger.address, 'alfabet.accounts.v1.AccountsService')).toBe('SERVING');
  });

  it('has at least 40 cases covering every RPC', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((c) => c.method))).toEqual(
      new Set(['transfer', 'bankTransaction', 'createAccount', 'getAccount', 'getTransaction', 'listTransactions']),
    );
  });

  it('refuses an oversize message before decoding it, stores nothing, and keeps serving', async () => {
    const before = await storedFootprint(pool, [rich, other]);
    const error = await call(ledger.client, 'createAccount', {
      requestId: randomUUID(),
      displayName: 'x'.repeat(5 * 1024 * 1024),
    }).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await storedFootprint(pool, [rich, other])).transactions).toBe(before.transactions);
    expect(
      Number((await pool.query('SELECT count(*) AS n FROM accounts WHERE length(display_name) > 200')).rows[0].n),
    ).toBe(0);
    expect(await healthCheck(ledger.address, 'alfabet.accounts.v1.AccountsService')).toBe('SERVING');
  });
});
