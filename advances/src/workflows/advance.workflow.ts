import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
// Types only: activity code (database, gRPC) never enters the workflow bundle. Only the
// activities this workflow proxies: the full set (activities/index.ts) reaches the
// reconciliation, which starts this workflow — a cycle, if only of types.
import type { HaltActivities } from '../activities/halt-activities.js';
import type { MoneyActivities } from '../activities/money-activities.js';
import type { AdvanceStatusName, AdvanceView, AdvanceWorkflowInput, PaymentView } from '../domain/advance-types.js';
import {
  applyPaymentOutcome,
  formatMinorUnits,
  msUntilDue,
  openingPayments,
  rollTargetOf,
  splitIntoInstallments,
} from '../domain/schedule.js';
import { ADVANCE_ACCOUNT_ID, ADVANCE_STATUS } from './search-attributes.js';

/** Reads the advance as the workflow sees it: status, amounts, the whole schedule. */
export const scheduleQuery = defineQuery<AdvanceView>('schedule');

/**
 * Sent by ops once they have repaired what halted the advance (its open
 * WORKFLOW_HALTED finding says what): the workflow resolves the finding and
 * retries the step. `temporal workflow signal --workflow-id advance-<id> --name resume`
 */
export const resumeSignal = defineSignal('resume');

/**
 * A money activity heartbeats every second (MONEY_HEARTBEAT_INTERVAL_MS): a
 * worker that died mid-payment is noticed after MONEY_HEARTBEAT_TIMEOUT_MS and
 * the payment retried on another worker MONEY_RETRY_INITIAL_INTERVAL_MS later,
 * so an in-flight payment resumes within their sum (4 s) of a worker's death.
 */
export const MONEY_HEARTBEAT_TIMEOUT_MS = 3_000;
export const MONEY_RETRY_INITIAL_INTERVAL_MS = 1_000;

/**
 * Activities move money through the ledger with request ids derived from the
 * advance, so retrying is always safe: they retry without limit while the
 * ledger or the database is unreachable. A payment is never marked failed for
 * an outage — only the ledger's own answer (insufficient funds) fails it. A
 * failure no retry can fix halts the advance until ops resume it (below).
 */
const MONEY_ACTIVITY_OPTIONS: ActivityOptions = {
  // Above a ledger call's deadline (LEDGER_CALL_TIMEOUT, 10 s by default) plus
  // two database writes: only a hung try ends here; a dead worker is noticed
  // by its missing heartbeat long before.
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: MONEY_HEARTBEAT_TIMEOUT_MS,
  retry: {
    initialInterval: MONEY_RETRY_INITIAL_INTERVAL_MS,
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    // No maximumAttempts: unlimited.
    nonRetryableErrorTypes: ['LedgerRejectedRequest', 'ScheduleGuardViolation'],
  },
};
const { disburseAdvance, collectPayment } = proxyActivities<MoneyActivities>(MONEY_ACTIVITY_OPTIONS);
// Writing or resolving a finding: retried without limit while the database is unreachable.
const { reportWorkflowHalt, resolveWorkflowHalt } = proxyActivities<HaltActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Patches (see `patched`): histories recorded before them replay the old way,
 * so advances already in flight when a change ships keep running.
 * - SLEEP_UNTIL_DUE_TIME: wait until each payment's due_time, not one interval
 *   after the previous collection (an outage no longer delays later payments).
 * - HALT_INSTEAD_OF_FAILING: a step that failed for good halts and alerts
 *   instead of failing the workflow.
 */
const SLEEP_UNTIL_DUE_TIME = 'advance-sleeps-until-due-time';
const HALT_INSTEAD_OF_FAILING = 'advance-halts-instead-of-failing';

/** Where a run continued-as-new picks up. */
interface Resume {
  view: AdvanceView;
  /** Index in view.payments of the next payment to collect. */
  next: number;
  disbursedAt: string;
}

/** The state of one run of the workflow, shared by the steps below. */
interface AdvanceRun {
  input: AdvanceWorkflowInput;
  view: AdvanceView;
  /** The ledger's time of the disbursement; payment n is due n intervals after it. */
  disbursedAt: string | undefined;
  /** Set by the resume signal, cleared when the workflow halts. */
  resumeRequested: boolean;
}

/**
 * One advance, from credit to last payment: disburse, then for each payment
 * wait until its due time on a durable timer and collect it. A refused payment
 * rolls into the next one (or a new one an interval after the last) until the
 * advance is repaid. The history of this workflow is the advance's audit trail.
 */
export async function advanceWorkflow(input: AdvanceWorkflowInput, resume?: Resume): Promise<AdvanceView> {
  const run: AdvanceRun = {
    input,
    view: resume?.view ?? openingView(input),
    disbursedAt: resume?.disbursedAt,
    resumeRequested: false,
  };
  setHandler(scheduleQuery, () => run.view);
  setHandler(resumeSignal, () => {
    run.resumeRequested = true;
  });

  if (!resume && !(await disburse(run))) return run.view;
  for (let index = resume?.next ?? 0; index < run.view.payments.length; index++) {
    if (workflowInfo().continueAsNewSuggested) {
      // A long-overdue advance keeps adding payments; keep each run's history small.
      await continueAsNew<typeof advanceWorkflow>(input, {
        view: run.view,
        next: index,
        disbursedAt: run.disbursedAt!,
      });
    }
    await collect(run, index);
  }
  setStatus(run, 'REPAID');
  return run.view;
}

