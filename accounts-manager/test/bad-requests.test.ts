import { status, type ServiceError } from '@grpc/grpc-js';
import { Direction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { call, ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { storedFootprint, testPool } from './support/db.js';

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;
let rich: string; // an account with money, so only the request's own fault can fail it
let other: string;

const MAX_AMOUNT = 1_000_000_000_000n;

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
  pool = testPool();
  rich = await api.fundedAccount(MAX_AMOUNT);
  other = await api.fundedAccount(10n);
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

interface BadRequest {
  name: string;
  method: 'transfer' | 'bankTransaction' | 'createAccount' | 'getAccount' | 'getTransaction';
  request: () => Record<string, unknown>;
  code: status;
  field: string;
}

const transfer = (overrides: Record<string, unknown>) => () => ({
  requestId: randomUUID(), srcAccountId: rich, dstAccountId: other, amount: 5n, direction: Direction.DIRECTION_DEBIT, ...overrides,
});
const bank = (overrides: Record<string, unknown>) => () => ({
  requestId: randomUUID(), dstAccountId: other, amount: 5n, direction: Direction.DIRECTION_CREDIT, description: 'x', ...overrides,
});

const cases: BadRequest[] = [
  { name: 'zero amount', method: 'transfer', request: transfer({ amount: 0n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'negative amount', method: 'transfer', request: transfer({ amount: -5n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'amount above MAX_AMOUNT', method: 'transfer', request: transfer({ amount: MAX_AMOUNT + 1n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'most negative int64', method: 'transfer', request: transfer({ amount: -(2n ** 63n) }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'largest int64', method: 'transfer', request: transfer({ amount: 2n ** 63n - 1n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'same src and dst', method: 'transfer', request: () => transfer({ dstAccountId: rich })(), code: status.INVALID_ARGUMENT, field: 'dst_account_id' },
  { name: 'missing src', method: 'transfer', request: transfer({ srcAccountId: '' }), code: status.INVALID_ARGUMENT, field: 'src_account_id' },
  { name: 'malformed src', method: 'transfer', request: transfer({ srcAccountId: 'not-a-uuid' }), code: status.INVALID_ARGUMENT, field: 'src_account_id' },
  { name: 'malformed dst', method: 'transfer', request: transfer({ dstAccountId: "1' OR '1'='1" }), code: status.INVALID_ARGUMENT, field: 'dst_account_id' },
  { name: 'malformed request id', method: 'transfer', request: transfer({ requestId: 'abc' }), code: status.INVALID_ARGUMENT, field: 'request_id' },
  { name: 'unspecified direction', method: 'transfer', request: transfer({ direction: Direction.DIRECTION_UNSPECIFIED }), code: status.INVALID_ARGUMENT, field: 'direction' },
  { name: 'unknown direction number', method: 'transfer', request: transfer({ direction: 7 }), code: status.INVALID_ARGUMENT, field: 'direction' },
  { name: 'the bank account as src', method: 'transfer', request: transfer({ srcAccountId: BANK_ACCOUNT_ID }), code: status.INVALID_ARGUMENT, field: 'src_account_id' },
  { name: 'unknown dst account', method: 'transfer', request: transfer({ dstAccountId: randomUUID() }), code: status.NOT_FOUND, field: 'dst_account_id' },
  { name: 'bank: zero amount', method: 'bankTransaction', request: bank({ amount: 0n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'bank: above MAX_AMOUNT', method: 'bankTransaction', request: bank({ amount: MAX_AMOUNT + 1n }), code: status.INVALID_ARGUMENT, field: 'amount' },
  { name: 'bank: missing dst', method: 'bankTransaction', request: bank({ dstAccountId: '' }), code: status.INVALID_ARGUMENT, field: 'dst_account_id' },
  { name: 'bank: the bank itself as dst', method: 'bankTransaction', request: bank({ dstAccountId: BANK_ACCOUNT_ID }), code: status.INVALID_ARGUMENT, field: 'dst_account_id' },
  { name: 'bank: unknown direction', method: 'bankTransaction', request: bank({ direction: 3 }), code: status.INVALID_ARGUMENT, field: 'direction' },
  { name: 'bank: description too long', method: 'bankTransaction', request: bank({ description: 'x'.repeat(501) }), code: status.INVALID_ARGUMENT, field: 'description' },
  { name: 'bank: unknown account', method: 'bankTransaction', request: bank({ dstAccountId: randomUUID() }), code: status.NOT_FOUND, field: 'dst_account_id' },
  { name: 'account: empty display name', method: 'createAccount', request: () => ({ requestId: randomUUID(), displayName: '   ' }), code: status.INVALID_ARGUMENT, field: 'display_name' },
  { name: 'account: display name too long', method: 'createAccount', request: () => ({ requestId: randomUUID(), displayName: 'x'.repeat(201) }), code: status.INVALID_ARGUMENT, field: 'display_name' },
  { name: 'account: malformed request id', method: 'createAccount', request: () => ({ requestId: 'nope', displayName: 'A' }), code: status.INVALID_ARGUMENT, field: 'request_id' },
  { name: 'get account: missing id', method: 'getAccount', request: () => ({ accountId: '' }), code: status.INVALID_ARGUMENT, field: 'account_id' },
  { name: 'get account: malformed id', method: 'getAccount', request: () => ({ accountId: 'x' }), code: status.INVALID_ARGUMENT, field: 'account_id' },
  { name: 'get account: unknown id', method: 'getAccount', request: () => ({ accountId: randomUUID() }), code: status.NOT_FOUND, field: 'account_id' },
  { name: 'get transaction: no lookup', method: 'getTransaction', request: () => ({}), code: status.INVALID_ARGUMENT, field: 'transaction_id' },
  { name: 'get transaction: malformed id', method: 'getTransaction', request: () => ({ transactionId: 'x' }), code: status.INVALID_ARGUMENT, field: 'transaction_id' },
  { name: 'get transaction: malformed request id', method: 'getTransaction', request: () => ({ requestId: 'x' }), code: status.INVALID_ARGUMENT, field: 'request_id' },
  { name: 'get transaction: unknown id', method: 'getTransaction', request: () => ({ transactionId: randomUUID() }), code: status.NOT_FOUND, field: 'transaction_id' },
  { name: 'get transaction: unknown request id', method: 'getTransaction', request: () => ({ requestId: randomUUID() }), code: status.NOT_FOUND, field: 'request_id' },
];

describe('a bad request is an error that names the field and stores nothing', () => {
  it.each(cases)('$method: $name → $code naming $field', async ({ method, request, code, field }) => {
    const body = request();
    const before = await storedFootprint(pool, [rich, other]);
    const balancesBefore = [(await api.getAccount(rich)).balance, (await api.getAccount(other)).balance];

    const error = await call(ledger.client, method, body).then(() => null, (e: ServiceError) => e);
    expect(error).toMatchObject({ code, details: expect.stringMatching(new RegExp(`^${field}: `)) });
    expect(error!.metadata.get('alfabet-error-field')).toEqual([field]);

    const requestId = typeof body.requestId === 'string' ? body.requestId : undefined;
    const after = await storedFootprint(pool, [rich, other], requestId);
    expect(after.transactions).toBe(before.transactions);
    expect(after.requestRows).toBe(0);
    expect([(await api.getAccount(rich)).balance, (await api.getAccount(other)).balance]).toEqual(balancesBefore);
  });
});
