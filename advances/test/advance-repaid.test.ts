import { randomUUID } from 'node:crypto';
import { AdvanceStatus, PaymentStatus } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { advancesApi, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { recordHistoryIfAsked } from './support/histories.js';
import { assertLedgerVerifies, bankLegsOf, ledgerPool, sumSuccessful } from './support/ledger-facts.js';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';

let stack: AdvancesStack;
const pool = ledgerPool();

beforeAll(async () => {
  stack = await startAdvancesStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

test('a 12-week advance repaid on time: one credit, twelve debits that add up to the amount, ledger:verify holds', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const accountId = await ledger.fundedAccount(0n, 'Borrower');
  const amount = 120_007n; // not divisible by 12: the remainder goes to the first payments

  const requested = await api.requestAdvance({ accountId, amount, requestId: randomUUID() });
  expect(requested.status).toBe(AdvanceStatus.ADVANCE_STATUS_DISBURSING);
  expect(requested.workflowId).toBe(`advance-${requested.advanceId}`);

  // result() lets the time-skipping server jump over the 12 weekly timers.
  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');

  const advance = await api.getAdvance(requested.advanceId);
  expect(advance.status).toBe(AdvanceStatus.ADVANCE_STATUS_REPAID);
  expect(advance.paidAmount).toBe(amount);
  expect(advance.outstandingAmount).toBe(0n);
  expect(advance.payments.map((p) => p.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  expect(advance.payments.every((p) => p.status === PaymentStatus.PAYMENT_STATUS_PAID)).toBe(true);
  expect(advance.payments.map((p) => p.amount)).toEqual([...Array(7).fill(10_001n), ...Array(5).fill(10_000n)]);
  // Due dates one interval apart, the first one interval after the disbursement.
  const dues = advance.payments.map((p) => dateOfTimestamp(p.dueTime!).getTime());
  for (let i = 1; i < dues.length; i++) expect(dues[i]! - dues[i - 1]!).toBe(7 * 24 * 3600 * 1000);

  const legs = await bankLegsOf(pool, accountId);
  expect(legs.credits).toHaveLength(1);
  expect(legs.credits[0]).toMatchObject({ amount, status: 'success' });
  expect(legs.debits).toHaveLength(12);
  expect(legs.debits.every((d) => d.status === 'success')).toBe(true);
  expect(sumSuccessful(legs.debits)).toBe(amount);
  expect(new Set(legs.debits.map((d) => d.requestId)).size).toBe(12);
  expect(legs.balance).toBe(0n);
  expect(advance.payments.map((p) => p.transactionId).every((id) => id.length === 36)).toBe(true);
  await assertLedgerVerifies(pool);
  await recordHistoryIfAsked(stack.temporal.client, requested.workflowId, 'advance-repaid-on-time');
});
