/**
 * The advance workflow on its own, the way temporalio/samples-typescript tests
 * workflows: the real advanceWorkflow on the time-skipping test server, its
 * activities replaced by plain functions that record every call and answer as
 * the ledger would. No ledger, no database: twelve weeks in a fraction of a
 * second, so the orchestration (what is asked of the activities, in which
 * order, with which amounts) is checked on its own. The same workflow against
 * the real ledger and database: advance-repaid.test.ts, advance-rollover.test.ts.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { HaltActivities } from '../src/activities/halt-activities.js';
import type { MoneyActivities } from '../src/activities/money-activities.js';
import type { AdvanceView, AdvanceWorkflowInput, PaymentOutcome } from '../src/domain/advance-types.js';
import { workflowsPath } from '../src/worker-app.js';
import { advanceWorkflow, scheduleQuery } from '../src/workflows/advance.workflow.js';
import { quietTemporalRuntime, startTimeSkippingEnvironment } from './support/advances-harness.js';

const WEEK_MS = 7 * 24 * 3600 * 1000;

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  quietTemporalRuntime();
  // Once per file: bundling the workflow code (webpack) is the slow part, not the workflow.
  [env, workflowBundle] = await Promise.all([
    startTimeSkippingEnvironment(),
    bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') }),
  ]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/** One activity call as the stub saw it. */
type Call =
  | { activity: 'disburseAdvance'; amount: string; paymentAmounts: string[] }
  | {
      activity: 'collectPayment';
      number: number;
      amount: string;
      rollInto: number;
      completesAdvance: boolean;
      /** Test-server time of the call, in weeks after the disbursement (due at `number` weeks). */
      week: number;
    }
  | { activity: 'reportWorkflowHalt' | 'resolveWorkflowHalt'; step: string };

interface LedgerStub {
  /** Payment numbers the ledger refuses (insufficient funds). */
  refuse?: readonly number[];
  /** Refuse the disbursement itself. */
  refuseCredit?: boolean;
}

/** The workflow's activities as plain functions: each call recorded, answered as `stub` says. */
function stubbedActivities(stub: LedgerStub) {
  const calls: Call[] = [];
  let disbursedAtMs = 0;
  const activities: MoneyActivities & HaltActivities = {
    async disburseAdvance({ amount, paymentAmounts }) {
      calls.push({ activity: 'disburseAdvance', amount, paymentAmounts });
      if (stub.refuseCredit)
        return { status: 'REFUSED', transactionId: 'credit', failureReason: 'LIMIT', failureMessage: 'refused' };
      disbursedAtMs = await env.currentTimeMs();
      return { status: 'DISBURSED', transactionId: 'credit', disbursedAt: new Date(disbursedAtMs).toISOString() };
    },
    async collectPayment({ number, amount, rollInto, completesAdvance }): Promise<PaymentOutcome> {
      const week = ((await env.currentTimeMs()) - disbursedAtMs) / WEEK_MS;
      calls.push({ activity: 'collectPayment', number, amount, rollInto: rollInto.number, completesAdvance, week });
      const transactionId = `debit-${number}`;
      if (!stub.refuse?.includes(number)) return { status: 'PAID', transactionId };
      return { status: 'FAILED', transactionId, failureReason: 'INSUFFICIENT_FUNDS', failureMessage: 'insufficient' };
    },
    async reportWorkflowHalt({ step }) {
      calls.push({ activity: 'reportWorkflowHalt', step });
    },
    async resolveWorkflowHalt({ step }) {
      calls.push({ activity: 'resolveWorkflowHalt', step });
    },
  };
  return { activities, calls };
}

interface AdvanceRun {
  /** The workflow's result. */
  view: AdvanceView;
  /** The schedule query once the workflow has finished. */
  queried: AdvanceView;
  /** The schedule query at `lookAfterWeeks`, if asked. */
  midway: AdvanceView | undefined;
  calls: Call[];
}

/**
 * Runs one advance of 1000 minor units in 12 weekly payments to its end, on a
 * worker with the stubbed activities; with `lookAfterWeeks`, the test server's
 * clock is first moved that far (as the samples do) and the schedule queried.
 */
