import { disbursementRequestId, paymentRequestId } from '../src/ledger/request-ids.js';
import {
  reconcileAdvance,
  type AdvanceToReconcile,
  type LedgerMovement,
} from '../src/reconciliation/reconcile-advance.js';

// The comparison of one advance with the ledger, as a pure function: every rule
// on a small advance of 3 payments, paid 1, due 2 and 3.
const advanceId = '0190f3b2-0000-7000-8000-000000000001';
const accountId = '0190f3b2-0000-7000-8000-0000000000aa';
const DAY = 24 * 3600 * 1000;
const now = new Date('2026-11-25T12:00:00Z');
const at = (days: number) => new Date(now.getTime() + days * DAY);
const options = { now, stuckAfterMs: 2 * DAY };

function healthy(): { advance: AdvanceToReconcile; movements: LedgerMovement[] } {
  const advance: AdvanceToReconcile = {
    advanceId,
    accountId,
    amount: 300n,
    status: 'ACTIVE',
    createTime: at(-8),
    disbursementTransactionId: 'tx-d',
    payments: [
      { number: 1, amount: 100n, status: 'PAID', dueTime: at(-1), transactionId: 'tx-1', rolledInto: null },
      { number: 2, amount: 100n, status: 'SCHEDULED', dueTime: at(6), transactionId: null, rolledInto: null },
      { number: 3, amount: 100n, status: 'SCHEDULED', dueTime: at(13), transactionId: null, rolledInto: null },
    ],
  };
  const movement = (
    transactionId: string,
    requestId: string,
    direction: 'CREDIT' | 'DEBIT',
    amount: bigint,
    description: string,
  ): LedgerMovement => ({
    transactionId,
    requestId,
    advanceId,
    accountId,
    direction,
    amount,
    status: 'SUCCESS',
    description,
    createTime: at(-1),
  });
  return {
    advance,
    movements: [
      movement('tx-d', disbursementRequestId(advanceId), 'CREDIT', 300n, `advance ${advanceId}: disbursement`),
      movement('tx-1', paymentRequestId(advanceId, 1), 'DEBIT', 100n, `advance ${advanceId}: payment 1`),
    ],
  };
}

const kindsOf = (advance: AdvanceToReconcile, movements: LedgerMovement[]) =>
  reconcileAdvance(advance, movements, options).map((f) => `${f.kind} ${f.subject}`);

test('a healthy advance raises nothing', () => {
  const { advance, movements } = healthy();
  expect(kindsOf(advance, movements)).toEqual([]);
});

test('payments that do not add up', () => {
  const { advance, movements } = healthy();
  advance.payments[2]!.amount = 101n;
  expect(kindsOf(advance, movements)).toEqual(['PAYMENTS_DO_NOT_ADD_UP schedule']);
});

test('a failed payment rolled into nothing', () => {
  const { advance, movements } = healthy();
  advance.payments[2]!.amount = 200n;
  Object.assign(advance.payments[1]!, { status: 'FAILED', transactionId: 'tx-2', rolledInto: 9 });
  movements.push({
    ...movements[1]!,
    transactionId: 'tx-2',
    requestId: paymentRequestId(advanceId, 2),
    status: 'FAILED',
    description: `advance ${advanceId}: payment 2`,
  });
  expect(kindsOf(advance, movements)).toEqual(['PAYMENTS_DO_NOT_ADD_UP schedule']);
});

test("a stray debit naming the advance is found; a reversed one is not; the bank's other movements are not seen at all", () => {
  const { advance, movements } = healthy();
  const stray: LedgerMovement = {
    ...movements[1]!,
    transactionId: 'tx-stray',
    requestId: 'f00d0000-0000-4000-8000-000000000000',
    amount: 1n,
  };
  expect(kindsOf(advance, [...movements, stray])).toEqual(['LEDGER_MOVEMENT_WITHOUT_PAYMENT ledger tx-stray']);
  const reversal: LedgerMovement = {
    ...stray,
    transactionId: 'tx-rev',
    requestId: null,
    direction: 'CREDIT',
    description: `advance ${advanceId}: reversal of tx-stray`,
  };
  expect(kindsOf(advance, [...movements, stray, reversal])).toEqual([]);
  // A "reversal" of the wrong amount settles nothing: both are strays.
  expect(kindsOf(advance, [...movements, stray, { ...reversal, amount: 2n }])).toHaveLength(2);
});

test('FAILED here but SUCCESS in the ledger is a mismatch (the customer was charged, and the amount rolled forward)', () => {
  const { advance, movements } = healthy();
  Object.assign(advance.payments[0]!, { status: 'FAILED', rolledInto: 2 });
  advance.payments[1]!.amount = 200n;
  expect(kindsOf(advance, movements)).toEqual(['PAYMENT_LEDGER_MISMATCH payment 1']);
});

test('a PAID payment the ledger does not hold, or holds for another amount or account', () => {
  const { advance, movements } = healthy();
  expect(kindsOf(advance, [movements[0]!])).toEqual(['PAYMENT_WITHOUT_LEDGER_MOVEMENT payment 1']);
  expect(kindsOf(advance, [movements[0]!, { ...movements[1]!, amount: 99n }])).toEqual([
    'PAYMENT_LEDGER_MISMATCH payment 1',
  ]);
  expect(kindsOf(advance, [movements[0]!, { ...movements[1]!, accountId: 'someone-else' }])).toEqual([
    'PAYMENT_LEDGER_MISMATCH payment 1',
  ]);
});

test('a SCHEDULED payment the ledger already took', () => {
  const { advance, movements } = healthy();
  const early: LedgerMovement = { ...movements[1]!, transactionId: 'tx-2', requestId: paymentRequestId(advanceId, 2) };
  expect(kindsOf(advance, [...movements, early])).toEqual(['PAYMENT_LEDGER_MISMATCH payment 2']);
});

test('the disbursement: missing, or recorded failed while the ledger lent the money', () => {
  const { advance, movements } = healthy();
  expect(kindsOf(advance, [movements[1]!])).toEqual(['PAYMENT_WITHOUT_LEDGER_MOVEMENT disbursement']);
  const failed: AdvanceToReconcile = { ...advance, status: 'DISBURSEMENT_FAILED', payments: [] };
  expect(kindsOf(failed, [movements[0]!])).toEqual(['PAYMENT_LEDGER_MISMATCH disbursement']);
});

test('stuck: a payment SCHEDULED or PROCESSING past due by more than stuckAfter, an advance DISBURSING too long', () => {
  const { advance, movements } = healthy();
  Object.assign(advance.payments[1]!, { status: 'PROCESSING', dueTime: at(-3) });
  expect(kindsOf(advance, movements)).toEqual(['PAYMENT_STUCK payment 2']);
  advance.payments[1]!.dueTime = at(-1); // one day late: not yet stuck
  expect(kindsOf(advance, movements)).toEqual([]);
  const disbursing: AdvanceToReconcile = {
    ...advance,
    status: 'DISBURSING',
    disbursementTransactionId: null,
    payments: [],
    createTime: at(-3),
  };
  expect(kindsOf(disbursing, [])).toEqual(['ADVANCE_STUCK disbursement']);
});

test('a REPAID advance must have been paid in full', () => {
  const { advance, movements } = healthy();
  const repaid: AdvanceToReconcile = { ...advance, status: 'REPAID', payments: [advance.payments[0]!] };
  expect(kindsOf(repaid, movements)).toEqual(['PAYMENTS_DO_NOT_ADD_UP schedule']);
});
