import { status, type ServiceError } from '@grpc/grpc-js';
import { Direction, FailureReason, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { ledgerApi, startTestLedger, type BatchItemRequest, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';

/**
 * BatchTransfer (DESIGN.md §3): each item as if sent alone, in request order;
 * independent or all-or-nothing; the batch's key replays the whole answer and
 * each item's key replays the item, also for a lone Transfer; a bad batch
 * stores nothing; racing duplicates apply once and batches never deadlock.
 */
const MAX_BATCH_SIZE = 20;
const { SUCCESS, FAILED } = {
  SUCCESS: TransactionStatus.TRANSACTION_STATUS_SUCCESS,
  FAILED: TransactionStatus.TRANSACTION_STATUS_FAILED,
};

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;

beforeAll(async () => {
  ledger = await startTestLedger({ MAX_BATCH_SIZE: String(MAX_BATCH_SIZE) });
  api = ledgerApi(ledger.client);
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const balances = async (...ids: string[]) => Promise.all(ids.map(async (id) => (await api.getAccount(id)).balance));
const statuses = (transactions: Transaction[]) => transactions.map((t) => [t.status, t.failureReason]);
const item = (src: string, dst: string, amount: bigint, requestId = randomUUID()): BatchItemRequest => ({
  srcAccountId: src,
  dstAccountId: dst,
  amount,
  requestId,
});

/** Every row and key the given accounts and request ids have in the ledger: what a refused batch must not change. */
async function footprint(accounts: string[], requestIds: string[]) {
  const { rows } = await pool.query<{ moves: number; keys: number; batches: number }>(
    `SELECT (SELECT count(*)::int FROM transactions WHERE from_account_id = ANY($1::uuid[]) OR to_account_id = ANY($1::uuid[])) AS moves,
            (SELECT count(*)::int FROM transaction_requests WHERE request_id::text = ANY($2::text[])) AS keys,
            (SELECT count(*)::int FROM batch_requests WHERE request_id::text = ANY($2::text[])) AS batches`,
    [accounts, requestIds],
  );
  return { ...rows[0]!, balances: await balances(...accounts) };
}

describe('BatchTransfer, atomic = false', () => {
  it('applies the items in request order, each on its own, and answers them in that order', async () => {
    const [a, b, c] = [await api.fundedAccount(100n), await api.fundedAccount(0n), await api.fundedAccount(0n)];
    const items = [
      item(a, b, 150n), // fails: a holds 100
      item(a, b, 100n), // a → b
      item(b, c, 60n), // b now holds 100: succeeds
      item(c, a, 61n), // c holds 60: fails
      { ...item(a, c, 30n), direction: Direction.DIRECTION_CREDIT }, // c → a
    ];
    const answer = await api.batchTransfer({ requestId: randomUUID(), transfers: items });

    expect(statuses(answer)).toEqual([
      [FAILED, FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS],
      [SUCCESS, FailureReason.FAILURE_REASON_UNSPECIFIED],
      [SUCCESS, FailureReason.FAILURE_REASON_UNSPECIFIED],
      [FAILED, FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS],
      [SUCCESS, FailureReason.FAILURE_REASON_UNSPECIFIED],
    ]);
    expect(answer.map((t) => [t.requestId, t.srcAccountId, t.dstAccountId, t.amount])).toEqual(
      items.map((i) => [i.requestId, i.srcAccountId, i.dstAccountId, i.amount]),
    );
    expect(await balances(a, b, c)).toEqual([30n, 40n, 30n]);
    // Each item is stored as the transfer it is, found by its own request_id.
    for (const [index, transaction] of answer.entries())
      expect(await api.getTransaction({ requestId: items[index]!.requestId! })).toEqual(transaction);
  });

  it('never takes a balance below zero at any step, even when a later item would refill it', async () => {
    const [a, b] = [await api.fundedAccount(10n), await api.fundedAccount(100n)];
    const answer = await api.batchTransfer({ transfers: [item(a, b, 50n), item(b, a, 100n), item(a, b, 50n)] });
    expect(answer.map((t) => t.status)).toEqual([FAILED, SUCCESS, SUCCESS]);
    expect(await balances(a, b)).toEqual([60n, 50n]);
  });
});

describe('BatchTransfer, atomic = true', () => {
  it('moves all the money when every item succeeds', async () => {
    const [a, b, c] = [await api.fundedAccount(100n), await api.fundedAccount(0n), await api.fundedAccount(0n)];
    const answer = await api.batchTransfer({ atomic: true, transfers: [item(a, b, 70n), item(b, c, 70n)] });
    expect(answer.map((t) => t.status)).toEqual([SUCCESS, SUCCESS]);
    expect(await balances(a, b, c)).toEqual([30n, 0n, 70n]);
  });

  it('moves nothing when one item would fail: the culprit keeps its reason, every other item is BATCH_ABORTED', async () => {
    const [a, b, c] = [await api.fundedAccount(100n), await api.fundedAccount(0n), await api.fundedAccount(5n)];
    const items = [item(a, b, 70n), item(b, c, 70n), item(c, a, 80n), item(a, c, 1n)];
    const answer = await api.batchTransfer({ atomic: true, requestId: randomUUID(), transfers: items });

    expect(statuses(answer)).toEqual([
      [FAILED, FailureReason.FAILURE_REASON_BATCH_ABORTED],
      [FAILED, FailureReason.FAILURE_REASON_BATCH_ABORTED],
      [FAILED, FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS], // c holds 75 by then, not 80
      [FAILED, FailureReason.FAILURE_REASON_BATCH_ABORTED],
    ]);
    expect(answer[0]!.failureMessage).toContain('transfers[2]');
    expect(await balances(a, b, c)).toEqual([100n, 0n, 5n]);
    // Stored FAILED, each under its own key; a lone Transfer with one replays it.
    const stored = await api.getTransaction({ requestId: items[1]!.requestId! });
    expect(stored).toEqual(answer[1]);
    expect(await api.transfer(items[1]!)).toEqual(answer[1]);
    expect(await balances(a, b, c)).toEqual([100n, 0n, 5n]);
  });

  it('aborts its new items when one item replays a FAILED transaction', async () => {
    const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
    const failedBefore = item(a, b, 1_000n);
    expect((await api.transfer(failedBefore)).status).toBe(FAILED);
    const answer = await api.batchTransfer({ atomic: true, transfers: [item(a, b, 10n), failedBefore] });
    expect(statuses(answer)).toEqual([
      [FAILED, FailureReason.FAILURE_REASON_BATCH_ABORTED],
      [FAILED, FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS],
    ]);
    expect(answer[0]!.failureMessage).toMatch(/transfers\[1\] had already failed/);
    expect(await balances(a, b)).toEqual([100n, 0n]);
  });
});

describe('BatchTransfer idempotency', () => {
  it("replays the whole answer for the batch's request_id and moves nothing again", async () => {
    const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
    const batch = { requestId: randomUUID(), transfers: [item(a, b, 30n), item(a, b, 80n), item(b, a, 5n)] };
    const first = await api.batchTransfer(batch);
    const again = await api.batchTransfer(batch);
    expect(again).toEqual(first);
    expect(await balances(a, b)).toEqual([75n, 25n]);

    // The same key with other parameters: ALREADY_EXISTS naming it, nothing stored.
    const variants = [
      { ...batch, atomic: true },
      { ...batch, transfers: batch.transfers.slice(0, 2) },
      { ...batch, transfers: [batch.transfers[0]!, { ...batch.transfers[1]!, amount: 81n }, batch.transfers[2]!] },
      { ...batch, transfers: [batch.transfers[0]!, batch.transfers[1]!, { ...batch.transfers[2]!, requestId: '' }] },
    ];
    const before = await footprint([a, b], [batch.requestId]);
    for (const variant of variants)
      await expect(api.batchTransfer(variant)).rejects.toMatchObject({
        code: status.ALREADY_EXISTS,
        details: expect.stringMatching(/^request_id: /),
      });
    expect(await footprint([a, b], [batch.requestId])).toEqual(before);
  });

  it("replays an item whose request_id was used before, and a lone Transfer replays a batch's item", async () => {
    const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
    const lone = item(a, b, 10n);
    const loneAnswer = await api.transfer(lone);
    const fresh = item(a, b, 20n);
    const answer = await api.batchTransfer({ transfers: [fresh, lone] });
    expect(answer[1]).toEqual(loneAnswer); // the same transaction, nothing moved for it again
    expect(await balances(a, b)).toEqual([70n, 30n]);

    expect(await api.transfer(fresh)).toEqual(answer[0]);
    expect(await api.getTransaction({ requestId: fresh.requestId! })).toEqual(answer[0]);
    await expect(api.transfer({ ...fresh, amount: 21n })).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    expect(await balances(a, b)).toEqual([70n, 30n]);
  });

  it("is ALREADY_EXISTS naming the item when an item's request_id was used for another request, and stores nothing", async () => {
    const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
    const lone = item(a, b, 10n);
    const loneAnswer = await api.transfer(lone);
    const batch = { requestId: randomUUID(), transfers: [item(a, b, 1n), item(a, b, 2n), { ...lone, amount: 11n }] };
    const keys = [batch.requestId, ...batch.transfers.map((i) => i.requestId!)];
    const before = await footprint([a, b], keys);
    await expect(api.batchTransfer(batch)).rejects.toMatchObject({
      code: status.ALREADY_EXISTS,
      details: expect.stringContaining(
        `transfers[2].request_id: was already used for another request (transaction ${loneAnswer.transactionId})`,
      ),
    });
    expect(await footprint([a, b], keys)).toEqual(before);
  });
});

describe('a bad batch is refused whole and stores nothing', () => {
  let rich: string;
  let other: string;
  beforeAll(async () => {
    rich = await api.fundedAccount(1_000n);
    other = await api.fundedAccount(0n);
  });
  const good = () => item(rich, other, 5n);
  const withBad = (bad: Partial<BatchItemRequest>) => [good(), good(), good(), { ...good(), ...bad }, good()];

  const { INVALID_ARGUMENT, NOT_FOUND } = status;
  type Batch = () => { requestId?: string; transfers: BatchItemRequest[] };
  const bad = (what: string, code: status, field: string, batch: Batch) => ({ what, code, field, batch });
  it.each([
    bad('empty', INVALID_ARGUMENT, 'transfers', () => ({ transfers: [] })),
    bad('oversize', INVALID_ARGUMENT, 'transfers', () => ({
      transfers: Array.from({ length: MAX_BATCH_SIZE + 1 }, good),
    })),
    bad('a zero amount', INVALID_ARGUMENT, 'transfers[3].amount', () => ({ transfers: withBad({ amount: 0n }) })),
    bad('a negative amount', INVALID_ARGUMENT, 'transfers[3].amount', () => ({ transfers: withBad({ amount: -4n }) })),
    bad('an amount over MAX_AMOUNT', INVALID_ARGUMENT, 'transfers[3].amount', () => ({
      transfers: withBad({ amount: 10n ** 12n + 1n }),
    })),
    bad('the same src and dst', INVALID_ARGUMENT, 'transfers[3].dst_account_id', () => ({
      transfers: withBad({ dstAccountId: rich }),
    })),
    bad('a malformed account id', INVALID_ARGUMENT, 'transfers[3].src_account_id', () => ({
      transfers: withBad({ srcAccountId: 'nope' }),
    })),
    bad('a malformed item request_id', INVALID_ARGUMENT, 'transfers[3].request_id', () => ({
      transfers: withBad({ requestId: 'nope' }),
    })),
    bad('an unspecified direction', INVALID_ARGUMENT, 'transfers[3].direction', () => ({
      transfers: withBad({ direction: Direction.DIRECTION_UNSPECIFIED }),
    })),
    bad("the bank's account", INVALID_ARGUMENT, 'transfers[3].src_account_id', () => ({
      transfers: withBad({ srcAccountId: BANK_ACCOUNT_ID }),
    })),
    bad('a malformed batch request_id', INVALID_ARGUMENT, 'request_id', () => ({
      requestId: 'nope',
      transfers: [good()],
    })),
    bad('an unknown dst account', NOT_FOUND, 'transfers[3].dst_account_id', () => ({
      transfers: withBad({ dstAccountId: randomUUID() }),
    })),
    bad('an unknown src account', NOT_FOUND, 'transfers[3].src_account_id', () => ({
      transfers: withBad({ srcAccountId: randomUUID() }),
    })),
  ])('$what: refused naming $field', async ({ code, field, batch }) => {
    const request = { requestId: randomUUID(), ...batch() };
    const keys = [request.requestId, ...request.transfers.map((i) => i.requestId ?? '')];
    const before = await footprint([rich, other], keys);
    const escaped = field.replace(/[[\].]/g, (c) => `\\${c}`);
    const error = await api.batchTransfer(request).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(error && { code: error.code, details: error.details }).toEqual({
      code,
      details: expect.stringMatching(new RegExp(`^${escaped}: `)),
    });
    expect(error!.metadata.get('alfabet-error-field')).toEqual([field]);
    expect(await footprint([rich, other], keys)).toEqual(before);
  });

  it('two items with one request_id: INVALID_ARGUMENT naming the second, nothing stored', async () => {
    const transfers = [good(), good(), good()];
    transfers[2] = { ...transfers[2]!, requestId: transfers[0]!.requestId };
    const keys = transfers.map((i) => i.requestId!);
    const before = await footprint([rich, other], keys);
    await expect(api.batchTransfer({ transfers })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^transfers\[2\]\.request_id: repeats transfers\[0\]\.request_id/),
    });
    expect(await footprint([rich, other], keys)).toEqual(before);
  });
});

describe('BatchTransfer under concurrency', () => {
  it('applies once when duplicate batches race, and every racer gets the same answer', async () => {
    const [a, b] = [await api.fundedAccount(1_000n), await api.fundedAccount(0n)];
    const batch = { requestId: randomUUID(), transfers: Array.from({ length: 10 }, () => item(a, b, 7n)) };
    const answers = await Promise.all(Array.from({ length: 12 }, () => api.batchTransfer(batch)));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(await balances(a, b)).toEqual([930n, 70n]);
  });

  it('applies each item once when batches with overlapping item keys race', async () => {
    const [a, b] = [await api.fundedAccount(1_000n), await api.fundedAccount(0n)];
    const shared = Array.from({ length: 6 }, () => item(a, b, 3n));
    // Each racer: its own batch key, its own item, and the shared items in another order.
    const racers = Array.from({ length: 10 }, (_, r) => ({
      requestId: randomUUID(),
      transfers: [item(a, b, 1n), ...shared.slice(r % 6), ...shared.slice(0, r % 6)],
    }));
    const answers = await Promise.all(racers.map((batch) => api.batchTransfer(batch)));
    const byKey = new Map<string, Set<string>>();
    for (const answer of answers)
      for (const t of answer) byKey.set(t.requestId, (byKey.get(t.requestId) ?? new Set()).add(t.transactionId));
    for (const ids of byKey.values()) expect(ids.size).toBe(1);
    const stored = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM transactions WHERE request_id = ANY($1::uuid[])',
      [[...byKey.keys()]],
    );
    expect(stored.rows[0]!.n).toBe(16); // ten racers' own items and the six shared ones, once each
    expect(await balances(a, b)).toEqual([1_000n - 10n - 18n, 28n]);
  });

  it('never deadlocks: batches over the same accounts in opposite orders, with lone transfers and bank transactions', async () => {
    const accounts = await Promise.all(Array.from({ length: 6 }, (_, i) => api.fundedAccount(1_000n, `deadlock ${i}`)));
    const pick = (i: number) => accounts[i % accounts.length]!;
    const work = Array.from({ length: 30 }, (_, k) => {
      if (k % 3 === 0)
        return api.batchTransfer({
          atomic: k % 2 === 0,
          transfers: Array.from({ length: 8 }, (_, i) => item(pick(k + i), pick(k + i + 1 + (k % 4)), 5n)),
        });
      if (k % 3 === 1)
        return api.batchTransfer({
          transfers: Array.from({ length: 8 }, (_, i) => item(pick(k + 8 - i), pick(k + 3 - i + 8), 5n)),
        });
      return Promise.all([
        api.transfer(item(pick(k), pick(k + 1), 3n)),
        api.bankTransaction({ dstAccountId: pick(k), amount: 2n, direction: Direction.DIRECTION_CREDIT }),
      ]);
    });
    await Promise.all(work);
    expect(await verifyLedger(pool)).toMatchObject({ ok: true, mismatchedAccounts: [], negativeAccounts: [] });
  });
});
