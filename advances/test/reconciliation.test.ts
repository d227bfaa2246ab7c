import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { status, type ServiceError } from '@grpc/grpc-js';
import pg from 'pg';
import { Registry } from 'prom-client';
import { Direction } from '@alfabet/proto/accounts/v1';
import { FindingKind, type Finding as FindingMessage } from '@alfabet/proto/advances/v1';
import { createLogger } from '@alfabet/service-kit/logger';
import { Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { reconciliationSettingsOf } from '../src/config.js';
import type { ReconciliationSummary } from '../src/domain/advance-types.js';
import { reversalDescription, paymentDescription } from '../src/ledger/advance-movements.js';
import { createLedgerClient, ledgerConnectionOf } from '../src/ledger/ledger-client.js';
import { registerReconciliationGauges } from '../src/metrics.js';
import type { Finding } from '../src/reconciliation/findings.js';
import {
  NO_PROGRESS,
  runReconciliation,
  type ReconciliationDeps,
  type RunProgress,
} from '../src/reconciliation/reconciliation-run.js';
import {
  advancesApi,
  callAdvances,
  eventually,
  startAdvancesStack,
  type AdvancesStack,
} from './support/advances-harness.js';
import { microsOfTimestamp } from '@alfabet/service-kit/timestamps';

// Its own databases: this test corrupts rows on purpose, and its ledger holds
// only its own advances' movements. Payments are weekly; a payment two weeks
// past due is stuck.
const database = TEST_DATABASES.advancesReconciliation;
const db = new pg.Pool({ connectionString: testDatabaseUrl(database), max: 2 });
const logLines: Array<Record<string, unknown>> = [];
let stack: AdvancesStack;
let deps: ReconciliationDeps;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean))
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  stack = await startAdvancesStack({
    database,
    log: createLogger('info', 'advances-worker', [], sink),
    env: { RECONCILIATION_STUCK_AFTER: '14d' },
    ledgerEnv: { ACCOUNTS_DATABASE_URL: testDatabaseUrl(TEST_DATABASES.accountsReconciliation) },
  });
  deps = {
    em: stack.worker!.orm.em,
    pool: stack.worker!.pool,
    ledger: createLedgerClient(ledgerConnectionOf(stack.config)),
    temporal: stack.temporal.client,
    log: stack.log,
    ...reconciliationSettingsOf(stack.config),
  };
}, 120_000);

afterAll(async () => {
  deps?.ledger.close();
  await stack?.stop();
  await db.end();
});

/**
 * The reconciliation workflow as the Schedule starts it. A plain client: the
 * time-skipping one would let weeks pass while it waits, and the advances' timers fire.
 */
const runReconciliationWorkflow = () =>
  new Client({ connection: stack.temporal.timeSkipping!.connection }).workflow.execute('reconciliationWorkflow', {
    taskQueue: stack.config.taskQueue,
    workflowId: `reconciliation-test-${randomUUID()}`,
  }) as Promise<ReconciliationSummary>;

/** One run, called directly (the time-skipping server's clock stays still): what it raised and resolved. */
async function reconcile(
  progress: RunProgress = NO_PROGRESS,
  onProgress: (p: RunProgress) => void = () => undefined,
  runId = `test-${randomUUID()}`,
) {
  const raised: Finding[] = [];
  const resolved: Finding[] = [];
  await runReconciliation(deps, runId, progress, {
    progressed: onProgress,
    raised: (f) => raised.push(f),
    resolved: (f) => resolved.push(f),
  });
  const describe = (list: Finding[]) => list.map((f) => `${f.kind} ${f.subject} ${f.advanceId}`).sort();
  return { raised: describe(raised), resolved: describe(resolved), raisedFindings: raised };
}

const openFindings = async () =>
  (await db.query('SELECT count(*)::int AS n FROM reconciliation_findings WHERE resolve_time IS NULL')).rows[0]
    .n as number;

interface Borrower {
  accountId: string;
  advanceId: string;
}
let borrowers: Borrower[];

