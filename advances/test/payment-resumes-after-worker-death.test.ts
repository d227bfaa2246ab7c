import { hostname } from 'node:os';
import pg from 'pg';
import { NativeConnection } from '@temporalio/worker';
import { ledgerApi, TEST_ACCOUNTS_DATABASE_URL } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { paymentRequestId } from '../src/ledger/request-ids.js';
import { MONEY_HEARTBEAT_TIMEOUT_MS, MONEY_RETRY_INITIAL_INTERVAL_MS } from '../src/workflows/advance.workflow.js';
import { startAdvancesWorker } from '../src/worker-app.js';
import {
  advancesApi,
  eventually,
  spawnWorkerProcess,
  startAdvancesStack,
  type AdvancesStack,
} from './support/advances-harness.js';
import { bankLegsOf, holdRowUntilADebitWaits, ledgerPool, sumSuccessful } from './support/ledger-facts.js';
import { paymentActivities } from './support/payment-timeline.js';

// The real Temporal dev server (its timers run on the wall clock, as in
// production) with payments one second apart; the worker that dies is a real
// process, SIGKILLed.
const RESUME_WITHIN_MS = 5_000;
let stack: AdvancesStack;
const pool = ledgerPool();

beforeAll(async () => {
  // The doomed worker's debit waits on a held row while the survivor starts (it bundles the
  // workflow code: seconds, more on a loaded machine). The wait must outlast that, or the call's
  // deadline or the ledger's statement timeout ends attempt 1 (FAILED) before the kill this test is about.
  stack = await startAdvancesStack({
    temporal: 'dev-server',
    env: { ADVANCE_PAYMENT_INTERVAL: '1s', LEDGER_CALL_TIMEOUT: '60s' },
    ledgerEnv: { ACCOUNTS_STATEMENT_TIMEOUT: '60s' },
    noWorker: true,
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

const spawnWorker = () => spawnWorkerProcess(stack);

test(`a payment in flight on a worker that dies is retried by the surviving worker within ${RESUME_WITHIN_MS / 1000} s, and taken once`, async () => {
  // The design's bound: the dead worker's missing heartbeat is noticed, then the first retry interval passes.
  expect(MONEY_HEARTBEAT_TIMEOUT_MS + MONEY_RETRY_INITIAL_INTERVAL_MS).toBeLessThan(RESUME_WITHIN_MS);
  const ledger = ledgerApi(stack.ledger.client);
  const api = advancesApi(stack.client);
  const borrower = await ledger.fundedAccount(0n, 'Borrower whose payment was in flight on a dying worker');
  const accountsDb = new pg.Client({ connectionString: TEST_ACCOUNTS_DATABASE_URL });
  await accountsDb.connect();
  const doomed = spawnWorker();
  const connection = await NativeConnection.connect({ address: stack.temporal.address });
  let survivor: Awaited<ReturnType<typeof startAdvancesWorker>> | null = null;
  try {
    const advance = await api.requestAdvance({ accountId: borrower, amount: 1_200n });
    await eventually(
      async () => (await api.getAdvance(advance.advanceId)).disbursementTransactionId || undefined,
      'the disbursement',
    );

    // Hold the borrower's row: payment 1's debit, asked by the doomed worker, waits inside the ledger.
    await holdRowUntilADebitWaits(accountsDb, borrower);
    survivor = await startAdvancesWorker(stack.config, stack.log, { connection });

    const killedAtMs = Date.now();
    doomed.kill('SIGKILL');
    await new Promise((resolve) => doomed.once('exit', resolve));
    await accountsDb.query('COMMIT'); // the ledger applies the debit; its reply goes to a dead worker
    const view = (await stack.temporal.client.workflow.getHandle(advance.workflowId).result()) as AdvanceView;
    expect(view.status).toBe('REPAID');

    const payment1 = (await paymentActivities(stack.temporal.client, advance.workflowId)).find((a) => a.number === 1)!;
    const resumedAfterMs = payment1.startedMs! - killedAtMs;
    console.log(
      `resume after worker kill: payment 1 retried by the surviving worker ${resumedAfterMs} ms after the kill ` +
        `(bound: heartbeat timeout ${MONEY_HEARTBEAT_TIMEOUT_MS} ms + first retry ${MONEY_RETRY_INITIAL_INTERVAL_MS} ms)`,
    );
    expect(payment1).toMatchObject({
      attempt: 2,
      previousAttemptEnded: 'HEARTBEAT_TIMEOUT',
      identity: `${process.pid}@${hostname()}`,
    });
    expect(resumedAfterMs).toBeLessThan(RESUME_WITHIN_MS);

    const legs = await bankLegsOf(pool, borrower);
    expect(legs.debits.filter((d) => d.requestId === paymentRequestId(advance.advanceId, 1))).toHaveLength(1);
    expect(legs.debits).toHaveLength(12);
    expect(sumSuccessful(legs.debits)).toBe(1_200n);
  } finally {
    if (doomed.exitCode === null && doomed.signalCode === null) doomed.kill('SIGKILL');
    await survivor?.stop();
    await connection.close();
    await accountsDb.end().catch(() => undefined);
  }
}, 120_000);
