/**
 * Schedule arithmetic, shared by the workflow and the activities that write
 * the schedule to the database: deterministic, no clock (the caller passes
 * the time), no IO.
 */
// Types only: nothing but arithmetic enters the workflow bundle from here.
import type { AdvanceView, PaymentOutcome, PaymentView } from './advance-types.js';

/**
 * Splits `amount` minor units into `installments` whole-unit payments that add
 * up exactly; the remainder goes one unit each to the first payments, so no
 * payment differs from another by more than one unit.
 */
export function splitIntoInstallments(amount: bigint, installments: number): bigint[] {
  if (amount <= 0n) throw new RangeError(`amount must be positive, got ${amount}`);
  if (!Number.isInteger(installments) || installments < 1)
    throw new RangeError(`installments must be a positive integer, got ${installments}`);
  const count = BigInt(installments);
  const base = amount / count;
  const remainder = amount % count;
  return (
    Array.from({ length: installments }, (_, index) => base + (BigInt(index) < remainder ? 1n : 0n))
      // An advance smaller than its installment count leaves trailing zero payments: drop them.
      .filter((share) => share > 0n)
  );
}

/** When payment `number` is due: `number` intervals after the disbursement. */
export function dueTimeOf(disbursedAt: string, number: number, paymentIntervalMs: number): string {
  return new Date(Date.parse(disbursedAt) + number * paymentIntervalMs).toISOString();
}

/** 123456 → "1,234.56", for summaries people read in the Web UI. */
export function formatMinorUnits(amount: bigint | string): string {
  const value = BigInt(amount);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** The schedule an advance opens with once disbursed: payment n due n intervals after `disbursedAt`. */
export function openingPayments(
  shares: readonly bigint[],
  disbursedAt: string,
  paymentIntervalMs: number,
): PaymentView[] {
  return shares.map((share, index) => scheduledPayment(index + 1, String(share), disbursedAt, paymentIntervalMs));
}

function scheduledPayment(number: number, amount: string, disbursedAt: string, paymentIntervalMs: number): PaymentView {
  return {
    number,
    dueTime: dueTimeOf(disbursedAt, number, paymentIntervalMs),
    amount,
    status: 'SCHEDULED',
    transactionId: null,
    failureReason: null,
    rolledInto: null,
  };
}

/** Milliseconds from `nowMs` until `dueTime`; 0 when it is already due (never negative). */
export function msUntilDue(dueTime: string, nowMs: number): number {
  return Math.max(0, Date.parse(dueTime) - nowMs);
}

/**
 * Where payment `index`'s amount goes if the ledger refuses it: the next
 * payment, or, after the last, a new payment one interval after it.
 */
export function rollTargetOf(
  payments: readonly PaymentView[],
  index: number,
  disbursedAt: string,
  paymentIntervalMs: number,
): { number: number; dueTime: string; isNew: boolean } {
  const following = payments[index + 1];
  if (following) return { number: following.number, dueTime: following.dueTime, isNew: false };
  const number = payments[index]!.number + 1;
  return { number, dueTime: dueTimeOf(disbursedAt, number, paymentIntervalMs), isNew: true };
}

/**
 * Applies the ledger's answer for payment `index` to the advance: PAID adds
 * to the paid total; FAILED rolls the amount into the next payment, or into a
 * new one after the last (returned as 'ADDED': the advance is now overdue).
 * The same arithmetic recordPaymentOutcome writes to the projection.
 */
export function applyPaymentOutcome(
  view: AdvanceView,
  index: number,
  outcome: PaymentOutcome,
  disbursedAt: string,
  paymentIntervalMs: number,
): 'PAID' | 'ROLLED' | 'ADDED' {
  const payment = view.payments[index]!;
  payment.transactionId = outcome.transactionId;
  if (outcome.status === 'PAID') {
    payment.status = 'PAID';
    view.paidAmount = String(BigInt(view.paidAmount) + BigInt(payment.amount));
    view.outstandingAmount = String(BigInt(view.amount) - BigInt(view.paidAmount));
    return 'PAID';
  }
  payment.status = 'FAILED';
  payment.failureReason = outcome.failureReason;
  const target = rollTargetOf(view.payments, index, disbursedAt, paymentIntervalMs);
  payment.rolledInto = target.number;
  if (!target.isNew) {
    const following = view.payments[index + 1]!;
    following.amount = String(BigInt(following.amount) + BigInt(payment.amount));
    return 'ROLLED';
  }
  view.payments.push(scheduledPayment(target.number, payment.amount, disbursedAt, paymentIntervalMs));
  return 'ADDED';
}