test('a healthy book raises nothing, through the reconciliation workflow as the Schedule runs it', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  borrowers = [];
  for (let i = 0; i < 5; i++) {
    const accountId = await ledger.fundedAccount(10_000n, `Reconciled borrower ${i}`);
    const advance = await api.requestAdvance({ accountId, amount: 1_200n });
    borrowers.push({ accountId, advanceId: advance.advanceId });
  }
  for (const { advanceId } of borrowers) {
    await eventually(
      async () => (await api.getAdvance(advanceId)).disbursementTransactionId || undefined,
      'the disbursement',
    );
  }
  // A week and a day: payment 1 of each is taken.
  await stack.temporal.timeSkipping!.sleep('8 days');
  for (const { advanceId } of borrowers) {
    await eventually(
      async () => ((await api.getAdvance(advanceId)).paidAmount === 100n ? true : undefined),
      'payment 1',
    );
  }
  // The bank's own movements on a borrower's account (a fee) are none of the reconciliation's business.
  await ledger.bankTransaction({
    dstAccountId: borrowers[0]!.accountId,
    amount: 5n,
    direction: Direction.DIRECTION_DEBIT,
    description: 'card fee',
  });

  const summary = await runReconciliationWorkflow();
  expect(summary.advancesChecked).toBeGreaterThanOrEqual(5);
  expect(summary.findingsRaised).toBe(0);
  expect(await openFindings()).toBe(0);
});

test('each divergence raises exactly one finding of its kind, once, with an alert, and it resolves after repair', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const [a1, a2, a3, a4] = borrowers;

  // 1. An extra debit that claims to be advance 1's payment 1, with a request id the service never made.
  const stray = await ledger.bankTransaction({
    dstAccountId: a1!.accountId,
    amount: 7n,
    direction: Direction.DIRECTION_DEBIT,
    description: paymentDescription(a1!.advanceId, 1),
  });
  // 2. Payment 1 of advance 2 recorded FAILED and rolled into payment 2, while the ledger took it: charged twice.
  await db.query(
    `UPDATE payments SET status = 'FAILED', failure_reason = 'INSUFFICIENT_FUNDS', rolled_into = 2 WHERE advance_id = $1 AND number = 1`,
    [a2!.advanceId],
  );
  await db.query(`UPDATE payments SET amount = amount + 100 WHERE advance_id = $1 AND number = 2`, [a2!.advanceId]);
  // 3. Payment 2 of advance 3 PROCESSING three weeks past due.
  const {
    rows: [due3],
  } = await db.query(`SELECT due_time FROM payments WHERE advance_id = $1 AND number = 2`, [a3!.advanceId]);
  await db.query(
    `UPDATE payments SET status = 'PROCESSING', due_time = now() - interval '21 days' WHERE advance_id = $1 AND number = 2`,
    [a3!.advanceId],
  );
  // 4. Advance 4's workflow terminated.
  await stack.temporal.client.workflow.getHandle(`advance-${a4!.advanceId}`).terminate('reconciliation test');

  const first = await reconcile();
  expect(first.raised).toEqual(
    [
      `LEDGER_MOVEMENT_WITHOUT_PAYMENT ledger ${stray.transactionId} ${a1!.advanceId}`,
      `PAYMENT_LEDGER_MISMATCH payment 1 ${a2!.advanceId}`,
      `PAYMENT_STUCK payment 2 ${a3!.advanceId}`,
      `WORKFLOW_FAILED workflow ${a4!.advanceId}`,
    ].sort(),
  );
  // Raised once: the next run sees them all again and raises nothing new.
  expect((await reconcile()).raised).toEqual([]);
  expect(await openFindings()).toBe(4);

  // Repairs: ops reverse the stray debit; the projection rows are put back; the workflow is started again.
  await ledger.bankTransaction({
    dstAccountId: a1!.accountId,
    amount: 7n,
    direction: Direction.DIRECTION_CREDIT,
    description: reversalDescription(a1!.advanceId, stray.transactionId),
  });
  await db.query(
    `UPDATE payments SET status = 'PAID', failure_reason = NULL, rolled_into = NULL WHERE advance_id = $1 AND number = 1`,
    [a2!.advanceId],
  );
  await db.query(`UPDATE payments SET amount = amount - 100 WHERE advance_id = $1 AND number = 2`, [a2!.advanceId]);
  await db.query(`UPDATE payments SET status = 'SCHEDULED', due_time = $2 WHERE advance_id = $1 AND number = 2`, [
    a3!.advanceId,
    due3.due_time,
  ]);
  await startAgain(`advance-${a4!.advanceId}`);

  const repaired = await reconcile();
  expect(repaired.raised).toEqual([]);
  expect(repaired.resolved).toEqual(first.raised);
  expect(await openFindings()).toBe(0);
});

