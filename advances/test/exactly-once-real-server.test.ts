import { createServer } from 'node:net';
import pg from 'pg';
import { NativeConnection } from '@temporalio/worker';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import type { AdvanceView, ReconciliationSummary } from '../src/domain/advance-types.js';
import { ensureReconciliationSchedule, RECONCILIATION_SCHEDULE_ID } from '../src/temporal/reconciliation-schedule.js';
import { paymentRequestId } from '../src/ledger/request-ids.js';
import { startAdvancesWorker, type AdvancesWorker } from '../src/worker-app.js';
import {
  advancesApi,
  eventually,
  spawnWorkerProcess,
  startAdvancesStack,
  type AdvancesStack,
} from './support/advances-harness.js';
import {
  assertLedgerVerifies,
  bankLegsOf,
  holdRowUntilADebitWaits,
  ledgerPool,
  sumSuccessful,
} from './support/ledger-facts.js';

// On the real Temporal dev server with payments one second apart: workers are
// real processes here (one is SIGKILLed), which the time-skipping server's
// clock does not suit. Databases of its own: its reconciliation run must see
// only its own advances (another file's, in a shared database, have no
// workflow on this server, and their ledger movements no advance here).
let stack: AdvancesStack;
const ACCOUNTS_DB = `${TEST_DATABASES.accounts}_real`;
const ADVANCES_DB = `${TEST_DATABASES.advances}_real`;
const pool = ledgerPool(testDatabaseUrl(ACCOUNTS_DB));

beforeAll(async () => {
  await dropTestDatabase(ACCOUNTS_DB);
  await dropTestDatabase(ADVANCES_DB);
  stack = await startAdvancesStack({
    temporal: 'dev-server',
    env: { ADVANCE_PAYMENT_INTERVAL: '1s' },
    noWorker: true,
    database: ADVANCES_DB,
    ledgerEnv: { ACCOUNTS_DATABASE_URL: testDatabaseUrl(ACCOUNTS_DB) },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const result = (workflowId: string) =>
  stack.temporal.client.workflow.getHandle(workflowId).result() as Promise<AdvanceView>;

function expectEachPaymentOnce(legs: Awaited<ReturnType<typeof bankLegsOf>>, advanceId: string, amount: bigint) {
  expect(legs.credits).toHaveLength(1);
  expect(legs.debits).toHaveLength(12);
  expect(new Set(legs.debits.map((d) => d.requestId))).toEqual(
    new Set(Array.from({ length: 12 }, (_, n) => paymentRequestId(advanceId, n + 1))),
  );
  expect(sumSuccessful(legs.debits)).toBe(amount);
}

test('ten advances at once on two workers polling one task queue: every payment taken exactly once', async () => {
  const workers: AdvancesWorker[] = [];
  const connections: NativeConnection[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const connection = await NativeConnection.connect({ address: stack.temporal.address });
      connections.push(connection);
      workers.push(await startAdvancesWorker(stack.config, stack.log, { connection }));
    }
    const ledger = ledgerApi(stack.ledger.client);
    const api = advancesApi(stack.client);
    const borrowers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ledger.fundedAccount(0n, `Borrower ${i}`)),
    );
    const amounts = borrowers.map((_, i) => 1_000n + BigInt(i) * 37n);
    const advances = await Promise.all(
      borrowers.map((accountId, i) => api.requestAdvance({ accountId, amount: amounts[i]! })),
    );
    const views = await Promise.all(advances.map((a) => result(a.workflowId)));
    expect(views.every((v) => v.status === 'REPAID')).toBe(true);

    for (const [i, advance] of advances.entries())
      expectEachPaymentOnce(await bankLegsOf(pool, borrowers[i]!), advance.advanceId, amounts[i]!);
    // Both workers took payments.
    const perWorker = await Promise.all(
      workers.map(async (w) => (await w.metrics.payments.get()).values.reduce((sum, v) => sum + v.value, 0)),
    );
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(120);
    await assertLedgerVerifies(pool);
  } finally {
    for (const worker of workers) await worker.stop();
    for (const connection of connections) await connection.close();
  }
}, 120_000);

test('a worker SIGKILLed while the ledger is applying a payment: the restarted worker finishes it, no second debit', async () => {
  const spawnWorker = (temporalMetricsAddress = 'off') => spawnWorkerProcess(stack, temporalMetricsAddress);
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower of the crashed worker');
  const accountsDb = new pg.Client({ connectionString: testDatabaseUrl(ACCOUNTS_DB) });
  await accountsDb.connect();
  let worker = spawnWorker();
  try {
    const advance = await api.requestAdvance({ accountId: borrower, amount: 1_200n });
    await eventually(
      async () => (await api.getAdvance(advance.advanceId)).disbursementTransactionId || undefined,
      'the disbursement',
    );

    // Hold the borrower's row: payment 1's debit will wait inside the ledger.
    await holdRowUntilADebitWaits(accountsDb, borrower);

    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    await accountsDb.query('COMMIT'); // the ledger now applies the debit; its reply goes to a dead worker
    const payment1 = paymentRequestId(advance.advanceId, 1);
    await eventually(
      async () => ((await bankLegsOf(pool, borrower)).debits.some((d) => d.requestId === payment1) ? true : undefined),
      'the ledger to apply payment 1',
    );

    const metricsPort = await freePort();
    worker = spawnWorker(`127.0.0.1:${metricsPort}`); // after the activity's timeout, Temporal retries payment 1 on it
    const view = await result(advance.workflowId);
    expect(view.status).toBe('REPAID');
    // The worker process serves the Temporal SDK's worker metrics for Prometheus.
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^temporal_worker_task_slots_available\{/m);
    expect(metrics).toMatch(/^temporal_activity_execution_latency/m);
    expectEachPaymentOnce(await bankLegsOf(pool, borrower), advance.advanceId, 1_200n);
    await assertLedgerVerifies(pool);
  } finally {
    worker.kill('SIGTERM');
    await accountsDb.end();
  }
}, 150_000);

test('the reconciliation Schedule is created once at worker start, kept at RECONCILIATION_INTERVAL, and runs the reconciliation', async () => {
  const schedule = stack.temporal.client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID);
  await ensureReconciliationSchedule(stack.temporal.client, stack.config.taskQueue, 3_600_000, stack.log);
  await ensureReconciliationSchedule(stack.temporal.client, stack.config.taskQueue, 3_600_000, stack.log); // idempotent
  expect((await schedule.describe()).spec.intervals?.map((i) => Number(i.every))).toEqual([3_600_000]);
  await ensureReconciliationSchedule(stack.temporal.client, stack.config.taskQueue, 2_000, stack.log); // interval changed
  expect((await schedule.describe()).spec.intervals?.map((i) => Number(i.every))).toEqual([2_000]);

  const connection = await NativeConnection.connect({ address: stack.temporal.address });
  const worker = await startAdvancesWorker(stack.config, stack.log, { connection });
  try {
    // Runs every 2 s: a run completes with a summary.
    const run = await eventually(
      async () => (await schedule.describe()).info.recentActions.at(-1),
      'a scheduled run',
      30_000,
    );
    const summary = (await stack.temporal.client.workflow
      .getHandle(run.action.workflow.workflowId, run.action.workflow.firstExecutionRunId)
      .result()) as ReconciliationSummary;
    expect(summary.findingsRaised).toBe(0);
  } finally {
    await schedule.delete();
    await worker.stop();
    await connection.close();
  }
}, 60_000);
