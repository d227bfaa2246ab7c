import type { AdvanceView } from '../src/domain/advance-types.js';
import { applyPaymentOutcome, msUntilDue, openingPayments, rollTargetOf } from '../src/domain/schedule.js';

const DISBURSED_AT = '2026-01-05T10:00:00.000Z';
const WEEK_MS = 7 * 24 * 3600 * 1000;

function advanceOf(shares: bigint[]): AdvanceView {
  const amount = shares.reduce((sum, share) => sum + share, 0n);
  return {
    advanceId: 'a',
    accountId: 'b',
    amount: String(amount),
    status: 'ACTIVE',
    disbursementTransactionId: 't',
    paidAmount: '0',
    outstandingAmount: String(amount),
    payments: openingPayments(shares, DISBURSED_AT, WEEK_MS),
  };
}

test('msUntilDue: the time left until a payment is due, never negative', () => {
  const due = Date.parse('2026-01-12T10:00:00.000Z');
  expect(msUntilDue('2026-01-12T10:00:00.000Z', due - 1_500)).toBe(1_500);
  expect(msUntilDue('2026-01-12T10:00:00.000Z', due)).toBe(0);
  expect(msUntilDue('2026-01-12T10:00:00.000Z', due + 3 * WEEK_MS)).toBe(0);
});

test('the opening schedule: payment n due n intervals after the disbursement', () => {
  expect(advanceOf([34n, 33n, 33n]).payments.map((p) => [p.number, p.dueTime, p.amount, p.status])).toEqual([
    [1, '2026-01-12T10:00:00.000Z', '34', 'SCHEDULED'],
    [2, '2026-01-19T10:00:00.000Z', '33', 'SCHEDULED'],
    [3, '2026-01-26T10:00:00.000Z', '33', 'SCHEDULED'],
  ]);
});

test('a paid payment adds to the paid total; a refused one rolls into the next, and after the last into a new one', () => {
  const view = advanceOf([34n, 33n, 33n]);
  expect(applyPaymentOutcome(view, 0, { status: 'PAID', transactionId: 't1' }, DISBURSED_AT, WEEK_MS)).toBe('PAID');
  expect(view).toMatchObject({ paidAmount: '34', outstandingAmount: '66' });

  expect(rollTargetOf(view.payments, 1, DISBURSED_AT, WEEK_MS)).toEqual({
    number: 3,
    dueTime: '2026-01-26T10:00:00.000Z',
    isNew: false,
  });
  const refused = {
    status: 'FAILED',
    transactionId: 't2',
    failureReason: 'INSUFFICIENT_FUNDS',
    failureMessage: 'no',
  } as const;
  expect(applyPaymentOutcome(view, 1, refused, DISBURSED_AT, WEEK_MS)).toBe('ROLLED');
  expect(view.payments[1]).toMatchObject({
    status: 'FAILED',
    rolledInto: 3,
    failureReason: 'INSUFFICIENT_FUNDS',
    transactionId: 't2',
  });
  expect(view.payments[2]!.amount).toBe('66');

  expect(rollTargetOf(view.payments, 2, DISBURSED_AT, WEEK_MS)).toEqual({
    number: 4,
    dueTime: '2026-02-02T10:00:00.000Z',
    isNew: true,
  });
  expect(applyPaymentOutcome(view, 2, { ...refused, transactionId: 't3' }, DISBURSED_AT, WEEK_MS)).toBe('ADDED');
  expect(view.payments[3]).toEqual({
    number: 4,
    dueTime: '2026-02-02T10:00:00.000Z',
    amount: '66',
    status: 'SCHEDULED',
    transactionId: null,
    failureReason: null,
    rolledInto: null,
  });
  // What is owed never changes by rolling: paid + scheduled still add up to the advance.
  const scheduled = view.payments
    .filter((p) => p.status === 'SCHEDULED')
    .reduce((sum, p) => sum + BigInt(p.amount), 0n);
  expect(BigInt(view.paidAmount) + scheduled).toBe(100n);
});
