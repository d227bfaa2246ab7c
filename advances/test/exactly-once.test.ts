import { randomUUID } from 'node:crypto';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { paymentRequestId } from '../src/ledger/request-ids.js';
import { advancesApi, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { hookedLedger } from './support/ledger-hooks.js';
import { bankLegsOf, ledgerPool, sumSuccessful } from './support/ledger-facts.js';

let stack: AdvancesStack;
const pool = ledgerPool();
/** Borrowers whose payment 5 reply is lost once, after the ledger applied the debit. */
const loseReplyOfPayment5 = new Set<string>();
const lostReplies: string[] = [];

beforeAll(async () => {
  const wrapLedger = hookedLedger({
    after: async ({ request, paymentNumber }) => {
      if (paymentNumber === 5 && loseReplyOfPayment5.delete(request.dstAccountId)) {
        lostReplies.push(request.requestId);
        throw Object.assign(new Error('simulated: connection reset after the ledger answered'), { code: 14 });
      }
    },
  });
  stack = await startAdvancesStack({ worker: { wrapLedger } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

test('a reply lost after the ledger took payment 5 is retried with the same request id: one debit, not two', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower with a flaky network');
  loseReplyOfPayment5.add(borrower);

  const requested = await api.requestAdvance({ accountId: borrower, amount: 1_200n, requestId: randomUUID() });
  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');
  expect(lostReplies).toContain(paymentRequestId(requested.advanceId, 5));

  const legs = await bankLegsOf(pool, borrower);
  expect(legs.debits).toHaveLength(12);
  expect(legs.debits.filter((d) => d.requestId === paymentRequestId(requested.advanceId, 5))).toHaveLength(1);
  expect(sumSuccessful(legs.debits)).toBe(1_200n);
  // The activity's history shows the retry: payment 5 took two attempts.
  const history = await stack.temporal.client.workflow.getHandle(requested.workflowId).fetchHistory();
  const retried = history.events!.filter(
    (e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.attempt) > 1,
  );
  expect(retried).toHaveLength(1);
});
