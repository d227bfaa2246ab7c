import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Direction } from '@alfabet/proto/accounts/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { reconciliationSettingsOf } from '../src/config.js';
import { advancesToReconcilePage, dequeueChecked, type ReconcileScope } from '../src/db/reconciliation-pages.sql.js';
import { paymentDescription, reversalDescription } from '../src/ledger/advance-movements.js';
import { createLedgerClient, ledgerConnectionOf } from '../src/ledger/ledger-client.js';
import type { Finding } from '../src/reconciliation/findings.js';
import { NO_PROGRESS, runReconciliation, type ReconciliationDeps } from '../src/reconciliation/reconciliation-run.js';
import { advancesClosedSince } from '../src/temporal/advance-workflows.js';
import { advancesApi, eventually, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

/**
 * The hourly run checks only what can have become wrong since the last run;
 * the full sweep checks everything once per RECONCILIATION_FULL_SWEEP_INTERVAL.
 * Each way an advance can go wrong — its rows, the ledger, its workflow, the
 * clock — must put it back in an incremental run's scope. On a real Temporal
 * dev server: the incremental run needs visibility's list of closed workflows,
 * which the time-skipping server lacks (reconciliation.test.ts covers the
 * full sweeps there).
 */
const database = TEST_DATABASES.advancesIncremental;
const db = new pg.Pool({ connectionString: testDatabaseUrl(database), max: 2 });
const HOUR = 3600_000;
let stack: AdvancesStack;
let deps: ReconciliationDeps;
const advances: Array<{ accountId: string; advanceId: string }> = [];

beforeAll(async () => {
  stack = await startAdvancesStack({
    database,
    temporal: 'dev-server',
    env: { ADVANCE_PAYMENT_INTERVAL: '7d', RECONCILIATION_STUCK_AFTER: '1h', RECONCILIATION_FULL_SWEEP_INTERVAL: '1d' },
    ledgerEnv: { ACCOUNTS_DATABASE_URL: testDatabaseUrl(TEST_DATABASES.accountsIncremental) },
  });
  deps = {
    pool: stack.worker!.pool,
    em: stack.worker!.orm.em,
    ledger: createLedgerClient(ledgerConnectionOf(stack.config)),
    temporal: stack.temporal.client,
    log: stack.log,
    ...reconciliationSettingsOf(stack.config),
  };
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  for (let i = 0; i < 5; i++) {
    const accountId = await ledger.fundedAccount(10_000n, `Incrementally reconciled borrower ${i}`);
    advances.push({ accountId, advanceId: (await api.requestAdvance({ accountId, amount: 1_200n })).advanceId });
  }
  for (const { advanceId } of advances) {
    await eventually(async () => ((await api.getAdvance(advanceId)).status === 2 ? true : undefined), 'ACTIVE');
  }
}, 120_000);

afterAll(async () => {
  deps?.ledger.close();
  await stack?.stop();
  await db.end();
});

/** One run with these deps: its mode, how many advances it checked, what it raised and resolved. */
async function reconcile(overrides: Partial<ReconciliationDeps> = {}) {
  const raised: Finding[] = [];
  const resolved: Finding[] = [];
  const done = await runReconciliation({ ...deps, ...overrides }, `test-${randomUUID()}`, NO_PROGRESS, {
    progressed: () => undefined,
    raised: (finding) => raised.push(finding),
    resolved: (finding) => resolved.push(finding),
  });
  const describe = (list: Finding[]) => list.map((f) => `${f.kind} ${f.subject} ${f.advanceId}`).sort();
  return { mode: done.mode, checked: done.advancesChecked, raised: describe(raised), resolved: describe(resolved) };
}

const queued = async () => (await db.query('SELECT count(*)::int AS n FROM reconciliation_queue')).rows[0].n as number;

test('the first run sweeps every advance; the next, with nothing changed, checks none', async () => {
  const first = await reconcile();
  expect(first).toMatchObject({ mode: 'FULL', checked: advances.length, raised: [] });
  expect(await queued()).toBe(0);

  const second = await reconcile();
  expect(second).toMatchObject({ mode: 'INCREMENTAL', checked: 0, raised: [] });
});

test('a change in the rows, the ledger, the workflow or just the clock puts the advance back in scope', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const [rows, books, workflow, clock] = advances;

  // The rows: payment 12 grows by 1 (the schedule no longer adds up).
  await db.query('UPDATE payments SET amount = amount + 1 WHERE advance_id = $1 AND number = 12', [rows!.advanceId]);
  // The ledger: a stray debit naming the advance.
  const stray = await ledger.bankTransaction({
    dstAccountId: books!.accountId,
    amount: 7n,
    direction: Direction.DIRECTION_DEBIT,
    description: paymentDescription(books!.advanceId, 1),
  });
  // The workflow: terminated (once visibility shows it closed).
  const closedAfter = new Date(Date.now() - 1000);
  await stack.temporal.client.workflow.getHandle(`advance-${workflow!.advanceId}`).terminate('incremental test');
  await eventually(
    async () =>
      (await advancesClosedSince(stack.temporal.client, closedAfter))?.includes(workflow!.advanceId) ? true : undefined,
    'visibility to list the terminated workflow',
  );
  // The clock: payment 1 falls due half an hour ago — not stuck yet at RECONCILIATION_STUCK_AFTER = 1h.
  await db.query(`UPDATE payments SET due_time = now() - interval '30 minutes' WHERE advance_id = $1 AND number = 1`, [
    clock!.advanceId,
  ]);

  const seen = await reconcile();
  expect(seen.mode).toBe('INCREMENTAL');
  expect(seen.raised).toEqual(
    [
      `PAYMENTS_DO_NOT_ADD_UP schedule ${rows!.advanceId}`,
      `LEDGER_MOVEMENT_WITHOUT_PAYMENT ledger ${stray.transactionId} ${books!.advanceId}`,
      `WORKFLOW_FAILED workflow ${workflow!.advanceId}`,
    ].sort(),
  );
  expect(seen.checked).toBe(4); // the four touched; the fifth is not read
  // An hour later (no row has changed since): the payment is stuck, and only the clock can have said so.
  const later = await reconcile({ stuckAfterMs: 10 * 60_000 });
  expect(later.raised).toEqual([`PAYMENT_STUCK payment 1 ${clock!.advanceId}`]);
  expect(later.resolved).toEqual([]); // the open findings are re-checked and still there

  // Repairs: each resolves on the next incremental run, which re-checks every open finding.
  await db.query('UPDATE payments SET amount = amount - 1 WHERE advance_id = $1 AND number = 12', [rows!.advanceId]);
  await ledger.bankTransaction({
    dstAccountId: books!.accountId,
    amount: 7n,
    direction: Direction.DIRECTION_CREDIT,
    description: reversalDescription(books!.advanceId, stray.transactionId),
  });
  await db.query(`UPDATE payments SET due_time = now() + interval '7 days' WHERE advance_id = $1 AND number = 1`, [
    clock!.advanceId,
  ]);
  const repaired = await reconcile({ stuckAfterMs: 10 * 60_000 });
  expect(repaired.mode).toBe('INCREMENTAL');
  expect(repaired.resolved).toEqual(
    [
      `PAYMENTS_DO_NOT_ADD_UP schedule ${rows!.advanceId}`,
      `LEDGER_MOVEMENT_WITHOUT_PAYMENT ledger ${stray.transactionId} ${books!.advanceId}`,
      `PAYMENT_STUCK payment 1 ${clock!.advanceId}`,
    ].sort(),
  );
  expect(repaired.raised).toEqual([]);
});

