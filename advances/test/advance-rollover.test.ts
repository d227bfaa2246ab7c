import { randomUUID } from 'node:crypto';
import { FailureReason } from '@alfabet/proto/accounts/v1';
import { AdvanceStatus, PaymentStatus } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { advancesApi, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { hookedLedger, type LedgerCall } from './support/ledger-hooks.js';
import { recordHistoryIfAsked } from './support/histories.js';
import { assertLedgerVerifies, bankLegsOf, ledgerPool, sumSuccessful } from './support/ledger-facts.js';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';

let stack: AdvancesStack;
const pool = ledgerPool();
/** Per borrower: what to do before the worker asks the ledger for a payment. */
const beforePayment = new Map<string, (call: LedgerCall) => Promise<void>>();

beforeAll(async () => {
  stack = await startAdvancesStack({
    worker: {
      wrapLedger: hookedLedger({ before: async (call) => beforePayment.get(call.request.dstAccountId)?.(call) }),
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

test('payments refused at weeks 3 and 12 roll forward; a 13th payment is added; the total taken is exactly the advance', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower short at weeks 3 and 12');
  const savings = await ledger.fundedAccount(0n, 'Borrower savings');
  const amount = 1200n;

  // The borrower moves all their money away just before payments 3 and 12 and
  // back just before 4 and 13: the ledger itself refuses 3 and 12.
  const moveAll = async (from: string, to: string) => {
    const { balance } = await ledger.getAccount(from);
    if (balance > 0n) await ledger.transfer({ srcAccountId: from, dstAccountId: to, amount: balance });
  };
  let statusBefore13: AdvanceStatus | undefined;
  const handled = new Set<number>();
  beforePayment.set(borrower, async ({ paymentNumber }) => {
    if (paymentNumber === null || handled.has(paymentNumber)) return;
    handled.add(paymentNumber);
    if (paymentNumber === 3 || paymentNumber === 12) await moveAll(borrower, savings);
    if (paymentNumber === 4 || paymentNumber === 13) await moveAll(savings, borrower);
    if (paymentNumber === 13) statusBefore13 = (await api.getAdvance(advanceId)).status;
  });

  const requested = await api.requestAdvance({ accountId: borrower, amount, requestId: randomUUID() });
  const advanceId = requested.advanceId;
  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');
  expect(statusBefore13).toBe(AdvanceStatus.ADVANCE_STATUS_OVERDUE);

  const advance = await api.getAdvance(advanceId);
  expect(advance.status).toBe(AdvanceStatus.ADVANCE_STATUS_REPAID);
  expect(advance.payments).toHaveLength(13);
  const byNumber = new Map(advance.payments.map((p) => [p.number, p]));
  expect(byNumber.get(3)).toMatchObject({
    status: PaymentStatus.PAYMENT_STATUS_FAILED,
    amount: 100n,
    rolledInto: 4,
    failureReason: FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS,
  });
  expect(byNumber.get(4)).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_PAID, amount: 200n });
  expect(byNumber.get(12)).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_FAILED, amount: 100n, rolledInto: 13 });
  expect(byNumber.get(13)).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_PAID, amount: 100n, rolledInto: 0 });
  // The added payment is due one interval after the last scheduled one.
  expect(
    dateOfTimestamp(byNumber.get(13)!.dueTime!).getTime() - dateOfTimestamp(byNumber.get(12)!.dueTime!).getTime(),
  ).toBe(7 * 24 * 3600 * 1000);
  expect(advance.paidAmount).toBe(amount);
  expect(advance.outstandingAmount).toBe(0n);

  const legs = await bankLegsOf(pool, borrower);
  expect(legs.credits.filter((c) => c.status === 'success')).toHaveLength(1);
  expect(legs.debits).toHaveLength(13); // 11 taken, 2 refused (stored as FAILED by the ledger)
  expect(legs.debits.filter((d) => d.status === 'failed')).toHaveLength(2);
  expect(sumSuccessful(legs.debits)).toBe(amount);
  await assertLedgerVerifies(pool);
  await recordHistoryIfAsked(stack.temporal.client, requested.workflowId, 'advance-rolled-at-weeks-3-and-12');
});

test('an advance whose payments keep failing stays OVERDUE and keeps adding payments, never taking more than owed', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower who spends it all');
  const elsewhere = await ledger.fundedAccount(0n, 'Elsewhere');
  const amount = 600n;
  // Spends the advance at once: every payment is refused until week 15, when they pay back only what is owed.
  const handled = new Set<number>();
  beforePayment.set(borrower, async ({ paymentNumber }) => {
    if (paymentNumber === null || handled.has(paymentNumber)) return;
    handled.add(paymentNumber);
    if (paymentNumber === 1) {
      const { balance } = await ledger.getAccount(borrower);
      await ledger.transfer({ srcAccountId: borrower, dstAccountId: elsewhere, amount: balance });
    }
    if (paymentNumber === 15) await ledger.transfer({ srcAccountId: elsewhere, dstAccountId: borrower, amount: 600n });
  });

  const requested = await api.requestAdvance({ accountId: borrower, amount });
  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');
  const advance = await api.getAdvance(requested.advanceId);
  expect(advance.payments).toHaveLength(15);
  expect(advance.payments.slice(0, 14).every((p) => p.status === PaymentStatus.PAYMENT_STATUS_FAILED)).toBe(true);
  expect(advance.payments[14]).toMatchObject({ status: PaymentStatus.PAYMENT_STATUS_PAID, amount: 600n });
  const legs = await bankLegsOf(pool, borrower);
  expect(sumSuccessful(legs.debits)).toBe(amount);
  expect((await ledger.getAccount(borrower)).balance).toBe(0n);
  await recordHistoryIfAsked(stack.temporal.client, requested.workflowId, 'advance-overdue-until-week-15');
});
