import { status } from '@grpc/grpc-js';
import { Direction, FailureReason, TransactionKind, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
});
afterAll(async () => ledger.stop());

describe('CreateAccount and GetAccount', () => {
  it('opens an account with a zero balance and reads it back', async () => {
    const account = await api.createAccount('Ada Lovelace');
    expect(account.accountId).toMatch(/^[0-9a-f-]{36}$/);
    expect(account.displayName).toBe('Ada Lovelace');
    expect(account.balance).toBe(0n);
    expect(account.createTime).toEqual({ seconds: expect.any(BigInt), nanos: expect.any(Number) });
    expect(await api.getAccount(account.accountId)).toEqual(account);
  });

  it('returns the same account for a repeated request_id, and ALREADY_EXISTS with another name', async () => {
    const requestId = randomUUID();
    const first = await api.createAccount('Grace', requestId);
    expect(await api.createAccount('Grace', requestId)).toEqual(first);
    await expect(api.createAccount('Not Grace', requestId)).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
  });

  it('opens exactly one account when calls with one request_id race', async () => {
    const requestId = randomUUID();
    const accounts = await Promise.all(Array.from({ length: 10 }, () => api.createAccount('Racer', requestId)));
    expect(new Set(accounts.map((a) => a.accountId)).size).toBe(1);
  });

  it('accepts upper-case UUIDs as the same id', async () => {
    const account = await api.createAccount('Case');
    expect((await api.getAccount(account.accountId.toUpperCase())).accountId).toBe(account.accountId);
  });

  it("shows the bank's system account", async () => {
    expect((await api.getAccount(BANK_ACCOUNT_ID)).displayName).toMatch(/bank/i);
  });
});

describe('BankTransaction', () => {
  it('CREDIT gives money to the account from the bank; DEBIT takes it back', async () => {
    const account = (await api.createAccount('Borrower')).accountId;
    const credit = await api.bankTransaction({
      dstAccountId: account,
      amount: 1_000n,
      direction: Direction.DIRECTION_CREDIT,
      description: 'advance',
    });
    expect(credit).toMatchObject({
      kind: TransactionKind.TRANSACTION_KIND_BANK,
      status: TransactionStatus.TRANSACTION_STATUS_SUCCESS,
      srcAccountId: '',
      dstAccountId: account,
      amount: 1_000n,
      description: 'advance',
    });
    const debit = await api.bankTransaction({
      dstAccountId: account,
      amount: 400n,
      direction: Direction.DIRECTION_DEBIT,
    });
    expect(debit.status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
    expect((await api.getAccount(account)).balance).toBe(600n);
  });

  it('DEBIT beyond the balance is a stored FAILED answer that moves nothing', async () => {
    const account = await api.fundedAccount(100n);
    const requestId = randomUUID();
    const debit = await api.bankTransaction({
      requestId,
      dstAccountId: account,
      amount: 101n,
      direction: Direction.DIRECTION_DEBIT,
    });
    expect(debit.status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
    expect(debit.failureReason).toBe(FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS);
    expect((await api.getAccount(account)).balance).toBe(100n);
    expect(await api.getTransaction({ requestId })).toEqual(debit);
  });

  it('a repeated request_id replays the first outcome and moves the money once', async () => {
    const account = (await api.createAccount('Repeat')).accountId;
    const requestId = randomUUID();
    const request = {
      requestId,
      dstAccountId: account,
      amount: 250n,
      direction: Direction.DIRECTION_CREDIT,
      description: 'once',
    };
    const results = await Promise.all([
      api.bankTransaction(request),
      api.bankTransaction(request),
      api.bankTransaction(request),
    ]);
    expect(new Set(results.map((r) => r.transactionId)).size).toBe(1);
    expect((await api.getAccount(account)).balance).toBe(250n);
  });

  it('finds a transaction by its id and by its request_id', async () => {
    const account = (await api.createAccount('Lookup')).accountId;
    const requestId = randomUUID();
    const credit = await api.bankTransaction({
      requestId,
      dstAccountId: account,
      amount: 5n,
      direction: Direction.DIRECTION_CREDIT,
    });
    expect(await api.getTransaction({ transactionId: credit.transactionId })).toEqual(credit);
    expect(await api.getTransaction({ requestId })).toEqual(credit);
  });
});