test('a change made behind the triggers’ back is the full sweep’s to find', async () => {
  const [, , , , hidden] = advances;
  // A hand edit with triggers off (what a restore or a careless fix could do): nothing queues the advance.
  const client = await db.connect();
  try {
    await client.query(`SET session_replication_role = replica`);
    await client.query('UPDATE payments SET amount = amount + 5 WHERE advance_id = $1 AND number = 6', [
      hidden!.advanceId,
    ]);
  } finally {
    await client.query('RESET session_replication_role');
    client.release();
  }
  const incremental = await reconcile();
  expect(incremental.mode).toBe('INCREMENTAL');
  expect(incremental.raised).toEqual([]);

  // The full sweep, due once RECONCILIATION_FULL_SWEEP_INTERVAL has passed since the last one.
  const sweep = await reconcile({ fullSweepEveryMs: 0 });
  expect(sweep.mode).toBe('FULL');
  expect(sweep.raised).toEqual([`PAYMENTS_DO_NOT_ADD_UP schedule ${hidden!.advanceId}`]);
  expect(sweep.checked).toBeGreaterThanOrEqual(advances.length - 1); // the terminated one is still unsettled too
  await db.query('UPDATE payments SET amount = amount - 5 WHERE advance_id = $1 AND number = 6', [hidden!.advanceId]);
  expect((await reconcile()).resolved).toEqual([`PAYMENTS_DO_NOT_ADD_UP schedule ${hidden!.advanceId}`]);
});

test('an advance that changes while a run checks it stays queued for the next run', async () => {
  const [, , , , advance] = advances;
  await db.query('UPDATE payments SET amount = amount WHERE advance_id = $1 AND number = 3', [advance!.advanceId]);
  const scope: ReconcileScope = {
    mode: 'INCREMENTAL',
    stuckBefore: new Date(Date.now() - HOUR),
    closedWorkflowAdvanceIds: [],
  };
  const page = (await advancesToReconcilePage(deps.pool, null, 500, scope)).filter(
    (a) => a.advanceId === advance!.advanceId,
  );
  expect(page).toHaveLength(1);
  // The workflow records a payment after the run read the advance, before it took it off the queue.
  await db.query('UPDATE payments SET amount = amount WHERE advance_id = $1 AND number = 4', [advance!.advanceId]);
  await dequeueChecked(deps.pool, page);
  const stillQueued = await db.query('SELECT 1 FROM reconciliation_queue WHERE advance_id = $1', [advance!.advanceId]);
  expect(stillQueued.rowCount).toBe(1);
  // Without the second change, the same dequeue takes it off.
  const again = (await advancesToReconcilePage(deps.pool, null, 500, scope)).filter(
    (a) => a.advanceId === advance!.advanceId,
  );
  await dequeueChecked(deps.pool, again);
  const gone = await db.query('SELECT 1 FROM reconciliation_queue WHERE advance_id = $1', [advance!.advanceId]);
  expect(gone.rowCount).toBe(0);
});