test('an advance left DISBURSING without a workflow is found, started, and disbursed exactly once', async () => {
  const ledger = ledgerApi(stack.ledger.client);
  const accountId = await ledger.fundedAccount(0n, 'Borrower whose API died before the start');
  const advanceId = randomUUID();
  // What an API killed between its database write and the workflow start leaves behind.
  await db.query(
    `INSERT INTO advances (advance_id, request_id, account_id, amount, status, installments, payment_interval_ms, create_time)
     VALUES ($1, $2, $3, 1200, 'DISBURSING', 12, $4, now() - interval '5 minutes')`,
    [advanceId, randomUUID(), accountId, stack.config.paymentIntervalMs],
  );

  const found = await reconcile();
  expect(found.raised).toEqual([`WORKFLOW_MISSING workflow ${advanceId}`]);
  expect(found.raisedFindings[0]!.severity).toBe('WARNING');
  const api = advancesApi(stack.client);
  await eventually(
    async () => ((await api.getAdvance(advanceId)).status === 2 ? true : undefined),
    'the advance ACTIVE',
  );
  // Lent once: the balance is the credit less what was paid back (the test server's clock is weeks ahead of the ledger's).
  const lentOnce = async () =>
    expect((await ledger.getAccount(accountId)).balance).toBe(1_200n - (await api.getAdvance(advanceId)).paidAmount);
  await lentOnce();

  const next = await reconcile();
  expect(next.resolved).toEqual([`WORKFLOW_MISSING workflow ${advanceId}`]);
  expect((await reconcile()).raised).toEqual([]);
  await lentOnce();
});

test('a run cut short resumes from its last progress and raises nothing twice', async () => {
  const [a1] = borrowers;
  await db.query(`UPDATE payments SET amount = amount + 1 WHERE advance_id = $1 AND number = 12`, [a1!.advanceId]);
  let saved: RunProgress = NO_PROGRESS;
  let calls = 0;
  // The "worker" dies at its second heartbeat after the ledger scan; the retry (same run) resumes from it.
  const runId = `test-${randomUUID()}`;
  const dying = reconcile(
    NO_PROGRESS,
    (progress) => {
      saved = structuredClone(progress);
      if (progress.scannedUntil && ++calls === 2) throw new Error('worker killed');
    },
    runId,
  );
  await expect(dying).rejects.toThrow('worker killed');
  expect(saved.scannedUntil).not.toBeNull();
  const resumed = await reconcile(saved, () => undefined, runId);
  const expected = `PAYMENTS_DO_NOT_ADD_UP schedule ${a1!.advanceId}`;
  const rows = await db.query(
    `SELECT count(*)::int AS n FROM reconciliation_findings WHERE advance_id = $1 AND kind = 'PAYMENTS_DO_NOT_ADD_UP' AND resolve_time IS NULL`,
    [a1!.advanceId],
  );
  expect(rows.rows[0].n).toBe(1);
  expect([...resumed.raised, ...(saved.findingsRaised > 0 ? [expected] : [])]).toContain(expected);
  await db.query(`UPDATE payments SET amount = amount - 1 WHERE advance_id = $1 AND number = 12`, [a1!.advanceId]);
  expect((await reconcile()).resolved).toEqual([expected]);
});

