import { status } from '@grpc/grpc-js';
import { Direction, FailureReason, TransactionKind, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
});
afterAll(async () => ledger.stop());

describe('Transfer', () => {
  it('moves the amount from src to dst on DEBIT and records a SUCCESS transaction', async () => {
    const src = await api.fundedAccount(1_000n);
    const dst = await api.fundedAccount(0n);
    const tx = await api.transfer({ srcAccountId: src, dstAccountId: dst, amount: 300n });

    expect(tx.status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
    expect(tx.kind).toBe(TransactionKind.TRANSACTION_KIND_TRANSFER);
    expect(tx.failureReason).toBe(FailureReason.FAILURE_REASON_UNSPECIFIED);
    expect(tx.amount).toBe(300n);
    expect((await api.getAccount(src)).balance).toBe(700n);
    expect((await api.getAccount(dst)).balance).toBe(300n);
  });

  it('moves the amount from dst to src on CREDIT', async () => {
    const src = await api.fundedAccount(0n);
    const dst = await api.fundedAccount(500n);
    await api.transfer({ srcAccountId: src, dstAccountId: dst, amount: 200n, direction: Direction.DIRECTION_CREDIT });
    expect((await api.getAccount(src)).balance).toBe(200n);
    expect((await api.getAccount(dst)).balance).toBe(300n);
  });

  it('answers OK with a stored FAILED transaction when funds are short, and moves nothing', async () => {
    const src = await api.fundedAccount(100n);
    const dst = await api.fundedAccount(0n);
    const tx = await api.transfer({ srcAccountId: src, dstAccountId: dst, amount: 101n });

    expect(tx.status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
    expect(tx.failureReason).toBe(FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS);
    expect(tx.failureMessage).toMatch(/does not hold/);
    expect((await api.getAccount(src)).balance).toBe(100n);
    expect((await api.getAccount(dst)).balance).toBe(0n);
    const stored = await api.getTransaction({ transactionId: tx.transactionId });
    expect(stored.status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
  });

  it('lets a balance reach exactly zero but never below', async () => {
    const src = await api.fundedAccount(50n);
    const dst = await api.fundedAccount(0n);
    expect((await api.transfer({ srcAccountId: src, dstAccountId: dst, amount: 50n })).status).toBe(
      TransactionStatus.TRANSACTION_STATUS_SUCCESS,
    );
    expect((await api.transfer({ srcAccountId: src, dstAccountId: dst, amount: 1n })).status).toBe(
      TransactionStatus.TRANSACTION_STATUS_FAILED,
    );
    expect((await api.getAccount(src)).balance).toBe(0n);
  });

  it('is NOT_FOUND for an unknown account, naming the field, and stores nothing', async () => {
    const src = await api.fundedAccount(100n);
    const requestId = randomUUID();
    const unknown = randomUUID();
    await expect(
      api.transfer({ requestId, srcAccountId: src, dstAccountId: unknown, amount: 1n }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringContaining('dst_account_id') });
    await expect(api.transfer({ srcAccountId: unknown, dstAccountId: src, amount: 1n })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining('src_account_id'),
    });
    await expect(api.getTransaction({ requestId })).rejects.toMatchObject({ code: status.NOT_FOUND });
    expect((await api.getAccount(src)).balance).toBe(100n);
  });
});

describe('Transfer idempotency', () => {
  it('returns the very same transaction for a repeated request_id and moves the money once', async () => {
    const src = await api.fundedAccount(1_000n);
    const dst = await api.fundedAccount(0n);
    const requestId = randomUUID();
    const first = await api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 100n });
    const again = await api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 100n });

    expect(again).toEqual(first);
    expect((await api.getAccount(src)).balance).toBe(900n);
    expect((await api.getTransaction({ requestId })).transactionId).toBe(first.transactionId);
  });

  it('replays a FAILED outcome as FAILED even after funds arrive', async () => {
    const src = await api.fundedAccount(10n);
    const dst = await api.fundedAccount(0n);
    const requestId = randomUUID();
    const first = await api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 50n });
    await api.bankTransaction({ dstAccountId: src, amount: 100n, direction: Direction.DIRECTION_CREDIT });
    const again = await api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 50n });

    expect(first.status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
    expect(again).toEqual(first);
    expect((await api.getAccount(src)).balance).toBe(110n);
  });

  it('is ALREADY_EXISTS when the request_id is reused with other parameters', async () => {
    const src = await api.fundedAccount(1_000n);
    const dst = await api.fundedAccount(0n);
    const requestId = randomUUID();
    await api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 100n });
    await expect(api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 101n })).rejects.toMatchObject(
      { code: status.ALREADY_EXISTS, details: expect.stringContaining('request_id') },
    );
    await expect(
      api.transfer({
        requestId,
        srcAccountId: src,
        dstAccountId: dst,
        amount: 100n,
        direction: Direction.DIRECTION_CREDIT,
      }),
    ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    await expect(
      api.bankTransaction({ requestId, dstAccountId: dst, amount: 100n, direction: Direction.DIRECTION_DEBIT }),
    ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    expect((await api.getAccount(src)).balance).toBe(900n);
  });

  it('applies once when many calls with one request_id race', async () => {
    const src = await api.fundedAccount(1_000n);
    const dst = await api.fundedAccount(0n);
    const requestId = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => api.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount: 10n })),
    );

    expect(new Set(results.map((r) => r.transactionId)).size).toBe(1);
    expect((await api.getAccount(src)).balance).toBe(990n);
    expect((await api.getAccount(dst)).balance).toBe(10n);
  });
});
