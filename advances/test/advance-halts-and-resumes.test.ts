import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { createLogger } from '@alfabet/service-kit/logger';
import { AdvanceStatus, PaymentStatus } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { disbursementRequestId, paymentRequestId } from '../src/ledger/request-ids.js';
import { resumeSignal } from '../src/workflows/index.js';
import { advancesApi, eventually, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { recordHistoryIfAsked } from './support/histories.js';
import { hookedLedger } from './support/ledger-hooks.js';
import { bankLegsOf, ledgerPool, sumSuccessful } from './support/ledger-facts.js';

// Its own database: this test tampers with the projection on purpose.
const database = `${TEST_DATABASES.advances}_halt`;
const db = new pg.Pool({ connectionString: testDatabaseUrl(database), max: 2 });
const ledgerDb = ledgerPool();
const logLines: Array<Record<string, unknown>> = [];
/** Borrowers whose disbursement the ledger rejects as a bad request (INVALID_ARGUMENT) until removed. */
const rejectDisbursementOf = new Set<string>();
let stack: AdvancesStack;

beforeAll(async () => {
  await dropTestDatabase(database);
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean))
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const wrapLedger = hookedLedger({
    before: async ({ request, paymentNumber }) => {
      if (paymentNumber === null && rejectDisbursementOf.has(request.dstAccountId)) {
        throw Object.assign(new Error('amount: above MAX_AMOUNT (simulated)'), {
          code: status.INVALID_ARGUMENT,
          details: 'amount: above MAX_AMOUNT (simulated)',
        });
      }
    },
  });
  stack = await startAdvancesStack({
    database,
    log: createLogger('info', 'advances-worker', [], sink),
    worker: { wrapLedger },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await db.end();
  await ledgerDb.end();
});

interface FindingRow {
  kind: string;
  subject: string;
  severity: string;
  detail: string;
  run_id: string;
  resolve_time: Date | null;
}
const haltFindings = async (advanceId: string) =>
  (
    await db.query<FindingRow>(
      `SELECT kind, subject, severity, detail, run_id, resolve_time FROM reconciliation_findings
   WHERE advance_id = $1 AND kind = 'WORKFLOW_HALTED' ORDER BY create_time`,
      [advanceId],
    )
  ).rows;
const haltAlerts = (advanceId: string) =>
  logLines.filter((line) => line.alert === 'advance_workflow_halted' && line.advanceId === advanceId);
const workflowStatus = async (workflowId: string) =>
  (await stack.temporal.client.workflow.getHandle(workflowId).describe()).status.name;

test('a payment the projection refuses halts the advance with one critical finding; repaired and resumed, it is taken once and the advance is repaid', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower whose payment 2 was tampered with');
  const requested = await api.requestAdvance({ accountId: borrower, amount: 1_200n, requestId: randomUUID() });
  const { advanceId, workflowId } = requested;
  await eventually(
    async () => ((await api.getAdvance(advanceId)).payments.length === 12 ? true : undefined),
    'the opening schedule',
  );

  // Someone edits payment 2 in the projection: the workflow's guarded transition refuses it (ScheduleGuardViolation).
  await db.query('UPDATE payments SET amount = amount + 1 WHERE advance_id = $1 AND number = 2', [advanceId]);
  await stack.temporal.timeSkipping!.sleep('15 days');
  const [finding] = await eventually(async () => {
    const rows = await haltFindings(advanceId);
    return rows.length > 0 ? rows : undefined;
  }, 'the WORKFLOW_HALTED finding');

  // Halted, not failed — and it stays halted however long nobody repairs it.
  await stack.temporal.timeSkipping!.sleep('30 days');
  expect(await workflowStatus(workflowId)).toBe('RUNNING');
  expect(await haltFindings(advanceId)).toHaveLength(1);
  expect(finding).toMatchObject({
    kind: 'WORKFLOW_HALTED',
    subject: 'workflow',
    severity: 'CRITICAL',
    run_id: `workflow/${workflowId}`,
    resolve_time: null,
  });
  expect(finding!.detail).toContain('payment 2');
  expect(finding!.detail).toContain('ScheduleGuardViolation');
  const alerts = haltAlerts(advanceId);
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ level: 60, severity: 'CRITICAL', workflowId, step: 'payment 2' });
  const halted = await api.getAdvance(advanceId);
  expect(halted.status).toBe(AdvanceStatus.ADVANCE_STATUS_ACTIVE);
  expect(halted.payments.map((p) => p.status).slice(0, 3)).toEqual([
    PaymentStatus.PAYMENT_STATUS_PAID,
    PaymentStatus.PAYMENT_STATUS_SCHEDULED,
    PaymentStatus.PAYMENT_STATUS_SCHEDULED,
  ]);
  expect((await bankLegsOf(ledgerDb, borrower)).debits).toHaveLength(1);

  // Ops repair the row and resume the workflow.
  await db.query('UPDATE payments SET amount = amount - 1 WHERE advance_id = $1 AND number = 2', [advanceId]);
  const handle = stack.temporal.client.workflow.getHandle(workflowId);
  await handle.signal(resumeSignal);
  const view = (await handle.result()) as AdvanceView;
  expect(view.status).toBe('REPAID');

  const [resolved] = await haltFindings(advanceId);
  expect(await haltFindings(advanceId)).toHaveLength(1);
  expect(resolved!.resolve_time).toBeInstanceOf(Date);
  const advance = await api.getAdvance(advanceId);
  expect(advance.status).toBe(AdvanceStatus.ADVANCE_STATUS_REPAID);
  expect(advance.paidAmount).toBe(1_200n);
  const legs = await bankLegsOf(ledgerDb, borrower);
  expect(legs.debits.filter((d) => d.requestId === paymentRequestId(advanceId, 2))).toEqual([
    { amount: 100n, requestId: paymentRequestId(advanceId, 2), status: 'success' },
  ]);
  expect(legs.debits).toHaveLength(12);
  expect(sumSuccessful(legs.debits)).toBe(1_200n);
  expect(haltAlerts(advanceId)).toHaveLength(1);
  await recordHistoryIfAsked(stack.temporal.client, workflowId, 'advance-halted-at-payment-2-then-resumed');
});

