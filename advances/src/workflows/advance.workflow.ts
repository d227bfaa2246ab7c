import {
  continueAsNew,
  defineQuery,
  log,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
// Types only: activity code (database, gRPC) never enters the workflow bundle.
import type { Activities } from '../activities/index.js';
import type { AdvanceStatusName, AdvanceView, AdvanceWorkflowInput, PaymentView } from '../activities/types.js';
import { dueTimeOf, formatMinorUnits, splitIntoInstallments } from './schedule.js';
import { ADVANCE_ACCOUNT_ID, ADVANCE_STATUS } from './search-attributes.js';

/** Reads the advance as the workflow sees it: status, amounts, the whole schedule. */
export const scheduleQuery = defineQuery<AdvanceView>('schedule');

/**
 * Activities move money through the ledger with request ids derived from the
 * advance, so retrying is always safe: they retry without limit while the
 * ledger or the database is unreachable. A payment is never marked failed for
 * an outage — only the ledger's own answer (insufficient funds) fails it.
 */
const MONEY_ACTIVITY_OPTIONS: ActivityOptions = {
  // Well above a ledger call's deadline plus two database writes; a worker
  // that died mid-activity is retried elsewhere after this.
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    // No maximumAttempts: unlimited.
    nonRetryableErrorTypes: ['LedgerRejectedRequest', 'ScheduleGuardViolation'],
  },
};
const { disburseAdvance, collectPayment } = proxyActivities<Activities>(MONEY_ACTIVITY_OPTIONS);

/** Where a run continued-as-new picks up. */
interface Resume {
  view: AdvanceView;
  /** Index in view.payments of the next payment to collect. */
  next: number;
  disbursedAt: string;
}

/**
 * One advance, from credit to last payment: disburse, then for each payment
 * wait for its due time on a durable timer and collect it. A refused payment
 * rolls into the next one (or a new one an interval after the last) until the
 * advance is repaid. The history of this workflow is the advance's audit trail.
 */
export async function advanceWorkflow(input: AdvanceWorkflowInput, resume?: Resume): Promise<AdvanceView> {
  const view: AdvanceView = resume?.view ?? {
    advanceId: input.advanceId,
    accountId: input.accountId,
    amount: input.amount,
    status: 'DISBURSING',
    disbursementTransactionId: null,
    paidAmount: '0',
    outstandingAmount: '0',
    payments: [],
  };
  setHandler(scheduleQuery, () => view);
  const setStatus = (status: AdvanceStatusName) => {
    view.status = status;
    upsertSearchAttributes([{ key: ADVANCE_STATUS, value: status }, { key: ADVANCE_ACCOUNT_ID, value: input.accountId }]);
  };

  let disbursedAt = resume?.disbursedAt;
  if (!resume) {
    setStatus('DISBURSING');
    const shares = splitIntoInstallments(BigInt(input.amount), input.installments);
    const disbursement = await disburseAdvance.executeWithOptions(
      { ...MONEY_ACTIVITY_OPTIONS, summary: `Credit ${formatMinorUnits(input.amount)} to account ${input.accountId}` },
      [{ ...input, paymentAmounts: shares.map(String) }],
    );
    if (disbursement.status === 'REFUSED') {
      log.warn('disbursement refused by the ledger', { advanceId: input.advanceId, reason: disbursement.failureReason });
      setStatus('DISBURSEMENT_FAILED');
      return view;
    }
    disbursedAt = disbursement.disbursedAt;
    view.disbursementTransactionId = disbursement.transactionId;
    view.outstandingAmount = input.amount;
    view.payments = shares.map((share, index): PaymentView => ({
      number: index + 1,
      dueTime: dueTimeOf(disbursement.disbursedAt, index + 1, input.paymentIntervalMs),
      amount: String(share),
      status: 'SCHEDULED',
      transactionId: null,
      failureReason: null,
      rolledInto: null,
    }));
    setStatus('ACTIVE');
  }

  for (let index = resume?.next ?? 0; index < view.payments.length; index++) {
    if (workflowInfo().continueAsNewSuggested) {
      // A long-overdue advance keeps adding payments; keep each run's history small.
      await continueAsNew<typeof advanceWorkflow>(input, { view, next: index, disbursedAt: disbursedAt! });
    }
    const payment = view.payments[index]!;
    const following = view.payments[index + 1];
    await sleep(input.paymentIntervalMs, { summary: `Wait until payment ${payment.number} is due (${payment.dueTime})` });

    payment.status = 'PROCESSING';
    const outcome = await collectPayment.executeWithOptions(
      { ...MONEY_ACTIVITY_OPTIONS, summary: `Payment ${payment.number}: debit ${formatMinorUnits(payment.amount)} from account ${input.accountId}` },
      [{
        advanceId: input.advanceId,
        accountId: input.accountId,
        number: payment.number,
        amount: payment.amount,
        rollInto: following
          ? { number: following.number, dueTime: following.dueTime, isNew: false }
          : { number: payment.number + 1, dueTime: dueTimeOf(disbursedAt!, payment.number + 1, input.paymentIntervalMs), isNew: true },
        completesAdvance: !following,
      }],
    );
    payment.transactionId = outcome.transactionId;

    if (outcome.status === 'PAID') {
      payment.status = 'PAID';
      view.paidAmount = String(BigInt(view.paidAmount) + BigInt(payment.amount));
      view.outstandingAmount = String(BigInt(input.amount) - BigInt(view.paidAmount));
      continue;
    }

    // Refused (not enough funds): the amount moves to the next payment.
    payment.status = 'FAILED';
    payment.failureReason = outcome.failureReason;
    if (following) {
      following.amount = String(BigInt(following.amount) + BigInt(payment.amount));
      payment.rolledInto = following.number;
    } else {
      const added: PaymentView = {
        number: payment.number + 1,
        dueTime: dueTimeOf(disbursedAt!, payment.number + 1, input.paymentIntervalMs),
        amount: payment.amount,
        status: 'SCHEDULED',
        transactionId: null,
        failureReason: null,
        rolledInto: null,
      };
      view.payments.push(added);
      payment.rolledInto = added.number;
      if (view.status !== 'OVERDUE') setStatus('OVERDUE');
    }
  }

  setStatus('REPAID');
  return view;
}