async function runAdvance(stub: LedgerStub, lookAfterWeeks?: number): Promise<AdvanceRun> {
  const { activities, calls } = stubbedActivities(stub);
  const taskQueue = `stubbed-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
  const input: AdvanceWorkflowInput = {
    advanceId: randomUUID(),
    accountId: randomUUID(),
    amount: '1000',
    installments: 12,
    paymentIntervalMs: WEEK_MS,
  };
  const workflowId = `advance-${input.advanceId}`;
  const handle = await env.client.workflow.start(advanceWorkflow, { taskQueue, workflowId, args: [input] });
  return worker.runUntil(async () => {
    let midway: AdvanceView | undefined;
    if (lookAfterWeeks !== undefined) {
      await env.sleep(lookAfterWeeks * WEEK_MS);
      midway = await handle.query(scheduleQuery);
    }
    // Awaiting the result lets the test server jump over the (remaining) weekly timers.
    const view = await handle.result();
    return { view, queried: await handle.query(scheduleQuery), midway, calls };
  });
}

/** 1000 in 12 whole payments: the remainder (4) one unit each on the first four. */
const OPENING = ['84', '84', '84', '84', '83', '83', '83', '83', '83', '83', '83', '83'];

/** The collectPayment calls as [number, amount] pairs. */
const collected = (calls: Call[]) =>
  calls.flatMap((call) => (call.activity === 'collectPayment' ? [[call.number, Number(call.amount)]] : []));

test('payment 5 refused rolls into payment 6: twelve calls in order, each on its due week, taking exactly the advance', async () => {
  const { view, queried, midway, calls } = await runAdvance({ refuse: [5] }, 5.5);

  expect(calls[0]).toEqual({ activity: 'disburseAdvance', amount: '1000', paymentAmounts: OPENING });
  expect(collected(calls)).toEqual([
    [1, 84],
    [2, 84],
    [3, 84],
    [4, 84],
    [5, 83], // refused by the ledger
    [6, 166], // 83 + the 83 of payment 5
    [7, 83],
    [8, 83],
    [9, 83],
    [10, 83],
    [11, 83],
    [12, 83],
  ]);
  expect(calls).toHaveLength(13); // the credit and twelve payments; no halt
  const payments = calls.filter((call) => call.activity === 'collectPayment');
  // Each payment is taken when it falls due (n weeks after the credit, on the test server's clock),
  // would roll into the next one if refused, and only the last one completes the advance.
  for (const payment of payments) {
    expect(payment.week).toBeGreaterThanOrEqual(payment.number);
    expect(payment.week).toBeLessThan(payment.number + 1 / (7 * 24)); // within the hour it fell due
    expect(payment.rollInto).toBe(payment.number + 1);
    expect(payment.completesAdvance).toBe(payment.number === 12);
  }
  // The money taken is exactly the advance.
  const taken = payments.filter((payment) => payment.number !== 5).reduce((sum, p) => sum + Number(p.amount), 0);
  expect(taken).toBe(1000);

  // The schedule query half a week after payment 5: it failed and rolled into 6.
  expect(midway).toMatchObject({ status: 'ACTIVE', paidAmount: '336', outstandingAmount: '664' });
  expect(midway!.payments[4]).toMatchObject({
    number: 5,
    status: 'FAILED',
    rolledInto: 6,
    failureReason: 'INSUFFICIENT_FUNDS',
  });
  expect(midway!.payments[5]).toMatchObject({ number: 6, status: 'SCHEDULED', amount: '166' });

  // The result, and the query once it has finished, agree: repaid, every payment accounted for.
  expect(view).toMatchObject({ status: 'REPAID', paidAmount: '1000', outstandingAmount: '0' });
  expect(view.disbursementTransactionId).toBe('credit');
  expect(view.payments.map((p) => [p.number, p.status, p.transactionId])).toEqual(
    OPENING.map((_, i) => [i + 1, i === 4 ? 'FAILED' : 'PAID', `debit-${i + 1}`]),
  );
  expect(queried).toEqual(view);
});

test('the last payment refused: a 13th is added a week later, the advance OVERDUE until it is paid', async () => {
  const { view, midway, calls } = await runAdvance({ refuse: [12] }, 12.5);

  expect(collected(calls)).toEqual([...OPENING.map((amount, i) => [i + 1, Number(amount)]), [13, 83]]);
  expect(calls).toHaveLength(14); // the credit and thirteen payments; no halt
  const last = calls.filter((call) => call.activity === 'collectPayment').slice(-2);
  expect(last).toMatchObject([
    { number: 12, rollInto: 13, completesAdvance: true },
    { number: 13, rollInto: 14, completesAdvance: true },
  ]);
  expect(last[1]!.week).toBeGreaterThanOrEqual(13);
  expect(last[1]!.week).toBeLessThan(13 + 1 / (7 * 24));

  expect(midway).toMatchObject({ status: 'OVERDUE', paidAmount: '917', outstandingAmount: '83' });
  expect(midway!.payments[11]).toMatchObject({ number: 12, status: 'FAILED', rolledInto: 13 });
  expect(midway!.payments[12]).toMatchObject({ number: 13, status: 'SCHEDULED', amount: '83' });

  expect(view).toMatchObject({ status: 'REPAID', paidAmount: '1000', outstandingAmount: '0' });
  expect(view.payments).toHaveLength(13);
  // The added payment is due one interval after the last scheduled one.
  expect(Date.parse(view.payments[12]!.dueTime) - Date.parse(view.payments[11]!.dueTime)).toBe(WEEK_MS);
});

test('a refused credit ends the advance DISBURSEMENT_FAILED: no payment is ever asked for', async () => {
  const { view, calls } = await runAdvance({ refuseCredit: true });

  expect(calls).toEqual([{ activity: 'disburseAdvance', amount: '1000', paymentAmounts: OPENING }]);
  expect(view).toMatchObject({ status: 'DISBURSEMENT_FAILED', paidAmount: '0', payments: [] });
});
