import { raw, type EntityManager } from '@mikro-orm/postgresql';
import type { PaymentOutcome } from '../domain/advance-types.js';
import { dueTimeOf } from '../domain/schedule.js';
import { AdvanceSchema, PaymentSchema } from './entities/advance.entity.js';

/**
 * The writes activities make to the projection. Each is guarded by the state
 * it moves from, so an activity that runs twice (a retry after a lost reply, a
 * zombie from a crashed worker) changes nothing the second time and can never
 * move a payment backwards: SCHEDULED → PROCESSING → PAID | FAILED.
 * Each guard is the WHERE of one UPDATE (em.nativeUpdate: `affected rows` says
 * whether it moved), never a read followed by a write, so two tries racing
 * cannot both pass it.
 */

const now = () => raw('now()');

/** Thrown when the projection disagrees with what the workflow is about to do: a bug or tampering, never retried. */
export class ScheduleGuardViolation extends Error {
  override name = 'ScheduleGuardViolation';
}

/** DISBURSING → ACTIVE with the credit's transaction and the opening schedule (once). */
export async function openSchedule(
  em: EntityManager,
  advance: {
    advanceId: string;
    transactionId: string;
    disbursedAt: string;
    paymentAmounts: string[];
    paymentIntervalMs: number;
  },
): Promise<void> {
  await em.fork().transactional(async (tx) => {
    const opened = await tx.nativeUpdate(
      AdvanceSchema,
      { advanceId: advance.advanceId, status: 'DISBURSING' },
      { status: 'ACTIVE', disbursementTransactionId: advance.transactionId, updateTime: now() },
    );
    if (opened === 0) {
      const current = await tx.findOne(AdvanceSchema, advance.advanceId, { fields: ['disbursementTransactionId'] });
      // Already opened by an earlier try of this activity: nothing to do.
      if (current?.disbursementTransactionId === advance.transactionId) return;
      throw new ScheduleGuardViolation(
        `advance ${advance.advanceId} is not DISBURSING and was not opened by transaction ${advance.transactionId}`,
      );
    }
    await tx.insertMany(
      PaymentSchema,
      advance.paymentAmounts.map((amount, index) => ({
        advance: advance.advanceId,
        number: index + 1,
        dueTime: new Date(dueTimeOf(advance.disbursedAt, index + 1, advance.paymentIntervalMs)),
        amount: BigInt(amount),
        status: 'SCHEDULED' as const,
      })),
    );
  });
}

/** DISBURSING → DISBURSEMENT_FAILED with the ledger's reason (once). */
export async function markDisbursementFailed(
  em: EntityManager,
  advanceId: string,
  failureMessage: string,
): Promise<void> {
  await em
    .fork()
    .nativeUpdate(
      AdvanceSchema,
      { advanceId, status: 'DISBURSING' },
      { status: 'DISBURSEMENT_FAILED', failureMessage, updateTime: now() },
    );
}

/**
 * SCHEDULED → PROCESSING, before the debit is asked of the ledger. Returns the
 * recorded outcome instead when an earlier try already finished the payment.
 * Refuses (never retried) when the row's amount differs from the workflow's or
 * when taking it would make the advance's paid total exceed its amount.
 */
