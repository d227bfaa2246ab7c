import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { Context } from '@temporalio/activity';
import { PaymentStatus } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { advancesApi, eventually, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { recordHistoryIfAsked } from './support/histories.js';
import { hookedLedger } from './support/ledger-hooks.js';
import { bankLegsOf, ledgerPool, sumSuccessful } from './support/ledger-facts.js';
import { paymentActivities } from './support/payment-timeline.js';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';

// Hourly payments keep the outage's retries few (backoff caps at 5 minutes) on the time-skipping server.
const INTERVAL_MS = 3_600_000;
/** Per borrower: the ledger is unreachable for attempts scheduled in [fromMs, untilMs) of workflow time. */
const outages = new Map<string, { fromMs: number; untilMs: number }>();
let stack: AdvancesStack;
const pool = ledgerPool();

beforeAll(async () => {
  const wrapLedger = hookedLedger({
    before: async ({ request }) => {
      const outage = outages.get(request.dstAccountId);
      // The attempt's scheduled time is the Temporal server's (skipped) clock, the workflow's time.
      const nowMs = Context.current().info.currentAttemptScheduledTimestampMs;
      if (outage && nowMs >= outage.fromMs && nowMs < outage.untilMs) {
        throw Object.assign(new Error('simulated: accounts-manager unreachable'), { code: status.UNAVAILABLE });
      }
    },
  });
  stack = await startAdvancesStack({ env: { ADVANCE_PAYMENT_INTERVAL: '1h' }, worker: { wrapLedger } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

test('a ledger outage across payments 3–5 delays only those: payment 6 onwards are taken at their original due time', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower during a ledger outage');
  const amount = 1_200n;
  const requested = await api.requestAdvance({ accountId: borrower, amount, requestId: randomUUID() });
  const opened = await eventually(async () => {
    const advance = await api.getAdvance(requested.advanceId);
    return advance.payments.length === 12 ? advance : undefined;
  }, 'the opening schedule');
  const dueMs = new Map(opened.payments.map((p) => [p.number, dateOfTimestamp(p.dueTime!).getTime()]));
  // Down from half an interval before payment 3 is due until half an interval after payment 5 is.
  const outage = { fromMs: dueMs.get(3)! - INTERVAL_MS / 2, untilMs: dueMs.get(5)! + INTERVAL_MS / 2 };
  outages.set(borrower, outage);

  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');

  const taken = new Map(
    (await paymentActivities(stack.temporal.client, requested.workflowId)).map((a) => [a.number, a]),
  );
  expect([...taken.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const lateness = (number: number) => taken.get(number)!.startedMs! - dueMs.get(number)!;
  // Before and after the outage: on the dot (the workflow's timer fires at due_time; a minute of slack for a slow machine).
  for (const number of [1, 2, 6, 7, 8, 9, 10, 11, 12]) {
    expect({
      number,
      attempt: taken.get(number)!.attempt,
      onTime: lateness(number) >= 0 && lateness(number) < 60_000,
    }).toEqual({ number, attempt: 1, onTime: true });
  }
  // Payment 3 retried through the outage; 3, 4 and 5 taken as soon as it ended, all before payment 6 was due.
  expect(taken.get(3)!.attempt).toBeGreaterThan(1);
  for (const number of [3, 4, 5]) {
    const startedMs = taken.get(number)!.startedMs!;
    expect({ number, afterOutage: startedMs >= outage.untilMs, beforePayment6: startedMs < dueMs.get(6)! }).toEqual({
      number,
      afterOutage: true,
      beforePayment6: true,
    });
  }

  // The schedule ops see is unchanged: the due times are still one interval apart, every payment paid once.
  const advance = await api.getAdvance(requested.advanceId);
  expect(advance.payments.map((p) => dateOfTimestamp(p.dueTime!).getTime())).toEqual([...dueMs.values()]);
  expect(advance.payments.every((p) => p.status === PaymentStatus.PAYMENT_STATUS_PAID)).toBe(true);
  const legs = await bankLegsOf(pool, borrower);
  expect(legs.debits).toHaveLength(12);
  expect(new Set(legs.debits.map((d) => d.requestId)).size).toBe(12);
  expect(sumSuccessful(legs.debits)).toBe(amount);
  await recordHistoryIfAsked(stack.temporal.client, requested.workflowId, 'advance-ledger-outage-over-payments-3-to-5');
}, 120_000);