test('a disbursement the ledger rejects halts the advance at DISBURSING; resumed after the repair, it is credited once and repaid', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower the ledger refuses to credit');
  rejectDisbursementOf.add(borrower);
  const { advanceId, workflowId } = await api.requestAdvance({
    accountId: borrower,
    amount: 600n,
    requestId: randomUUID(),
  });

  const [finding] = await eventually(async () => {
    const rows = await haltFindings(advanceId);
    return rows.length > 0 ? rows : undefined;
  }, 'the WORKFLOW_HALTED finding');
  expect(finding).toMatchObject({ subject: 'workflow', severity: 'CRITICAL', resolve_time: null });
  expect(finding!.detail).toContain('disbursement');
  expect(finding!.detail).toContain('LedgerRejectedRequest');
  expect(await workflowStatus(workflowId)).toBe('RUNNING');
  expect((await api.getAdvance(advanceId)).status).toBe(AdvanceStatus.ADVANCE_STATUS_DISBURSING);
  expect(haltAlerts(advanceId)).toEqual([
    expect.objectContaining({ level: 60, severity: 'CRITICAL', step: 'disbursement' }),
  ]);

  // A resume before the repair halts again: one new finding, one new alert, still nothing credited.
  const handle = stack.temporal.client.workflow.getHandle(workflowId);
  await handle.signal(resumeSignal);
  await eventually(async () => ((await haltFindings(advanceId)).length === 2 ? true : undefined), 'the second halt');
  const findings = await haltFindings(advanceId);
  expect(findings.map((f) => f.resolve_time === null)).toEqual([false, true]);
  expect(haltAlerts(advanceId)).toHaveLength(2);
  expect((await bankLegsOf(ledgerDb, borrower)).credits).toEqual([]);

  rejectDisbursementOf.delete(borrower);
  await handle.signal(resumeSignal);
  const view = (await handle.result()) as AdvanceView;
  expect(view.status).toBe('REPAID');
  expect((await haltFindings(advanceId)).every((f) => f.resolve_time !== null)).toBe(true);
  const legs = await bankLegsOf(ledgerDb, borrower);
  expect(legs.credits).toEqual([{ amount: 600n, requestId: disbursementRequestId(advanceId), status: 'success' }]);
  expect(sumSuccessful(legs.debits)).toBe(600n);
  expect(legs.balance).toBe(0n);
});