export async function startPayment(
  em: EntityManager,
  payment: { advanceId: string; number: number; amount: string },
): Promise<PaymentOutcome | null> {
  const fork = em.fork();
  const amount = BigInt(payment.amount);
  const started = await fork.nativeUpdate(
    PaymentSchema,
    {
      advance: payment.advanceId,
      number: payment.number,
      status: 'SCHEDULED',
      amount,
      // Taking it may not make the advance's paid total exceed its amount.
      [raw(
        `?::bigint + (SELECT coalesce(sum(q.amount), 0) FROM payments q WHERE q.advance_id = ? AND q.status = 'PAID')
           <= (SELECT a.amount FROM advances a WHERE a.advance_id = ?)`,
        [payment.amount, payment.advanceId, payment.advanceId],
      )]: [],
    },
    { status: 'PROCESSING', updateTime: now() },
  );
  if (started === 1) return null;

  const row = await fork.findOne(
    PaymentSchema,
    { advance: payment.advanceId, number: payment.number },
    { fields: ['status', 'amount', 'transactionId', 'failureReason', 'failureMessage'] },
  );
  if (!row) throw new ScheduleGuardViolation(`advance ${payment.advanceId} has no payment ${payment.number}`);
  if (row.amount !== amount) {
    throw new ScheduleGuardViolation(
      `payment ${payment.number} of advance ${payment.advanceId} is ${row.amount} in the database, the workflow expects ${payment.amount}`,
    );
  }
  if (row.status === 'PROCESSING') return null; // an earlier try got this far: ask the ledger again (same request id)
  if (row.status === 'PAID') return { status: 'PAID', transactionId: row.transactionId! };
  if (row.status === 'FAILED') {
    return {
      status: 'FAILED',
      transactionId: row.transactionId!,
      failureReason: row.failureReason!,
      failureMessage: row.failureMessage ?? '',
    };
  }
  throw new ScheduleGuardViolation(
    `payment ${payment.number} of advance ${payment.advanceId} would take the paid total above the advance amount`,
  );
}

/**
 * PROCESSING → PAID | FAILED with the ledger's answer, in one database
 * transaction with its consequences: a refused payment's amount is added to
 * the payment it rolls into (created if it is new, which makes the advance
 * OVERDUE); the payment that completes the advance marks it REPAID.
 * Guarded, so only the first recording has any effect.
 */
export async function recordPaymentOutcome(
  em: EntityManager,
  payment: {
    advanceId: string;
    number: number;
    amount: string;
    rollInto: { number: number; dueTime: string; isNew: boolean };
    completesAdvance: boolean;
  },
  outcome: PaymentOutcome,
): Promise<void> {
  await em.fork().transactional(async (tx) => {
    const failed = outcome.status === 'FAILED';
    const recorded = await tx.nativeUpdate(
      PaymentSchema,
      { advance: payment.advanceId, number: payment.number, status: 'PROCESSING' },
      {
        status: outcome.status,
        transactionId: outcome.transactionId,
        failureReason: failed ? outcome.failureReason : null,
        failureMessage: failed ? outcome.failureMessage : null,
        rolledInto: failed ? payment.rollInto.number : null,
        updateTime: now(),
      },
    );
    if (recorded === 0) return; // recorded by an earlier try

    if (outcome.status === 'PAID') {
      if (payment.completesAdvance) {
        await tx.nativeUpdate(
          AdvanceSchema,
          { advanceId: payment.advanceId, status: ['ACTIVE', 'OVERDUE'] },
          { status: 'REPAID', updateTime: now() },
        );
      }
      return;
    }
    await rollForward(tx, payment);
  });
}

/** A refused payment's amount goes to the payment it rolls into: a new one (the advance is now OVERDUE) or a scheduled one. */
async function rollForward(
  tx: EntityManager,
  payment: {
    advanceId: string;
    number: number;
    amount: string;
    rollInto: { number: number; dueTime: string; isNew: boolean };
  },
): Promise<void> {
  if (payment.rollInto.isNew) {
    await tx.insert(PaymentSchema, {
      advance: payment.advanceId,
      number: payment.rollInto.number,
      dueTime: new Date(payment.rollInto.dueTime),
      amount: BigInt(payment.amount),
      status: 'SCHEDULED',
    });
    await tx.nativeUpdate(
      AdvanceSchema,
      { advanceId: payment.advanceId, status: 'ACTIVE' },
      { status: 'OVERDUE', updateTime: now() },
    );
    return;
  }
  const rolled = await tx.nativeUpdate(
    PaymentSchema,
    { advance: payment.advanceId, number: payment.rollInto.number, status: 'SCHEDULED' },
    { amount: raw('amount + ?', [payment.amount]), updateTime: now() },
  );
  if (rolled !== 1) {
    throw new ScheduleGuardViolation(
      `payment ${payment.rollInto.number} of advance ${payment.advanceId} is not SCHEDULED; cannot roll payment ${payment.number} into it`,
    );
  }
}