function openingView(input: AdvanceWorkflowInput): AdvanceView {
  return {
    advanceId: input.advanceId,
    accountId: input.accountId,
    amount: input.amount,
    status: 'DISBURSING',
    disbursementTransactionId: null,
    paidAmount: '0',
    outstandingAmount: '0',
    payments: [],
  };
}

function setStatus(run: AdvanceRun, status: AdvanceStatusName): void {
  run.view.status = status;
  upsertSearchAttributes([
    { key: ADVANCE_STATUS, value: status },
    { key: ADVANCE_ACCOUNT_ID, value: run.input.accountId },
  ]);
}

/** Credits the advance and opens its schedule; false when the ledger refused the credit. */
async function disburse(run: AdvanceRun): Promise<boolean> {
  const { input, view } = run;
  setStatus(run, 'DISBURSING');
  const shares = splitIntoInstallments(BigInt(input.amount), input.installments);
  const disbursement = await haltingOnFailure(run, 'disbursement', () =>
    disburseAdvance.executeWithOptions(
      { ...MONEY_ACTIVITY_OPTIONS, summary: `Credit ${formatMinorUnits(input.amount)} to account ${input.accountId}` },
      [{ ...input, paymentAmounts: shares.map(String) }],
    ),
  );
  if (disbursement.status === 'REFUSED') {
    log.warn('disbursement refused by the ledger', { advanceId: input.advanceId, reason: disbursement.failureReason });
    setStatus(run, 'DISBURSEMENT_FAILED');
    return false;
  }
  run.disbursedAt = disbursement.disbursedAt;
  view.disbursementTransactionId = disbursement.transactionId;
  view.outstandingAmount = input.amount;
  view.payments = openingPayments(shares, disbursement.disbursedAt, input.paymentIntervalMs);
  setStatus(run, 'ACTIVE');
  return true;
}

/** Waits until payment `index` is due, takes it, and applies the ledger's answer to the schedule. */
async function collect(run: AdvanceRun, index: number): Promise<void> {
  const { input, view } = run;
  const payment = view.payments[index]!;
  await untilDue(payment, input.paymentIntervalMs);

  payment.status = 'PROCESSING';
  const outcome = await haltingOnFailure(run, `payment ${payment.number}`, () =>
    collectPayment.executeWithOptions(
      {
        ...MONEY_ACTIVITY_OPTIONS,
        summary: `Payment ${payment.number}: debit ${formatMinorUnits(payment.amount)} from account ${input.accountId}`,
      },
      [
        {
          advanceId: input.advanceId,
          accountId: input.accountId,
          number: payment.number,
          amount: payment.amount,
          rollInto: rollTargetOf(view.payments, index, run.disbursedAt!, input.paymentIntervalMs),
          completesAdvance: index === view.payments.length - 1,
        },
      ],
    ),
  );
  const applied = applyPaymentOutcome(view, index, outcome, run.disbursedAt!, input.paymentIntervalMs);
  if (applied === 'ADDED' && view.status !== 'OVERDUE') setStatus(run, 'OVERDUE');
}

/**
 * Sleeps until the payment's due time (Date.now() is the workflow's own,
 * deterministic clock), so an outage delays only the payments it covers and
 * due_time is when the money is taken. Not at all when it is already due.
 */
async function untilDue(payment: PaymentView, paymentIntervalMs: number): Promise<void> {
  const summary = `Wait until payment ${payment.number} is due (${payment.dueTime})`;
  if (!patched(SLEEP_UNTIL_DUE_TIME)) {
    // Recorded before the patch: one interval after the previous collection.
    await sleep(paymentIntervalMs, { summary });
    return;
  }
  const waitMs = msUntilDue(payment.dueTime, Date.now());
  if (waitMs > 0) await sleep(waitMs, { summary });
}

/**
 * Runs a money step. When it fails for good (retries gave up: the ledger
 * rejected the request, or the projection refused the transition) the advance
 * never stops silently: it halts with an alert, waits for ops to repair the
 * cause and send `resume`, then runs the step again — with the same derived
 * request id, so the ledger still applies it at most once.
 */
async function haltingOnFailure<T>(run: AdvanceRun, step: string, attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      // A cancelled workflow (ops cancelled it) ends as cancelled, not halted.
      if (!(error instanceof ActivityFailure) || isCancellation(error) || !patched(HALT_INSTEAD_OF_FAILING))
        throw error;
      await haltUntilResumed(run, step, causeOf(error));
    }
  }
}

async function haltUntilResumed(run: AdvanceRun, step: string, cause: string): Promise<void> {
  const advanceId = run.input.advanceId;
  // Only a resume sent after this halt counts.
  run.resumeRequested = false;
  log.error('advance halted: waiting for the resume signal', { advanceId, step, cause });
  await reportWorkflowHalt({ advanceId, step, cause });
  await condition(() => run.resumeRequested);
  run.resumeRequested = false;
  log.info('advance resumed', { advanceId, step });
  await resolveWorkflowHalt({ advanceId, step });
}

/** "LedgerRejectedRequest: the ledger rejected the request: …" */
function causeOf(failure: ActivityFailure): string {
  const cause = failure.cause;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause?.message ?? failure.message;
}