test('alerts: a critical log line per finding raised, the open findings gauge by kind, the last success time', async () => {
  const [, , , , a5] = borrowers;
  await db.query(`UPDATE payments SET amount = amount + 3 WHERE advance_id = $1 AND number = 12`, [a5!.advanceId]);
  const before = logLines.length;
  await runReconciliationWorkflow();
  const alerts = logLines.slice(before).filter((line) => line.alert === 'advance_reconciliation_mismatch');
  expect(alerts).toEqual([
    expect.objectContaining({
      level: 60,
      severity: 'CRITICAL',
      advanceId: a5!.advanceId,
      kind: 'PAYMENTS_DO_NOT_ADD_UP',
    }),
  ]);

  const registry = new Registry();
  registerReconciliationGauges(registry, deps.em, 3_600_000);
  const exposition = await registry.metrics();
  expect(exposition).toContain('advances_reconciliation_findings_open{kind="PAYMENTS_DO_NOT_ADD_UP"} 1');
  expect(exposition).toContain('advances_reconciliation_findings_open{kind="WORKFLOW_HALTED"} 0');
  const lastSuccess = Number(/^advances_reconciliation_last_success_timestamp_seconds (\S+)$/m.exec(exposition)![1]);
  expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(600);
  expect(exposition).toContain('advances_reconciliation_interval_seconds 3600');
  await db.query(`UPDATE payments SET amount = amount - 3 WHERE advance_id = $1 AND number = 12`, [a5!.advanceId]);
  await reconcile();
});

test('ListReconciliationFindings: newest first, by advance, open only, paged; bad input names the field', async () => {
  const list = (request: object) =>
    callAdvances<{ findings: FindingMessage[]; nextPageToken: string }>(
      stack.client,
      'listReconciliationFindings' as 'listAdvances',
      { advanceId: '', openOnly: false, pageSize: 0, pageToken: '', ...request },
    );
  const all = await list({ pageSize: 500 });
  expect(all.findings.length).toBeGreaterThanOrEqual(6);
  expect(all.findings.every((f) => f.resolveTime !== undefined)).toBe(true); // all repaired by now
  const paged: FindingMessage[] = [];
  let pageToken = '';
  do {
    const page = await list({ pageSize: 2, pageToken });
    paged.push(...page.findings);
    pageToken = page.nextPageToken;
  } while (pageToken);
  expect(paged.map((f) => f.findingId)).toEqual(all.findings.map((f) => f.findingId));
  const times = paged.map((f) => microsOfTimestamp(f.createTime!));
  expect([...times].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))).toEqual(times);

  const [a1] = borrowers;
  const ofOne = await list({ advanceId: a1!.advanceId });
  expect(ofOne.findings.map((f) => f.kind)).toContain(FindingKind.FINDING_KIND_LEDGER_MOVEMENT_WITHOUT_PAYMENT);
  expect((await list({ openOnly: true })).findings).toEqual([]);

  const refused = async (request: object, field: string) => {
    const error = await list(request).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toContain(field);
  };
  await refused({ pageSize: -1 }, 'page_size');
  await refused({ pageSize: 501 }, 'page_size');
  await refused({ advanceId: 'not-a-uuid' }, 'advance_id');
  await refused({ pageToken: 'forged!' }, 'page_token');
  await refused({ pageToken: Buffer.from('{"v":1}').toString('base64url') }, 'page_token');
  const first = await list({ pageSize: 1 });
  await refused({ pageSize: 1, openOnly: true, pageToken: first.nextPageToken }, 'page_token');
});

/**
 * Ops' repair of a terminated advance workflow: start it again under its id
 * with its first input (allowed once the last run failed or was terminated).
 * Every step is idempotent, so the new run re-learns what is done and carries on.
 */
async function startAgain(workflowId: string): Promise<void> {
  const { client } = stack.temporal;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
  const [input] = await Promise.all(
    started.input!.payloads!.map((payload) => client.options.loadedDataConverter.payloadConverter.fromPayload(payload)),
  );
  await client.workflow.start('advanceWorkflow', {
    workflowId,
    taskQueue: stack.config.taskQueue,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
  });
  await eventually(
    async () => ((await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING' ? true : undefined),
    'the workflow running again',
  );
}
