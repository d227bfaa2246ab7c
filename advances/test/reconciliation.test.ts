import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger } from '@alfabet/proto/logger';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import type { ReconciliationSummary } from '../src/activities/types.js';
import { advancesApi, eventually, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

// Its own database: this test corrupts rows on purpose.
const database = TEST_DATABASES.advancesReconciliation;
const db = new pg.Pool({ connectionString: testDatabaseUrl(database), max: 2 });
const logLines: Array<Record<string, unknown>> = [];
let stack: AdvancesStack;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  stack = await startAdvancesStack({ database, log: createLogger('info', 'advances-worker', [], sink) });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await db.end();
});

let runs = 0;
const reconcile = () => stack.temporal.client.workflow.execute('reconciliationWorkflow', {
  taskQueue: stack.config.taskQueue, workflowId: `reconciliation-test-${++runs}`,
}) as Promise<ReconciliationSummary>;

const mismatches = async () => (await stack.worker!.metrics.reconciliationMismatches.get()).values.reduce((sum, v) => sum + v.value, 0);

test('reconciliation finds nothing on healthy advances, then alerts on a corrupted payment: log line, metric, stored finding', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Reconciled borrower');
  const advance = await api.requestAdvance({ accountId: borrower, amount: 1_200n });
  // Disbursed, then two weeks pass: payments 1 and 2 are taken, 3…12 wait.
  await eventually(async () => ((await api.getAdvance(advance.advanceId)).disbursementTransactionId || undefined), 'the disbursement');
  await stack.temporal.timeSkipping!.sleep('15 days');
  await eventually(async () => ((await api.getAdvance(advance.advanceId)).paidAmount === 200n ? true : undefined), 'payments 1 and 2');

  const healthy = await reconcile();
  expect(healthy.advancesChecked).toBeGreaterThanOrEqual(1);
  expect(healthy.findings).toBe(0);
  expect(await mismatches()).toBe(0);

  // Someone edits the projection: payment 5 now asks for a cent more (the schedule no longer adds up),
  // and paid payment 1 claims one cent less than the ledger took (compensated by payment 6, so the sum still adds up).
  await db.query('UPDATE payments SET amount = amount + 1 WHERE advance_id = $1 AND number = 5', [advance.advanceId]);
  await db.query('UPDATE payments SET amount = amount - 1 WHERE advance_id = $1 AND number = 1', [advance.advanceId]);
  await db.query('UPDATE payments SET amount = amount + 1 WHERE advance_id = $1 AND number = 6', [advance.advanceId]);

  const corrupted = await reconcile();
  expect(corrupted.findings).toBe(2);
  expect(await mismatches()).toBe(2);
  const stored = await db.query<{ kind: string; detail: string }>(
    'SELECT kind, detail FROM reconciliation_findings WHERE advance_id = $1 AND run_id = $2 ORDER BY kind', [advance.advanceId, corrupted.runId]);
  expect(stored.rows.map((r) => r.kind)).toEqual(['PAYMENT_LEDGER_MISMATCH', 'SCHEDULE_SUM_MISMATCH']);
  expect(stored.rows[0]!.detail).toContain('payment 1');
  expect(stored.rows[1]!.detail).toContain('add up to 1201');

  const alerts = logLines.filter((line) => line.alert === 'advance_reconciliation_mismatch');
  expect(alerts).toHaveLength(2);
  expect(alerts.every((a) => a.level === 60 && a.severity === 'CRITICAL' && a.advanceId === advance.advanceId)).toBe(true);
});
