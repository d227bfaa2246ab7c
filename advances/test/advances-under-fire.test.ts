import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AccountsServiceClient, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { AdvancesServiceClient } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { healthCheck } from '../../accounts-manager/test/support/ops-clients.js';
import { freePort, startDevServer, type DevServer } from '../../test-support/temporal-dev-server.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import type { ReconciliationSummary } from '../src/domain/advance-types.js';
import { paymentRequestId } from '../src/ledger/request-ids.js';
import { MONEY_HEARTBEAT_TIMEOUT_MS, MONEY_RETRY_INITIAL_INTERVAL_MS } from '../src/workflows/advance.workflow.js';
import { advancesApi } from './support/advances-harness.js';
import { assertLedgerVerifies } from './support/ledger-facts.js';
import { resumeAfterKills, summarize } from './support/resume-after-kill.js';

/**
 * Advances under fire, on the real Temporal dev server with payments 1 s
 * apart: 50 advances, ten of whose borrowers are short of funds for a while
 * (their payments fail and roll forward), while the workers (two replicas, in
 * turn) are SIGKILLed at
 * random moments at least 10 times and accounts-manager 3 times. Every
 * service is a real process. After all are repaid: per advance one
 * disbursement and debits adding up to exactly its amount, no payment request
 * id applied twice, the advances database agreeing with the ledger, and the
 * reconciliation finding nothing — then finding the one row we corrupt.
 */
const ADVANCES = 50;
const SHORT_OF_FUNDS = 10;
const AMOUNT = 1_200n;
const WORKER_KILLS = 10;
const LEDGER_KILLS = 3;
const REPAID_WITHIN_MS = 240_000;
/** In-flight payments resume within this of a worker's death (issue 16): the design's bound, not a benchmark. */
const RESUME_WITHIN_MS = 5_000;
const accountsDb = `${TEST_DATABASES.accounts}_fire`;
const advancesDb = `${TEST_DATABASES.advances}_fire`;
const dist = (file: string) => fileURLToPath(new URL(`../../${file}`, import.meta.url));

let temporal: DevServer;
let accountsAddress: string;
let advancesAddress: string;
let ledgerProcess: ChildProcess;
let apiProcess: ChildProcess;
/** Two worker replicas, as in production: a payment in flight on the one killed is taken over by the other. */
const workerProcesses: ChildProcess[] = [];
const unexpectedExits: string[] = [];

function run(file: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [dist(file)], {
    env: {
      PATH: process.env.PATH!,
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE: '2s',
      ACCOUNTS_GRPC_ADDR: accountsAddress,
      ACCOUNTS_DATABASE_URL: testDatabaseUrl(accountsDb),
      ACCOUNTS_METRICS_ADDR: 'off',
      ADVANCES_GRPC_ADDR: advancesAddress,
      ADVANCES_DATABASE_URL: testDatabaseUrl(advancesDb),
      ADVANCES_METRICS_ADDR: 'off',
      ADVANCES_WORKER_METRICS_ADDR: 'off',
      ADVANCES_TEMPORAL_METRICS_ADDR: 'off',
      TEMPORAL_ADDRESS: temporal.address,
      ADVANCE_PAYMENT_INTERVAL: '1s',
      RECONCILIATION_INTERVAL: 'off',
      LEDGER_CALL_TIMEOUT: '3s',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') unexpectedExits.push(`${file}: exit ${code} ${signal}`);
  });
  return child;
}

