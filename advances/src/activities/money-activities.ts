import { ApplicationFailure, Context } from '@temporalio/activity';
import { Direction, TransactionStatus, failureReasonToJSON, type Transaction } from '@alfabet/proto/accounts/v1';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '@alfabet/service-kit/logger';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';
import { isLedgerRejection, type LedgerClient } from '../ledger/ledger-client.js';
import { disbursementRequestId, paymentRequestId } from '../ledger/request-ids.js';
import {
  markDisbursementFailed,
  openSchedule,
  recordPaymentOutcome,
  startPayment,
} from '../db/schedule-transitions.js';
import type { AdvancesMetrics } from '../metrics.js';
import type {
  CollectPaymentInput,
  DisburseAdvanceInput,
  DisbursementOutcome,
  PaymentOutcome,
} from '../domain/advance-types.js';

export interface MoneyActivityDeps {
  em: EntityManager;
  ledger: LedgerClient;
  log: Logger;
  metrics: AdvancesMetrics;
}

/** "FAILURE_REASON_INSUFFICIENT_FUNDS" → "INSUFFICIENT_FUNDS", the form stored in the projection. */
const reasonName = (transaction: Transaction) =>
  failureReasonToJSON(transaction.failureReason).replace(/^FAILURE_REASON_/, '');

/**
 * Asks the ledger; a rejection of the request itself (bad id, unknown account,
 * request id reused with other parameters) is a bug no retry can fix, so it
 * fails the activity for good (the workflow halts, alerts and waits for ops to
 * repair it); anything else (unreachable, timeout) is thrown as is and retried
 * with backoff.
 */
async function askLedger(call: () => Promise<Transaction>): Promise<Transaction> {
  try {
    return await call();
  } catch (error) {
    if (isLedgerRejection(error))
      throw ApplicationFailure.nonRetryable(
        `the ledger rejected the request: ${error.details}`,
        'LedgerRejectedRequest',
      );
    throw error;
  }
}

/**
 * How often a money activity tells Temporal it is alive. The workflow's
 * heartbeatTimeout is a few of these: a worker that dies mid-payment stops
 * heartbeating and its payment is retried elsewhere within seconds, instead of
 * after the whole start-to-close timeout.
 */
export const MONEY_HEARTBEAT_INTERVAL_MS = 1_000;

/** Runs `work` while heartbeating every MONEY_HEARTBEAT_INTERVAL_MS (the SDK throttles what it sends). */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), MONEY_HEARTBEAT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** The activities that move money. Each is safe to run any number of times. */
export function moneyActivities(deps: MoneyActivityDeps) {
  return {
    disburseAdvance: (input: DisburseAdvanceInput): Promise<DisbursementOutcome> =>
      heartbeating(() => disburseAdvance(deps, input)),
    collectPayment: (input: CollectPaymentInput): Promise<PaymentOutcome> =>
      heartbeating(() => collectPayment(deps, input)),
  };
}

/**
 * Credits the advance to the account (request id derived from the advance:
 * a retry gets the first try's transaction), then records the outcome:
 * ACTIVE with the opening schedule, or DISBURSEMENT_FAILED.
 */
async function disburseAdvance(
  { em, ledger, log, metrics }: MoneyActivityDeps,
  input: DisburseAdvanceInput,
): Promise<DisbursementOutcome> {
  const correlationId = `advance-${input.advanceId}/disbursement`;
  const transaction = await askLedger(() =>
    ledger.bankTransaction(
      {
        requestId: disbursementRequestId(input.advanceId),
        dstAccountId: input.accountId,
        amount: BigInt(input.amount),
        direction: Direction.DIRECTION_CREDIT,
        description: `advance ${input.advanceId}: disbursement`,
      },
      correlationId,
    ),
  );

  if (transaction.status !== TransactionStatus.TRANSACTION_STATUS_SUCCESS) {
    await markDisbursementFailed(em, input.advanceId, transaction.failureMessage);
    metrics.disbursements.inc({ status: 'refused' });
    log.warn(
      {
        advanceId: input.advanceId,
        transactionId: transaction.transactionId,
        reason: reasonName(transaction),
        correlationId,
      },
      'disbursement refused',
    );
    return {
      status: 'REFUSED',
      transactionId: transaction.transactionId,
      failureReason: reasonName(transaction),
      failureMessage: transaction.failureMessage,
    };
  }
  const disbursedAt = dateOfTimestamp(transaction.createTime!).toISOString();
  await openSchedule(em, {
    advanceId: input.advanceId,
    transactionId: transaction.transactionId,
    disbursedAt,
    paymentAmounts: input.paymentAmounts,
    paymentIntervalMs: input.paymentIntervalMs,
  });
  metrics.disbursements.inc({ status: 'disbursed' });
  log.info(
    { advanceId: input.advanceId, transactionId: transaction.transactionId, amount: input.amount, correlationId },
    'advance disbursed',
  );
  return { status: 'DISBURSED', transactionId: transaction.transactionId, disbursedAt };
}

/**
 * Takes one payment: marks it PROCESSING, asks the ledger for the debit
 * (request id derived from advance + payment number, so a retry after a
 * crash or a lost reply gets the first try's answer and never a second
 * debit), then records PAID or FAILED with the rollover.
 */
async function collectPayment(
  { em, ledger, log, metrics }: MoneyActivityDeps,
  input: CollectPaymentInput,
): Promise<PaymentOutcome> {
  const correlationId = `advance-${input.advanceId}/payment-${input.number}`;
  const already = await startPayment(em, input);
  if (already) {
    log.info(
      { advanceId: input.advanceId, number: input.number, status: already.status, correlationId },
      'payment already recorded by an earlier try',
    );
    return already;
  }
  const attempt = Context.current().info.attempt;
  const transaction = await askLedger(() =>
    ledger.bankTransaction(
      {
        requestId: paymentRequestId(input.advanceId, input.number),
        dstAccountId: input.accountId,
        amount: BigInt(input.amount),
        direction: Direction.DIRECTION_DEBIT,
        description: `advance ${input.advanceId}: payment ${input.number}`,
      },
      correlationId,
    ),
  );

  const outcome: PaymentOutcome =
    transaction.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS
      ? { status: 'PAID', transactionId: transaction.transactionId }
      : {
          status: 'FAILED',
          transactionId: transaction.transactionId,
          failureReason: reasonName(transaction),
          failureMessage: transaction.failureMessage,
        };
  await recordPaymentOutcome(em, input, outcome);
  metrics.payments.inc({ status: outcome.status.toLowerCase() });
  log.info(
    {
      advanceId: input.advanceId,
      number: input.number,
      amount: input.amount,
      status: outcome.status,
      transactionId: transaction.transactionId,
      attempt,
      correlationId,
      ...(outcome.status === 'FAILED' ? { reason: outcome.failureReason, rolledInto: input.rollInto.number } : {}),
    },
    outcome.status === 'PAID' ? 'payment collected' : 'payment refused; amount rolls forward',
  );
  return outcome;
}

/** The money activities' signatures: what the advance workflow proxies (types only). */
export type MoneyActivities = ReturnType<typeof moneyActivities>;
