// Benchmark 5: reconciliation at scale. Seeds N healthy open advances (their
// ledger movements made through accounts-manager's gRPC API with the request
// ids and descriptions the advances service derives, their rows in the
// advances database, a parked workflow `advance-<id>` each), then times three
// reconciliation runs (runReconciliation, the code the Schedule's activity
// runs): two full sweeps (the first ever, with the ledger mirror empty; the
// daily one, with it full), then an hour's worth of payments (one advance in
// 168 pays, as with weekly payments) and the hourly incremental run, which
// must re-check exactly those. All must raise nothing. Anchors, same run: the
// same ledger rows read by one SQL query, and through the ledger's report stream.
import { credentials } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { AccountsServiceClient, Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { createLogger } from '@alfabet/service-kit/logger';
import { transactionColumns } from '../accounts-manager/dist/src/db/transaction-rows.js';
import { openOrm, poolOf } from '../advances/dist/src/db/orm.js';
import { disbursementDescription, paymentDescription } from '../advances/dist/src/ledger/advance-movements.js';
import { createLedgerClient } from '../advances/dist/src/ledger/ledger-client.js';
import { disbursementRequestId, paymentRequestId } from '../advances/dist/src/ledger/request-ids.js';
import { NO_PROGRESS, runReconciliation } from '../advances/dist/src/reconciliation/reconciliation-run.js';
import { breakdown, busyClock, instrumentedDeps } from './reconciliation/instrument.mjs';
import { cpuSeconds, userCpuSeconds } from './processes.mjs';
import { ratio, round } from './stats.mjs';

const INSTALLMENTS = 12;
const PAYMENT = 1_000n;
const AMOUNT = PAYMENT * BigInt(INSTALLMENTS); // 120.00 in 12 payments of 10.00
const PAID = 2; // payments 1–2 taken, 3–12 due in the future
const INTERVAL_MS = 7 * 24 * 3600_000;
/** The defaults of the advances worker (ADVANCES_DB_POOL_SIZE, REPORT_WINDOW, RECONCILIATION_STUCK_AFTER, RECONCILIATION_FULL_SWEEP_INTERVAL, RECONCILIATION_SCAN_OVERLAP, LEDGER_CALL_TIMEOUT). */
const WORKER = {
  poolSize: 10,
  reportWindowMs: 5 * 24 * 3600_000,
  stuckAfterMs: 24 * 3600_000,
  fullSweepEveryMs: 24 * 3600_000,
  scanOverlapMs: 2 * 60_000,
  callTimeoutMs: 10_000,
};
/** Runs per payment interval: hourly runs, weekly payments. */
const RUNS_PER_INTERVAL = 168;
/** Where the worker's first scan starts: its margin inside the ledger's report window. */
const SCAN_WINDOW_MARGIN_MS = 5 * 60_000;
const SEED_CONCURRENCY = 64;
const START_CONCURRENCY = 64;
const ANCHOR_REPEATS = 3;

export async function reconciliationBenchmark({
  accountsAddress,
  temporalAddress,
  accountsUrl,
  advancesUrl,
  pids,
  count,
  say,
}) {
  const seed = await seedLedger(accountsAddress, count, say);
  const databaseSeconds = await timed(() => seedAdvancesDatabase(advancesUrl, seed.advances));
  say(
    `reconciliation: ${count} advances in the advances database in ${round(databaseSeconds, 1)} s; parking a workflow for each…`,
  );
  const parked = await parkWorkflows(
    temporalAddress,
    seed.advances.map((a) => a.advanceId),
    say,
  );
  const setup = {
    ledgerSeconds: seed.seconds,
    ledgerCalls: seed.calls,
    ledgerCallsPerSecond: seed.callsPerSecond,
    databaseSeconds: round(databaseSeconds, 1),
    workflowsStartSeconds: parked.startSeconds,
    workflowsSeconds: parked.seconds,
    workflowsPerSecond: parked.perSecond,
  };
  const orm = await openOrm({ databaseUrl: advancesUrl, poolSize: WORKER.poolSize, statementTimeoutMs: 60_000 }).catch(
    async (error) => {
      await parked.stop();
      throw error;
    },
  );
  const ledger = createLedgerClient({
    address: accountsAddress,
    callTimeoutMs: WORKER.callTimeoutMs,
    tls: null,
    authToken: null,
  });
  try {
    // As the worker wires them (worker-app.ts), with its defaults; the task queue
    // is only used to start a missing workflow, which a healthy book never needs.
    const deps = {
      em: orm.em,
      pool: await poolOf(orm),
      ledger,
      temporal: parked.client,
      taskQueue: `bench-unused-${randomUUID()}`,
      log: createLogger('warn', 'reconciliation-bench'),
      reportWindowMs: WORKER.reportWindowMs,
      stuckAfterMs: WORKER.stuckAfterMs,
      fullSweepEveryMs: WORKER.fullSweepEveryMs,
      scanOverlapMs: WORKER.scanOverlapMs,
    };
    const runs = await theRuns(deps, advancesUrl, seed.advances, pids, say);
    const anchors = {
      sql: await sqlAnchor(accountsUrl, seed.advances, say),
      stream: await streamAnchor(ledger, count, say),
    };
    return { advances: count, setup, runs, anchors, ...verdict(runs, anchors, count, say) };
  } finally {
    ledger.close();
    await orm.close(true);
    await parked.stop();
  }
}

/** Two full sweeps (the first ever, then the daily one), an hour of payments, the hourly run. */
async function theRuns(deps, advancesUrl, advances, pids, say) {
  const first = await measuredRun(deps, pids, 'first full sweep (mirror empty)', say);
  // The daily sweep: RECONCILIATION_FULL_SWEEP_INTERVAL has passed.
  const second = await measuredRun({ ...deps, fullSweepEveryMs: 0 }, pids, 'daily full sweep (mirror full)', say);
  const paid = await payAnHoursWorth(deps.ledger, advancesUrl, advances, say);
  const hourly = await measuredRun(deps, pids, `hourly run (${paid} advances paid since)`, say);
  const covered = advances.length;
  return {
    first,
    second,
    hourly: { ...hourly, changed: paid, covered, coveredPerSecond: round(covered / hourly.seconds, 0) },
  };
}

/** The ratios to the anchors, and whether both runs saw the healthy book as healthy (a finding is a correctness failure). */
function verdict({ first, second, hourly }, { sql, stream }, count, say) {
  const clean = (run) => run.findingsRaised === 0 && run.openFindings === 0;
  // Full sweeps check every advance; the hourly run exactly the ones that paid since.
  const healthy =
    [first, second].every((run) => clean(run) && run.advancesChecked === count) &&
    clean(hourly) &&
    hourly.advancesChecked === hourly.changed;
  if (!healthy) {
    say(
      `reconciliation: CORRECTNESS FAILURE — a healthy book of ${count} advances: raised ${first.findingsRaised} / ${second.findingsRaised} / ${hourly.findingsRaised}, ` +
        `open ${hourly.openFindings}, checked ${first.advancesChecked} / ${second.advancesChecked} / ${hourly.advancesChecked} (hourly: ${hourly.changed} changed): ` +
        first.sample.concat(second.sample, hourly.sample).join(' | '),
    );
  }
  const ratios = {
    firstVsSql: ratio(first.advancesPerSecond, sql.advancesPerSecond),
    secondVsSql: ratio(second.advancesPerSecond, sql.advancesPerSecond),
    firstVsStream: ratio(first.advancesPerSecond, stream.advancesPerSecond),
    secondVsStream: ratio(second.advancesPerSecond, stream.advancesPerSecond),
    hourlyVsSql: ratio(hourly.coveredPerSecond, sql.advancesPerSecond),
    hourlyVsStream: ratio(hourly.coveredPerSecond, stream.advancesPerSecond),
  };
  say(
    `reconciliation: full sweeps ${first.advancesPerSecond} / ${second.advancesPerSecond} advances/s (first / daily), hourly run ${hourly.coveredPerSecond} advances/s covered ` +
      `vs ${sql.advancesPerSecond} by SQL (${ratios.firstVsSql}× / ${ratios.secondVsSql}× / ${ratios.hourlyVsSql}×) ` +
      `and ${stream.advancesPerSecond} by the report stream (${ratios.firstVsStream}× / ${ratios.secondVsStream}× / ${ratios.hourlyVsStream}×)`,
  );
  return { ratios, healthy };
}

// ── setup: the ledger side ────────────────────────────────────────────────

/**
 * Per advance, through the ledger's API as the advances service would: a
 * borrower account, the disbursement (CREDIT) and payments 1–2 (DEBIT), with
 * the service's request ids and descriptions. SEED_CONCURRENCY advances at a time.
 */
async function seedLedger(address, count, say) {
  const client = new AccountsServiceClient(address, credentials.createInsecure());
  const advances = [];
  let calls = 0;
  const started = performance.now();
  try {
    await inLanes(count, SEED_CONCURRENCY, async (index) => {
      const advanceId = uuidv7();
      const { account } = await unary(client, 'createAccount', {
        requestId: randomUUID(),
        displayName: `bench borrower ${index + 1}`,
      });
      const move = async (requestId, direction, amount, description) => {
        const { transaction } = await unary(client, 'bankTransaction', {
          requestId,
          dstAccountId: account.accountId,
          amount,
          direction,
          description,
        });
        if (transaction.status !== TransactionStatus.TRANSACTION_STATUS_SUCCESS)
          throw new Error(`seeding: ${description} was refused: ${transaction.failureMessage}`);
        return transaction.transactionId;
      };
      const disbursementTransactionId = await move(
        disbursementRequestId(advanceId),
        Direction.DIRECTION_CREDIT,
        AMOUNT,
        disbursementDescription(advanceId),
      );
      const paymentTransactionIds = [];
      for (let number = 1; number <= PAID; number++) {
        paymentTransactionIds.push(
          await move(
            paymentRequestId(advanceId, number),
            Direction.DIRECTION_DEBIT,
            PAYMENT,
            paymentDescription(advanceId, number),
          ),
        );
      }
      calls += 2 + PAID;
      advances.push({ advanceId, accountId: account.accountId, disbursementTransactionId, paymentTransactionIds });
    });
  } finally {
    client.close();
  }
  const seconds = (performance.now() - started) / 1000;
  say(
    `reconciliation: ${count} borrowers seeded in the ledger in ${round(seconds, 1)} s (${calls} gRPC calls, ${round(calls / seconds, 0)}/s)`,
  );
  return { advances, seconds: round(seconds, 1), calls, callsPerSecond: round(calls / seconds, 0) };
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 30_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

// ── setup: the advances side ──────────────────────────────────────────────

/**
 * The advances' rows, as the workflow's activities would have left them
 * fifteen days after the disbursement: ACTIVE, payments 1–2 PAID with their
 * ledger transactions, 3–12 SCHEDULED (the next one due in six days).
 */
async function seedAdvancesDatabase(url, advances) {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const created = new Date(Date.now() - 15 * 24 * 3600_000);
    for (let at = 0; at < advances.length; at += 2_000) {
      const chunk = advances.slice(at, at + 2_000);
      const ids = chunk.map((a) => a.advanceId);
      await db.query(
        `INSERT INTO advances (advance_id, request_id, account_id, amount, status, installments, payment_interval_ms, disbursement_transaction_id, create_time, update_time)
         SELECT s.advance_id, gen_random_uuid(), s.account_id, $4, 'ACTIVE', $5, $6, s.transaction_id, $7, now()
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS s(advance_id, account_id, transaction_id)`,
        [
          ids,
          chunk.map((a) => a.accountId),
          chunk.map((a) => a.disbursementTransactionId),
          AMOUNT.toString(),
          INSTALLMENTS,
          INTERVAL_MS,
          created,
        ],
      );
      await db.query(
        `INSERT INTO payments (advance_id, number, due_time, amount, status, transaction_id)
         SELECT s.advance_id, n, $4::timestamptz + n * make_interval(secs => $5 / 1000.0), $6,
                CASE WHEN n <= 2 THEN 'PAID' ELSE 'SCHEDULED' END, CASE n WHEN 1 THEN s.p1 WHEN 2 THEN s.p2 END
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS s(advance_id, p1, p2) CROSS JOIN generate_series(1, $7::int) AS n`,
        [
          ids,
          chunk.map((a) => a.paymentTransactionIds[0]),
          chunk.map((a) => a.paymentTransactionIds[1]),
          created,
          INTERVAL_MS,
          PAYMENT.toString(),
          INSTALLMENTS,
        ],
      );
    }
  } finally {
    await db.end();
  }
}

// ── setup: a parked workflow per advance ──────────────────────────────────

/**
 * Starts `advance-<id>` for every advance on a bench-only task queue, served
 * by a bench worker running an idle `advanceWorkflow`, and waits until every
 * one has parked (its first task done), so the runs measure a quiet server.
 */
async function parkWorkflows(address, advanceIds, say) {
  const taskQueue = `bench-reconciliation-${randomUUID()}`;
  const worker = spawn(
    process.execPath,
    [fileURLToPath(new URL('./reconciliation/worker.mjs', import.meta.url)), address, taskQueue],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  worker.stdout.on('data', (chunk) => {
    output = (output + String(chunk)).slice(-10_000);
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const parkedCount = () =>
    Number(
      output
        .match(/parked \d+/g)
        ?.at(-1)
        .slice('parked '.length) ?? 0,
    );
  try {
    await waitFor(
      () => output.includes('ready'),
      60_000,
      () => worker.exitCode !== null && `the bench worker exited: ${output}`,
    );
    const started = performance.now();
    await inLanes(advanceIds.length, START_CONCURRENCY, (index) =>
      client.workflow.start('advanceWorkflow', { taskQueue, workflowId: `advance-${advanceIds[index]}` }),
    );
    const startSeconds = (performance.now() - started) / 1000;
    // Generous: on a busy 2-core machine the dev server parks ~40 workflows a second.
    await waitFor(
      () => parkedCount() >= advanceIds.length,
      60_000 + advanceIds.length * 50,
      () => worker.exitCode !== null && `the bench worker exited: ${output}`,
    );
    const seconds = (performance.now() - started) / 1000;
    say(
      `reconciliation: ${advanceIds.length} workflows started in ${round(startSeconds, 1)} s, all parked after ${round(seconds, 1)} s (${round(advanceIds.length / seconds, 0)}/s)`,
    );
    return {
      client,
      seconds: round(seconds, 1),
      startSeconds: round(startSeconds, 1),
      perSecond: round(advanceIds.length / seconds, 0),
      // The workflows stay parked: with no timer and no task, they cost the
      // server nothing during the benchmarks that follow (terminating 10 000
      // would, for minutes), and the stack is thrown away at the end.
      async stop() {
        worker.kill('SIGTERM');
        await exited;
        await connection.close();
      },
    };
  } catch (error) {
    worker.kill('SIGKILL');
    await connection.close();
    throw error;
  }
}

// ── an hour of business ───────────────────────────────────────────────────

/**
 * What an hour brings with weekly payments: one advance in RUNS_PER_INTERVAL
 * pays its payment 3 — the ledger's debit (through its API, as the activity
 * makes it) and the row marked PAID — so the hourly run has real changes to find.
 */
async function payAnHoursWorth(ledger, advancesUrl, advances, say) {
  const paying = advances.filter((_, index) => index % RUNS_PER_INTERVAL === 0);
  const db = new pg.Client({ connectionString: advancesUrl });
  await db.connect();
  try {
    await inLanes(paying.length, SEED_CONCURRENCY, async (index) => {
      const { advanceId, accountId } = paying[index];
      const transaction = await ledger.bankTransaction(
        {
          requestId: paymentRequestId(advanceId, 3),
          dstAccountId: accountId,
          amount: PAYMENT,
          direction: Direction.DIRECTION_DEBIT,
          description: paymentDescription(advanceId, 3),
        },
        'reconciliation-bench',
      );
      if (transaction.status !== TransactionStatus.TRANSACTION_STATUS_SUCCESS)
        throw new Error(`payment 3 of ${advanceId} was refused: ${transaction.failureMessage}`);
      await db.query(
        `UPDATE payments SET status = 'PAID', transaction_id = $2, update_time = now() WHERE advance_id = $1 AND number = 3`,
        [advanceId, transaction.transactionId],
      );
    });
  } finally {
    await db.end();
  }
  say(`reconciliation: an hour of business — ${paying.length} advances paid their payment 3`);
  return paying.length;
}

// ── the runs ──────────────────────────────────────────────────────────────

/** One reconciliation run as the worker's activity makes it, timed, with where the time went and who burnt the CPU. */
async function measuredRun(deps, pids, label, say) {
  const clock = busyClock();
  const raised = [];
  const cpu = cpuMeter(pids);
  const started = performance.now();
  const done = await runReconciliation(instrumentedDeps(deps, clock), `bench-${randomUUID()}`, NO_PROGRESS, {
    progressed: () => undefined,
    raised: (finding) => raised.push(finding),
    resolved: () => undefined,
  });
  const ms = performance.now() - started;
  const exclusive = clock.exclusive();
  const cpuCores = cpu.stop(ms / 1000);
  const {
    rows: [open],
  } = await deps.pool.query('SELECT count(*)::int AS n FROM reconciliation_findings WHERE resolve_time IS NULL');
  const where = breakdown(clock.report(), exclusive, ms);
  const run = {
    seconds: round(ms / 1000, 2),
    advancesChecked: done.advancesChecked,
    advancesPerSecond: round(done.advancesChecked / (ms / 1000), 0),
    findingsRaised: done.findingsRaised,
    openFindings: open.n,
    sample: raised.slice(0, 5).map((f) => `${f.kind} ${f.subject} ${f.advanceId}: ${f.detail}`),
    breakdown: where,
    cpuCores,
  };
  const failed = run.findingsRaised > 0 || run.openFindings > 0;
  say(
    `reconciliation ${label}: ${run.advancesChecked} advances in ${run.seconds} s = ${run.advancesPerSecond}/s, ${run.findingsRaised} findings raised, ${run.openFindings} open${failed ? ' — CORRECTNESS FAILURE' : ''}`,
  );
  say(`  time: ${describeBreakdown(where)}`);
  say(
    `  CPU cores: ${Object.entries(cpuCores)
      .map(([name, cores]) => `${name} ${cores}`)
      .join(', ')}`,
  );
  return run;
}

function describeBreakdown(where) {
  const pct = (part) => `${part.ms} ms (${round(part.share * 100, 0)} %)`;
  const temporal = where.temporalAlone;
  return [
    `ledger scan stream ${pct(where.scanStream)} for ${where.scanStream.rows} rows`,
    `mirror inserts ${pct(where.scanMirrorDb)}`,
    `ledger fetches by request id ${pct(where.ledgerFetches)} for ${where.ledgerFetches.calls} calls`,
    `page DB ${pct(where.pageDb)} alone + ${pct(where.pageDbWhileTemporal)} under the Temporal listing (${where.pageDb.statements} statements)`,
    `Temporal with no other call pending ${pct(temporal)} (the comparison runs meanwhile; ${temporal.listings} listings of ${temporal.listed} workflows busy ${temporal.listBusyMs} ms; ` +
      `${temporal.describes} describes busy ${temporal.describeBusyMs} ms)`,
    `JavaScript with no call pending (compare, findings) ${pct(where.javascript)}`,
  ].join('; ');
}

/** CPU used by the processes involved while a run lasts, in cores (1.0 = one core busy throughout). */
function cpuMeter(pids) {
  const sources = {
    bench: () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    },
    temporal: () => cpuSeconds(pids.temporal),
    accountsManager: () => cpuSeconds(pids.accounts),
    postgres: () => userCpuSeconds('postgres'),
  };
  const before = Object.fromEntries(Object.entries(sources).map(([name, read]) => [name, read()]));
  return {
    stop: (seconds) =>
      Object.fromEntries(
        Object.entries(sources).map(([name, read]) => [name, round((read() - before[name]) / seconds, 2)]),
      ),
  };
}

// ── anchors ───────────────────────────────────────────────────────────────

/** The same 3 × N ledger rows by one SQL query (the ledger's own request-id lookup, for all at once), read whole by a pg client. */
async function sqlAnchor(url, advances, say) {
  const requestIds = advances.flatMap(({ advanceId }) => [
    disbursementRequestId(advanceId),
    ...Array.from({ length: PAID }, (_, i) => paymentRequestId(advanceId, i + 1)),
  ]);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const seconds = [];
    for (let i = 0; i < ANCHOR_REPEATS; i++) {
      const started = performance.now();
      const { rows } = await db.query(
        `SELECT ${transactionColumns('t')}
         FROM transaction_requests r JOIN transactions t ON t.transaction_id = r.transaction_id AND t.create_time = r.create_time
         WHERE r.request_id = ANY($1::uuid[])`,
        [requestIds],
      );
      seconds.push((performance.now() - started) / 1000);
      if (rows.length !== requestIds.length)
        throw new Error(`SQL anchor: ${rows.length} rows for ${requestIds.length} request ids`);
    }
    const median = seconds.sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
    const result = {
      rows: requestIds.length,
      seconds: round(median, 3),
      advancesPerSecond: round(advances.length / median, 0),
    };
    say(
      `reconciliation anchor, one SQL query: ${result.rows} rows in ${round(median * 1000, 0)} ms = ${result.advancesPerSecond} advances/s (median of ${ANCHOR_REPEATS})`,
    );
    return result;
  } finally {
    await db.end();
  }
}

/** The same window the first run scanned, read whole through the ledger's report stream (1 000 rows a message), nothing done with the rows. */
async function streamAnchor(ledger, count, say) {
  const seconds = [];
  let rows = 0;
  for (let i = 0; i < ANCHOR_REPEATS; i++) {
    const endTime = new Date();
    const startTime = new Date(endTime.getTime() - WORKER.reportWindowMs + SCAN_WINDOW_MARGIN_MS);
    rows = 0;
    const started = performance.now();
    await ledger.scanTransactions({ startTime, endTime }, 'reconciliation-bench', async (page) => {
      rows += page.length;
    });
    seconds.push((performance.now() - started) / 1000);
  }
  const median = seconds.sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
  const result = { rows, seconds: round(median, 3), advancesPerSecond: round(count / median, 0) };
  say(
    `reconciliation anchor, the report stream: ${rows} rows in ${round(median * 1000, 0)} ms = ${result.advancesPerSecond} advances/s (median of ${ANCHOR_REPEATS})`,
  );
  return result;
}

// ── helpers ───────────────────────────────────────────────────────────────

/** Runs work(0…count−1), `lanes` at a time. */
async function inLanes(count, lanes, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

async function timed(work) {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function waitFor(check, timeoutMs, failed = () => false) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    const why = failed();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