async function serving(address: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await healthCheck(address, '').catch(() => 'DOWN')) !== 'SERVING') {
    if (Date.now() > deadline) throw new Error(`${address} not serving within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  await dropTestDatabase(accountsDb);
  await dropTestDatabase(advancesDb);
  temporal = await startDevServer();
  accountsAddress = `127.0.0.1:${await freePort()}`;
  advancesAddress = `127.0.0.1:${await freePort()}`;
  ledgerProcess = run('accounts-manager/dist/src/main.js', {});
  await serving(accountsAddress);
  apiProcess = run('advances/dist/src/main-api.js', {});
  await serving(advancesAddress);
  for (let i = 0; i < 2; i++) workerProcesses.push(run('advances/dist/src/main-worker.js', {}));
}, 180_000);

afterAll(async () => {
  for (const worker of workerProcesses) await stop(worker);
  await stop(apiProcess);
  await stop(ledgerProcess);
  await temporal?.stop();
});

test(`${ADVANCES} advances repaid exactly while the worker is killed ${WORKER_KILLS}× and accounts-manager ${LEDGER_KILLS}×`, async () => {
  const ledgerClient = new AccountsServiceClient(accountsAddress, credentials.createInsecure());
  const advancesClient = new AdvancesServiceClient(advancesAddress, credentials.createInsecure());
  const connection = await Connection.connect({ address: temporal.address });
  const temporalClient = new Client({ connection });
  const accounts = new pg.Pool({ connectionString: testDatabaseUrl(accountsDb), max: 2 });
  const store = new pg.Pool({ connectionString: testDatabaseUrl(advancesDb), max: 2 });
  let reconciliations = 0;
  const chaos: string[] = [];
  const workerKillTimesMs: number[] = [];
  let calm = false;
  let chaos$: Promise<void> = Promise.resolve();
  const reconcile = () =>
    temporalClient.workflow.execute('reconciliationWorkflow', {
      taskQueue: 'advances',
      workflowId: `reconciliation-under-fire-${++reconciliations}`,
    }) as Promise<ReconciliationSummary>;
  try {
    const ledger = ledgerApi(ledgerClient);
    const api = advancesApi(advancesClient);
    const sink = await ledger.fundedAccount(0n, 'where the short borrowers move their money');
    const borrowers = await Promise.all(
      Array.from({ length: ADVANCES }, (_, i) => ledger.fundedAccount(0n, `fire borrower ${i}`)),
    );
    // One request id per borrower, re-sent while the API answers UNAVAILABLE — its documented "retry with the same
    // request_id" (the advance recorded, its workflow maybe not started: a start Temporal did not answer within its
    // deadline, as a fresh-clone CI saw on a machine whose disk stalled), which is what a real client does.
    let requestsResent = 0;
    const requestUntilAnswered = async (accountId: string) => {
      const requestId = randomUUID();
      for (let attempt = 1; ; attempt++) {
        try {
          return await api.requestAdvance({ accountId, amount: AMOUNT, requestId });
        } catch (error) {
          if ((error as ServiceError).code !== status.UNAVAILABLE || attempt === 5) throw error;
          requestsResent++;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    };
    const advances = await Promise.all(borrowers.map(requestUntilAnswered));
    // One advance per borrower, however many times its request was sent.
    expect((await store.query<{ n: number }>('SELECT count(*)::int AS n FROM advances')).rows[0]!.n).toBe(ADVANCES);
    if (requestsResent > 0) console.log(`${requestsResent} advance requests re-sent after UNAVAILABLE`);
    const started = Date.now();

    // The chaos, in the background: a worker killed every ~2.5 s at a random moment, the ledger three times.
    chaos$ = (async () => {
      for (let kills = 0; kills < WORKER_KILLS + LEDGER_KILLS && !calm; kills++) {
        await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 3_000));
        if (kills % 4 === 3) {
          await kill(ledgerProcess);
          ledgerProcess = run('accounts-manager/dist/src/main.js', {});
          await serving(accountsAddress);
          chaos.push('ledger');
        } else {
          workerKillTimesMs.push(Date.now());
          const victim = kills % 2; // the replicas take turns
          await kill(workerProcesses[victim]!);
          workerProcesses[victim] = run('advances/dist/src/main-worker.js', {});
          chaos.push('worker');
        }
      }
    })();

    // Ten borrowers move their whole balance away once disbursed (their next payments fail), and back 6 s later.
    const shortOnes = borrowers.slice(0, SHORT_OF_FUNDS);
    const balanceOf = async (id: string) =>
      BigInt(
        (await accounts.query<{ b: string }>('SELECT balance::text AS b FROM accounts WHERE account_id = $1', [id]))
          .rows[0]!.b,
      );
    const moved = new Map<string, bigint>();
    // One request id per intended move, re-sent until answered: a kill mid-call cannot move money twice.
    const transferUntilAnswered = async (srcAccountId: string, dstAccountId: string, amount: bigint) => {
      const requestId = randomUUID();
      for (;;) {
        const answer = await ledger.transfer({ requestId, srcAccountId, dstAccountId, amount }).catch(() => null);
        if (answer) return answer.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await Promise.all(
      shortOnes.map(async (id) => {
        while ((await balanceOf(id)) === 0n) await new Promise((r) => setTimeout(r, 100));
        for (;;) {
          const balance = await balanceOf(id); // a payment may take some first: then the move fails and is redone
          if (await transferUntilAnswered(id, sink, balance)) {
            moved.set(id, balance);
            return;
          }
        }
      }),
    );

    // While payments are in flight (and failing, and workers dying), reconciliation must not cry wolf.
    const midway = await reconcile();
    expect(midway.advancesChecked).toBeGreaterThan(0);
    expect(midway.findingsRaised).toBe(0);

    // Money stays away until each short borrower has had a payment fail (whatever the kills delayed).
    const failedDebits = async () =>
      (
        await accounts.query<{ dst_account_id: string }>(
          `SELECT DISTINCT dst_account_id FROM transactions WHERE kind = 'bank' AND direction = 'debit' AND status = 'failed' AND dst_account_id = ANY($1::uuid[])`,
          [shortOnes],
        )
      ).rowCount;
    while (((await failedDebits()) ?? 0) < SHORT_OF_FUNDS) {
      if (Date.now() - started > REPAID_WITHIN_MS / 2)
        throw new Error("the short borrowers' payments did not fail in time");
      await new Promise((r) => setTimeout(r, 250));
    }
    // Every kill lands while payments are in flight: the short borrowers' money stays away (their payments
    // failing and rolling over every second) until the chaos has done all its kills. (Released as soon as
    // they had failed once, a faster ledger let every advance be repaid before the 13th kill.)
    await chaos$;
    for (const [id, amount] of moved) expect(await transferUntilAnswered(sink, id, amount)).toBe(true);

    // Until every advance is repaid.
    for (;;) {
      const n = (await store.query<{ n: string }>(`SELECT count(*) AS n FROM advances WHERE status = 'REPAID'`))
        .rows[0]!.n;
      if (Number(n) === ADVANCES) break;
      if (Date.now() - started > REPAID_WITHIN_MS)
        throw new Error(`only ${n} of ${ADVANCES} advances repaid after ${REPAID_WITHIN_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    calm = true;
    await chaos$;
    expect(chaos.filter((c) => c === 'worker').length).toBeGreaterThanOrEqual(WORKER_KILLS);
    expect(chaos.filter((c) => c === 'ledger').length).toBeGreaterThanOrEqual(LEDGER_KILLS);
    expect(unexpectedExits).toEqual([]);

    // How fast payments resumed after each worker kill. A dead worker's in-flight payment is noticed
    // by its missing heartbeat and retried after the first retry interval; here the retry also waits
    // for the restarted worker (there is no second one), so the measurement is printed, and the bound
    // asserted is the design's: heartbeatTimeout + first retry interval, never the start-to-close timeout.
    const resumed = await resumeAfterKills(
      temporalClient,
      advances.map((a) => a.workflowId),
      workerKillTimesMs,
    );
    console.log(
      `resume after worker kill: in-flight payments retried after ${summarize(resumed.inFlightRetriedMs)} payments; ` +
        `next payment taken after ${summarize(resumed.nextPaymentMs)} kills (${resumed.killedAgainBeforeResuming} more killed again before any) ` +
        `(bound: heartbeat timeout ${MONEY_HEARTBEAT_TIMEOUT_MS} ms + first retry ${MONEY_RETRY_INITIAL_INTERVAL_MS} ms)`,
    );
    expect(MONEY_HEARTBEAT_TIMEOUT_MS + MONEY_RETRY_INITIAL_INTERVAL_MS).toBeLessThan(RESUME_WITHIN_MS);
    // What was seen is printed, not asserted: how many kills land mid-payment with the other replica alive, and how
    // long a starved 2-core machine takes to schedule the retry, vary from run to run. The design's bound is asserted
    // above; payment-resumes-after-worker-death.test.ts asserts it on a real kill.
    expect(resumed.noticedByStartToClose.map((a) => a.number)).toEqual([]);

    // The ledger: per advance, one disbursement and successful debits adding up to exactly the amount.
    const { rows: legs } = await accounts.query<{
      dst: string;
      credits: string;
      credited: string;
      debited: string;
      failed: string;
    }>(
      `SELECT dst_account_id AS dst,
              count(*) FILTER (WHERE direction = 'credit') AS credits,
              coalesce(sum(amount) FILTER (WHERE direction = 'credit' AND status = 'success'), 0)::text AS credited,
              coalesce(sum(amount) FILTER (WHERE direction = 'debit' AND status = 'success'), 0)::text AS debited,
              count(*) FILTER (WHERE direction = 'debit' AND status = 'failed') AS failed
       FROM transactions WHERE kind = 'bank' AND dst_account_id = ANY($1::uuid[]) GROUP BY dst_account_id`,
      [borrowers],
    );
    expect(legs).toHaveLength(ADVANCES);
    for (const row of legs)
      expect({ account: row.dst, credits: row.credits, credited: row.credited, debited: row.debited }).toEqual({
        account: row.dst,
        credits: '1',
        credited: String(AMOUNT),
        debited: String(AMOUNT),
      });
    // The short borrowers' payments really failed and rolled forward.
    expect(legs.filter((row) => shortOnes.includes(row.dst)).every((row) => Number(row.failed) > 0)).toBe(true);
    const duplicates = await accounts.query(
      'SELECT request_id FROM transactions WHERE request_id IS NOT NULL GROUP BY request_id HAVING count(*) > 1',
    );
    expect(duplicates.rows).toEqual([]);

    // The advances database agrees with the ledger, payment by payment.
    const { rows: payments } = await store.query<{
      advance_id: string;
      number: number;
      amount: string;
      status: string;
      transaction_id: string | null;
      rolled_into: number | null;
    }>(
      `SELECT advance_id, number, amount::text, status, transaction_id, rolled_into FROM payments ORDER BY advance_id, number`,
    );
    const { rows: ledgerRows } = await accounts.query<{
      transaction_id: string;
      request_id: string;
      amount: string;
      status: string;
    }>(
      `SELECT transaction_id, request_id, amount::text, status FROM transactions WHERE kind = 'bank' AND direction = 'debit' AND dst_account_id = ANY($1::uuid[])`,
      [borrowers],
    );
    const byRequest = new Map(ledgerRows.map((row) => [row.request_id, row]));
    for (const payment of payments) {
      const entry = byRequest.get(paymentRequestId(payment.advance_id, payment.number));
      expect({
        payment: `${payment.advance_id}/${payment.number}`,
        status: payment.status,
        ledger: entry && { id: entry.transaction_id, amount: entry.amount, status: entry.status },
      }).toEqual({
        payment: `${payment.advance_id}/${payment.number}`,
        status: payment.status,
        ledger: {
          id: payment.transaction_id,
          amount: payment.amount,
          status: payment.status === 'PAID' ? 'success' : 'failed',
        },
      });
    }
    // The failed payments rolled forward, each into a later one.
    const failed = payments.filter((p) => p.status === 'FAILED');
    expect(failed.length).toBeGreaterThan(0);
    for (const p of failed) expect(p.rolled_into).toBeGreaterThan(p.number);
    await assertLedgerVerifies(accounts);

    // After the fire, a clean book: a full run raises nothing and nothing is open.
    const clean = await reconcile();
    expect(clean.findingsRaised).toBe(0);
    expect(
      (await store.query('SELECT count(*)::int AS n FROM reconciliation_findings WHERE resolve_time IS NULL')).rows[0]
        .n,
    ).toBe(0);

    // Corrupt one advance: reopened in the projection, a paid payment a cent short. Reconciliation alerts.
    const victim = advances[ADVANCES - 1]!.advanceId;
    await store.query(`UPDATE advances SET status = 'ACTIVE' WHERE advance_id = $1`, [victim]);
    await store.query(`UPDATE payments SET amount = amount - 1 WHERE advance_id = $1 AND number = 1`, [victim]);
    const after = await reconcile();
    expect(after.findingsRaised).toBeGreaterThan(0);
    const findings = await store.query<{ advance_id: string }>(
      'SELECT DISTINCT advance_id FROM reconciliation_findings WHERE run_id = $1',
      [after.runId],
    );
    expect(findings.rows.map((row) => row.advance_id)).toEqual([victim]);
  } finally {
    calm = true;
    await chaos$;
    ledgerClient.close();
    advancesClient.close();
    await connection.close();
    await accounts.end();
    await store.end();
  }
}, 400_000);
