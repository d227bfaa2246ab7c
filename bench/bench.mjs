// npm run bench [-- --quick] [--seconds N] [--callers 8,32,128] [--batch-callers N]
//                 [--only reconciliation,transfers,bank,batch,archive,report,growth,advances,accounts]
//                 [--advances-count N] [--advances-timeout S] [--reconciliation-count N]
//                 [--growth-hot N] [--growth-archived N] [--cpu-prof] [--load-client frames|http2|grpc-js]
//                 [--request-ids v7|v4]
//
// Starts its own stack (scripts/stack.mjs on free ports, its own databases,
// payments 1 s apart), runs the benchmarks, prints a table and writes
// bench/results/<date>.json plus the throughput chart <date>-transfers.svg.
// Every figure stands next to an anchor measured in the same run on the same
// machine (pgbench, or PostgreSQL doing the same work alone), as a ratio:
// these machines are shared and noisy, absolute numbers travel badly.
// Exits non-zero only when a correctness check fails (money moved by a
// replay, an advance paid twice, a reconciliation finding on a healthy book,
// a seeded row the archive did not move, ledger:verify); missed targets are reported.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { advancesBenchmark } from './advances-bench.mjs';
import { archiveBenchmark, archiveRow } from './archive-bench.mjs';
import { entityManagerBenchmark } from './entity-manager-bench.mjs';
import { reconciliationBenchmark } from './reconciliation-bench.mjs';
import { temporalAnchor } from './temporal-anchor.mjs';
import { transfersChart } from './chart.mjs';
import { summarizeProfile } from './cpu-profile.mjs';
import { initPgbench, runPgbench } from './pgbench.mjs';
import { freePort } from './ports.mjs';
import {
  cpuSeconds,
  describeCpuPerCall,
  findDescendant,
  machineBusySeconds,
  sampleMemory,
  userCpuSeconds,
} from './processes.mjs';
import {
  accountsFile,
  BANK_ACCOUNT_ID,
  databaseUrlOf,
  fundedAccounts,
  runLoad,
  startAccountsManager,
} from './accounts-runner.mjs';
import { growthBenchmark } from './growth-bench.mjs';
import { describeVerdict, TARGETS, targetVerdicts } from './target-verdicts.mjs';
import { assertLoadClient, DEFAULT_LOAD_CLIENT } from './ledger-clients.mjs';
import { ensureReportData } from './report-data.mjs';
import { assertRequestIds, DEFAULT_REQUEST_IDS } from './request-ids.mjs';
import { reportBenchmark } from './report-bench.mjs';
import { ratio, round } from './stats.mjs';
import { BANK_CALLERS, bankBenchmark } from './bank-bench.mjs';
import { BATCH_CALLERS_DEFAULT, batchBenchmark, batchRow } from './batch-bench.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const run = promisify(execFile);
const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    callers: { type: 'string' },
    only: { type: 'string' },
    'advances-timeout': { type: 'string' },
    'advances-count': { type: 'string' },
    'reconciliation-count': { type: 'string' },
    'batch-callers': { type: 'string' },
    // Rows of the grown ledger (growth-bench.mjs): in the report window, and archived.
    'growth-hot': { type: 'string' },
    'growth-archived': { type: 'string' },
    // Profiles the services (node --cpu-prof) and prints where accounts-manager spent its CPU.
    'cpu-prof': { type: 'boolean', default: false },
    // How the load processes call accounts-manager (bench/ledger-clients.mjs): "frames", the default
    // (bench/h2-frames.mjs, HTTP/2 frames written straight onto a socket), "http2" (bench/h2-unary.mjs,
    // over node:http2) or "grpc-js" (the generated client).
    'load-client': { type: 'string', default: DEFAULT_LOAD_CLIENT },
    // The request ids the load sends (bench/request-ids.mjs): time-ordered, as DESIGN §3 asks of
    // callers, or random ("v4"). The growth benchmark measures random ones as well, either way.
    'request-ids': { type: 'string', default: DEFAULT_REQUEST_IDS },
    // For the harness test: databases and results of their own.
    'db-suffix': { type: 'string', default: '' },
    'results-dir': { type: 'string' },
  },
});

const PLAN = options.quick
  ? {
      seconds: 2,
      warmupMs: 500,
      stackWarmUpSeconds: 1,
      callers: [8],
      bankSeconds: 2,
      bankRounds: 1,
      bankRoundSeconds: 2,
      report: { hot: 20_000, archived: 50_000, listings: 5 },
      archive: { rows: 20_000 },
      growth: { hot: 50_000, archived: 50_000, callers: 32, rounds: 1, listings: 5 },
      advances: { count: 20, timeoutMs: 40_000 },
      reconciliation: { count: 500 },
      accountCalls: 300,
    }
  : {
      seconds: 5,
      warmupMs: 1_000,
      // Before the first measured Transfer: a service just started runs its first seconds
      // unoptimized (V8 compiles its hot code as it goes; PostgreSQL's caches and the pool fill),
      // and the first row measured (×8) paid for it: accounts-manager 197 µs a call there against
      // 147 µs in the run right after it.
      stackWarmUpSeconds: 5,
      callers: [8, 32, 128],
      bankSeconds: 10,
      // Transfer and BankTransaction take turns, 4 rounds of 5 s each (bench/bank-bench.mjs): two
      // rounds of 10 s still read 1.17× and 0.86× in two runs minutes apart (docs/benchmarks.md).
      bankRounds: 4,
      bankRoundSeconds: 5,
      // 200 listings: the p99 (nearest rank) of 50 is simply the slowest of them.
      report: { hot: 1_000_000, archived: 5_000_000, listings: 200 },
      archive: { rows: 1_000_000 },
      // Issue 13: 10 million transactions stored, 5 million of them in the report window. Four
      // rounds a ledger, in turns: with two, one run read 0.83× where the four before read 0.95–0.98×
      // (docs/benchmarks.md, session 20).
      growth: { hot: 5_000_000, archived: 5_000_000, callers: 32, rounds: 4, listings: 200 },
      advances: { count: 1_000, timeoutMs: 60_000 },
      reconciliation: { count: 10_000 },
      accountCalls: 2_000,
    };
if (options.seconds) PLAN.seconds = Number(options.seconds);
assertLoadClient(options['load-client'], '--load-client');
PLAN.loadClient = options['load-client'];
assertRequestIds(options['request-ids'], '--request-ids');
PLAN.requestIds = options['request-ids'];
if (options.callers) PLAN.callers = options.callers.split(',').map(Number);
if (options['advances-timeout']) PLAN.advances.timeoutMs = Number(options['advances-timeout']) * 1000;
if (options['advances-count']) PLAN.advances.count = Number(options['advances-count']);
if (options['reconciliation-count']) PLAN.reconciliation.count = Number(options['reconciliation-count']);
if (options['growth-hot']) PLAN.growth.hot = Number(options['growth-hot']);
if (options['growth-archived']) PLAN.growth.archived = Number(options['growth-archived']);
const ONLY = new Set(
  (options.only ?? 'reconciliation,transfers,bank,batch,archive,report,growth,advances,accounts').split(','),
);
const BATCH_CALLERS = Number(options['batch-callers'] ?? BATCH_CALLERS_DEFAULT);
if (!/^[a-z0-9_]*$/.test(options['db-suffix'])) throw new Error('--db-suffix: lower-case letters, digits and _ only');
const suffix = `${options.quick ? '_quick' : ''}${options['db-suffix']}`;
const DB = {
  accounts: `alfabet_accounts_bench${suffix}`,
  advances: `alfabet_advances_bench${suffix}`,
  report: `alfabet_accounts_bench_report${suffix}`,
  pgbench: `alfabet_pgbench${suffix}`,
  grown: `alfabet_accounts_bench_growth${suffix}`,
  empty: `alfabet_accounts_bench_empty${suffix}`,
};
const PGBENCH_SCALE = options.quick ? 1 : 10;
const dbUrl = databaseUrlOf;
const say = (text) => console.log(`[bench] ${text}`);

async function main() {
  const started = Date.now();
  const results = await newResults();
  say(
    `${results.machine.cpu} × ${results.machine.cores}, ${results.machine.memoryGiB} GiB, PostgreSQL ${results.machine.postgres}, Node ${process.versions.node}; load client ${PLAN.loadClient}, request ids ${PLAN.requestIds}`,
  );
  await dropDatabase(DB.accounts);
  await dropDatabase(DB.advances);
  const work = mkdtempSync(join(tmpdir(), 'alfabet-bench-'));
  const stack = await startStack(work);
  stopStackOnSignal(stack);
  try {
    await runBenchmarks(stack, work, results);
  } finally {
    await stack.stop();
    if (options['cpu-prof']) results.profile = keepProfile(work, stack.pids?.accounts, results.date);
    if (options['cpu-prof'] && results.report)
      results.report.profile = keepProfile(work, results.report.pid, results.date, 'accounts-manager-report');
    rmSync(work, { recursive: true, force: true });
  }
  results.seconds = Math.round((Date.now() - started) / 1000);
  results.verdicts = targetVerdicts(results, TARGETS);
  const written = writeResults(results);
  printTable(results);
  printVerdicts(results.verdicts);
  say(`results: ${written.join(', ')} (${results.seconds} s in all)`);
  failOnCorrectnessChecks(results.checks);
}

/** The results record before any benchmark: the date, the machine, the plan and the targets. */
async function newResults() {
  return {
    date: new Date().toISOString().slice(0, 10),
    startedAt: new Date().toISOString(),
    quick: options.quick,
    machine: await machine(),
    plan: PLAN,
    targets: TARGETS,
    checks: {},
  };
}

/** Ctrl-C during a benchmark: stop the stack it started, then leave. */
function stopStackOnSignal(stack) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      say(`${signal}: stopping the stack`);
      void stack.stop().finally(() => process.exit(130));
    });
  }
}

/** The benchmarks --only asks for, in their fixed order, then ledger:verify on the stack's ledger. */
async function runBenchmarks(stack, work, results) {
  const pids = {
    accounts: findDescendant(stack.child.pid, 'accounts-manager/dist/src/main.js'),
    advances: findDescendant(stack.child.pid, 'advances/dist/src/main-api.js'),
    worker: findDescendant(stack.child.pid, 'advances/dist/src/main-worker.js'),
    temporal: findDescendant(stack.child.pid, 'server start-dev'),
    // The supervisor relays (and re-renders) every log line of the services.
    stack: stack.child.pid,
  };
  stack.pids = pids;
  // First, on a ledger holding only its own rows: its scan reads the whole
  // report window, which the other benchmarks would fill with their traffic.
  if (ONLY.has('reconciliation')) {
    results.reconciliation = await reconciliationBenchmark({
      accountsAddress: stack.env.ACCOUNTS_GRPC_ADDR,
      temporalAddress: stack.env.TEMPORAL_ADDRESS,
      accountsUrl: dbUrl(DB.accounts),
      advancesUrl: dbUrl(DB.advances),
      pids,
      count: PLAN.reconciliation.count,
      say,
    });
    results.checks.reconciliationHealthy = results.reconciliation.healthy;
  }
  if (['transfers', 'bank', 'batch', 'archive'].some((name) => ONLY.has(name)))
    await ledgerWriteBenchmarks(stack, work, results, pids);
  if (ONLY.has('report'))
    results.report = await withReportServer(work, (server) =>
      reportBenchmark({ ...server, listings: PLAN.report.listings, say }),
    );
  if (ONLY.has('growth')) {
    results.growth = await growthBenchmark({
      plan: {
        ...PLAN.growth,
        seconds: PLAN.seconds,
        warmupMs: PLAN.warmupMs,
        warmUpSeconds: PLAN.stackWarmUpSeconds,
        loadClient: PLAN.loadClient,
        requestIds: PLAN.requestIds,
      },
      grownUrl: dbUrl(DB.grown),
      emptyUrl: dbUrl(DB.empty),
      say,
    });
    results.checks.growthLedgerVerify = await ledgerVerify(dbUrl(DB.grown));
  }
  if (ONLY.has('advances')) {
    results.advances = await advancesAgainstAnchor(stack.env, pids);
    results.checks.advancesLedger = results.advances.ledgerCheck.ok;
  }
  if (ONLY.has('accounts'))
    results.accounts = await entityManagerBenchmark({ databaseUrl: dbUrl(DB.accounts), calls: PLAN.accountCalls, say });
  results.checks.ledgerVerify = await ledgerVerify(dbUrl(DB.accounts));
}

/** The ledger's write paths on funded accounts: Transfer, BankTransaction, BatchTransfer, and the archive's cost under Transfer. */
async function ledgerWriteBenchmarks(stack, work, results, pids) {
  const accounts = await fundedAccountFiles(work);
  if (ONLY.has('transfers')) results.transfers = await transfersBenchmark(stack.env, accounts, pids);
  if (ONLY.has('bank')) results.bank = await bankBenchmarkInStack(stack.env, accounts, results, pids);
  if (ONLY.has('batch')) {
    results.batch = await batchBenchmarkInStack(stack.env, accounts, pids);
    results.checks.batchAnswersComplete = results.batch.answersComplete;
  }
  if (ONLY.has('archive')) {
    results.archive = await archiveBenchmark({
      root: ROOT,
      address: stack.env.ACCOUNTS_GRPC_ADDR,
      databaseUrl: dbUrl(DB.accounts),
      accountsFile: accounts.many,
      work,
      rows: PLAN.archive.rows,
      seconds: PLAN.seconds,
      warmupMs: PLAN.warmupMs,
      say,
    });
    results.checks.archiveMovedEveryRow = results.archive.movedEveryRow;
  }
}

/** Exits non-zero (after everything is written) when a correctness check failed. */
function failOnCorrectnessChecks(checks) {
  const failed = Object.entries(checks)
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  if (failed.length > 0) {
    say(`CORRECTNESS CHECK FAILED: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

// ── benchmark 1: transfers (and 5: memory at the most callers) ─────────────

async function transfersBenchmark(env, accounts, pids) {
  await initPgbench(DB.pgbench, PGBENCH_SCALE);
  say(`warming the stack up: ${PLAN.stackWarmUpSeconds} s of Transfer ×32, not measured`);
  await load(env, {
    mode: 'transfer',
    callers: 32,
    accountsFile: accounts.many,
    pids,
    seconds: PLAN.stackWarmUpSeconds,
  });
  let maxClients = Infinity;
  const rows = [];
  for (const callers of PLAN.callers) {
    maxClients = Math.min(maxClients, await pgbenchClientLimit());
    const pgbench = await runPgbench({
      database: DB.pgbench,
      clients: Math.min(callers, maxClients),
      seconds: PLAN.seconds,
      script: 'tpcb-like',
    });
    const memory =
      callers === Math.max(...PLAN.callers)
        ? sampleMemory({ accounts: pids.accounts, advances: pids.advances, worker: pids.worker })
        : null;
    const transfers10k = await load(env, { mode: 'transfer', callers, accountsFile: accounts.many, pids });
    const memoryUnderLoad = memory?.stop() ?? null;
    const transfers10 = await load(env, { mode: 'transfer', callers, accountsFile: accounts.hot, pids });
    const row = {
      callers,
      pgbench,
      transfers10k,
      transfers10,
      ratio10k: ratio(transfers10k.rps, pgbench.tps),
      ratio10: ratio(transfers10.rps, pgbench.tps),
      ...(memoryUnderLoad ? { memory: memoryUnderLoad } : {}),
    };
    say(
      `transfers ×${callers}: ${transfers10k.rps}/s p99 ${transfers10k.p99Ms} ms (10 000 accounts), ${transfers10.rps}/s p99 ${transfers10.p99Ms} ms (10 accounts); pgbench tpcb-like ×${pgbench.clients}: ${pgbench.tps}/s`,
    );
    say(
      `  CPU cores during the 10 000-account run: ${Object.entries(transfers10k.cpuCores)
        .map(([name, cores]) => `${name} ${cores}`)
        .join(', ')} (of ${cpus().length})`,
    );
    say(`  CPU per call, 10 000 accounts: ${describeCpuPerCall(transfers10k.cpuMicrosPerCall)}`);
    say(`  CPU per call, 10 accounts: ${describeCpuPerCall(transfers10.cpuMicrosPerCall)}`);
    rows.push(row);
  }
  return { pgbenchScale: PGBENCH_SCALE, pgbenchMaxClients: maxClients, rows };
}

/**
 * pgbench needs one connection per client: stay below max_connections with
 * what is open now (the services' pools included), with a margin.
 */
async function pgbenchClientLimit() {
  const { stdout } = await run('psql', [
    '-h',
    '127.0.0.1',
    '-U',
    'postgres',
    '-Atc',
    "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - (SELECT count(*) FROM pg_stat_activity) - 10",
  ]);
  return Number(stdout.trim());
}

// ── benchmark 2: bank transactions with 10 % replayed request ids ───────────

/** bench/bank-bench.mjs on the stack's ledger, with pgbench's one-hot-row and tpcb-like ×32 beside it. */
async function bankBenchmarkInStack(env, accounts, results, pids) {
  const db = new pg.Client({ connectionString: dbUrl(DB.accounts) });
  await db.connect();
  try {
    const bank = await bankBenchmark({
      load: (spec) => load(env, { ...spec, pids }),
      accountsFile: accounts.many,
      rounds: PLAN.bankRounds,
      seconds: PLAN.bankRoundSeconds,
      bankState: () => bankState(db, BANK_ACCOUNT_ID),
      say,
    });
    // tpcb-like first: without the transfers benchmark it also creates pgbench's tables, which hot-row updates.
    const tpcb =
      results.transfers?.rows.find((row) => row.callers === BANK_CALLERS)?.pgbench ?? (await runPgbenchTpcb32());
    const hotRow = await runPgbench({
      database: DB.pgbench,
      clients: BANK_CALLERS,
      seconds: PLAN.bankSeconds,
      script: 'hot-row',
    });
    results.checks.bankReplaysMovedNoMoney = bank.moneyChecked;
    say(
      `bank ×${BANK_CALLERS}, ${bank.runs} round(s) each: ${bank.rps}/s p99 ${bank.p99Ms} ms, ${bank.bank.replays} replays; money check ${bank.moneyChecked ? 'OK' : 'FAILED'}; Transfer ×32 in turn with it: ${bank.transfer32.rps}/s (${bank.ratioTransfer32}×); pgbench one hot row: ${hotRow.tps}/s`,
    );
    say(`  CPU per call, BankTransaction: ${describeCpuPerCall(bank.cpuMicrosPerCall)}`);
    say(`  CPU per call, Transfer: ${describeCpuPerCall(bank.transfer32.cpuMicrosPerCall)}`);
    const { transfer32, ...rest } = bank;
    return {
      ...rest,
      anchors: { tpcbLike: tpcb, hotRow, transfer32 },
      ratioTpcb: ratio(bank.rps, tpcb.tps),
      ratioHotRow: ratio(bank.rps, hotRow.tps),
    };
  } finally {
    await db.end();
  }
}

/** BatchTransfer (bench/batch-bench.mjs) against pgbench tpcb-like ×32 measured just before it. */
async function batchBenchmarkInStack(env, accounts, pids) {
  const tpcb = await runPgbenchTpcb32();
  return batchBenchmark({
    load: (spec) => load(env, { ...spec, pids }),
    accountsFile: accounts.many,
    callers: BATCH_CALLERS,
    seconds: PLAN.bankSeconds,
    tpcb,
    say,
  });
}

async function runPgbenchTpcb32() {
  await initPgbench(DB.pgbench, PGBENCH_SCALE);
  return runPgbench({ database: DB.pgbench, clients: BANK_CALLERS, seconds: PLAN.bankSeconds, script: 'tpcb-like' });
}

async function bankState(db, bankId) {
  const {
    rows: [row],
  } = await db.query(
    // The bank's balance: its row plus its 32 shards (Migration20261204000000_bank_balance_shards).
    `SELECT (SELECT balance FROM accounts WHERE account_id = $1)
              + (SELECT coalesce(sum(balance), 0) FROM bank_balance_shards) AS balance,
            (SELECT count(*) FROM transactions WHERE kind = 'bank' AND description = 'bench') AS rows`,
    [bankId],
  );
  return { balance: BigInt(row.balance), rows: Number(row.rows) };
}

// ── the load process ─────────────────────────────────────────────────────────

async function load(
  env,
  { mode, callers, accountsFile, repeatRatio = 0, seconds = PLAN.seconds, batchSize, pids, database = DB.accounts },
) {
  // Where the machine's CPU went during the run (cores: 1.0 = one core busy throughout).
  const before = {
    accounts: cpuSeconds(pids.accounts),
    postgres: userCpuSeconds('postgres'),
    machine: machineBusySeconds(),
    at: Date.now(),
  };
  const result = await runLoad(
    {
      address: env.ACCOUNTS_GRPC_ADDR,
      mode,
      callers,
      warmupMs: PLAN.warmupMs,
      durationMs: seconds * 1000,
      accountsFile,
      repeatRatio,
      batchSize,
      client: PLAN.loadClient,
      requestIds: PLAN.requestIds,
      cpu: { pids: { accountsManager: pids.accounts, stack: pids.stack }, database },
    },
    dirname(accountsFile),
  );
  const elapsed = (Date.now() - before.at) / 1000;
  result.cpuCores = {
    accountsManager: round((cpuSeconds(pids.accounts) - before.accounts) / elapsed, 2),
    postgres: round((userCpuSeconds('postgres') - before.postgres) / elapsed, 2),
    loadGenerator: round(result.loadCpuSeconds / elapsed, 2),
    machine: round((machineBusySeconds() - before.machine) / elapsed, 2),
  };
  return result;
}

/** 10 000 accounts and 10 "hot" ones, each credited 10 000.00 by the bank: the files the load process reads. */
async function fundedAccountFiles(work) {
  const url = dbUrl(DB.accounts);
  return {
    many: accountsFile(work, '10000', await fundedAccounts(url, 10_000, 'bench')),
    hot: accountsFile(work, '10', await fundedAccounts(url, 10, 'bench hot')),
  };
}

// ── benchmark 3: the report, on its own accounts-manager and database ──────

async function withReportServer(work, body) {
  const server = await startAccountsManager({
    databaseUrl: dbUrl(DB.report),
    env: { LOG_LEVEL: 'warn', ...cpuProfileEnv(work) },
  });
  try {
    const seed = await ensureReportData(dbUrl(DB.report), PLAN.report, say);
    const result = await body({ address: server.address, databaseUrl: dbUrl(DB.report), pid: server.pid });
    return { seed, ...result, pid: server.pid, verified: await ledgerVerify(dbUrl(DB.report)) };
  } finally {
    await server.stop();
  }
}

// ── benchmark 4: advances, against empty Temporal workflows of the same shape ─

async function advancesAgainstAnchor(env, pids) {
  // The anchor first: its unfinished workflows are terminated, ours would keep the server busy.
  const anchor = await temporalAnchor({
    temporalAddress: env.TEMPORAL_ADDRESS,
    temporalPid: pids.temporal,
    count: PLAN.advances.count,
    intervalMs: 1_000,
    timeoutMs: PLAN.advances.timeoutMs,
    say,
  });
  const advances = await advancesBenchmark({
    advancesAddress: env.ADVANCES_GRPC_ADDR,
    accountsUrl: dbUrl(DB.accounts),
    advancesUrl: dbUrl(DB.advances),
    pids,
    count: PLAN.advances.count,
    intervalMs: 1_000,
    timeoutMs: PLAN.advances.timeoutMs,
    say,
  });
  return {
    ...advances,
    anchor,
    ratio: ratio(advances.activitiesPerSecond, anchor.activitiesPerSecond),
  };
}

// ── the stack under test ────────────────────────────────────────────────────

async function startStack(work) {
  const [temporal, ui, accounts, advances] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    ALFABET_DATA_DIR: join(work, 'data'),
    TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
    TEMPORAL_UI_PORT: String(ui),
    ACCOUNTS_GRPC_ADDR: `127.0.0.1:${accounts}`,
    ADVANCES_GRPC_ADDR: `127.0.0.1:${advances}`,
    ACCOUNTS_DATABASE_URL: dbUrl(DB.accounts),
    ADVANCES_DATABASE_URL: dbUrl(DB.advances),
    ACCOUNTS_METRICS_ADDR: 'off',
    ADVANCES_METRICS_ADDR: 'off',
    ADVANCES_WORKER_METRICS_ADDR: 'off',
    ADVANCES_TEMPORAL_METRICS_ADDR: 'off',
    ADVANCE_PAYMENT_INTERVAL: '1s',
    RECONCILIATION_INTERVAL: 'off',
    ...cpuProfileEnv(work),
  };
  say('starting the stack (Temporal dev server, accounts-manager, advances API and worker)…');
  const child = spawn(process.execPath, [join(ROOT, 'scripts/stack.mjs')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + String(chunk)).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`the stack exited:\n${output}`);
      return output.includes('the stack is up');
    },
    150_000,
    'the stack',
  );
  return {
    child,
    env,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** Summarises accounts-manager's CPU profile and keeps the raw file next to the results (gitignored). */
/** With --cpu-prof, a service started with this environment writes its V8 profile to `work`/profiles when it exits. */
function cpuProfileEnv(work) {
  if (!options['cpu-prof']) return {};
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${join(work, 'profiles')}` };
}

function keepProfile(work, pid, date, name = 'accounts-manager') {
  const dir = join(work, 'profiles');
  const file = readdirSync(dir).find((name) => name.includes(`.${pid}.`));
  if (!file) return null;
  const resultsDir = options['results-dir'] ?? join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const kept = join(resultsDir, `${date}-${name}.cpuprofile`);
  copyFileSync(join(dir, file), kept);
  const summary = summarizeProfile(kept);
  say(`${name} CPU profile (${summary.seconds} s, ${summary.busyPercent} % busy): ${kept}`);
  for (const entry of summary.byPackage) say(`  ${String(entry.percentOfBusy).padStart(5)} %  ${entry.name}`);
  say('  top functions (self time):');
  for (const entry of summary.topFunctions) say(`  ${String(entry.percentOfBusy).padStart(5)} %  ${entry.name}`);
  return summary;
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function dropDatabase(name) {
  await run('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
}

async function ledgerVerify(databaseUrl) {
  const verify = await run(process.execPath, [join(ROOT, 'accounts-manager/dist/src/cli/ledger-verify.js')], {
    env: { ...process.env, ACCOUNTS_DATABASE_URL: databaseUrl },
  }).then(
    () => true,
    (error) => {
      say(`ledger:verify failed on ${databaseUrl}:\n${error.stdout}${error.stderr}`);
      return false;
    },
  );
  return verify;
}

async function machine() {
  const { stdout } = await run('psql', [
    '-h',
    '127.0.0.1',
    '-U',
    'postgres',
    '-Atc',
    "SELECT current_setting('server_version')",
  ]);
  return {
    cpu: cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    postgres: stdout.trim(),
    node: process.versions.node,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  };
}

// ── output ──────────────────────────────────────────────────────────────────

function writeResults(results) {
  const dir = options['results-dir'] ?? join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${results.date}${options.quick ? '-quick' : ''}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  const files = [`${base}.json`];
  if (results.transfers) {
    writeFileSync(`${base}-transfers.svg`, transfersChart(results));
    files.push(`${base}-transfers.svg`);
  }
  return files.map((file) => (file.startsWith(ROOT) ? file.slice(ROOT.length + 1) : file));
}

function printTable(results) {
  const lines = [];
  const row = (...cells) => lines.push(`| ${cells.join(' | ')} |`);
  row('benchmark', 'measured', 'anchor (same run)', 'ratio', 'target');
  row('---', '---', '---', '---', '---');
  transfersRows(row, results.transfers);
  if (results.bank) bankRow(row, results.bank, results.checks);
  if (results.batch) batchRow(row, results.batch);
  if (results.archive) archiveRow(row, results.archive);
  if (results.report) reportRows(row, results.report);
  if (results.growth) growthRows(row, results.growth);
  if (results.advances) advancesRow(row, results.advances);
  if (results.reconciliation) reconciliationRows(row, results.reconciliation);
  if (results.accounts) accountsRow(row, results.accounts);
  const memory = results.transfers?.rows.find((x) => x.memory)?.memory;
  if (memory) memoryRow(row, memory);
  console.log(`\n${lines.join('\n')}\n`);
}

/** Every target judged on the unrounded figures (target-verdicts.mjs), then how many held. */
function printVerdicts(verdicts) {
  for (const verdict of verdicts) say(describeVerdict(verdict));
  const missed = verdicts.filter((v) => !v.met).length;
  say(`targets: ${verdicts.length - missed} met, ${missed} missed`);
}

function transfersRows(row, transfers) {
  for (const r of transfers?.rows ?? []) {
    const ratio = TARGETS.transferRatio[r.callers];
    const target = ratio ? `≥ ${ratio}×${r.callers === 32 ? `, p99 ≤ ${TARGETS.transferP99MsAt32} ms` : ''}` : '';
    row(
      `Transfer ×${r.callers}, 10 000 accounts`,
      `${r.transfers10k.rps}/s, p50 ${r.transfers10k.p50Ms} ms, p99 ${r.transfers10k.p99Ms} ms`,
      `pgbench tpcb-like ×${r.pgbench.clients}: ${r.pgbench.tps}/s, p99 ${r.pgbench.p99Ms} ms`,
      `${r.ratio10k}×`,
      target,
    );
    row(
      `Transfer ×${r.callers}, 10 accounts`,
      `${r.transfers10.rps}/s, p50 ${r.transfers10.p50Ms} ms, p99 ${r.transfers10.p99Ms} ms`,
      `pgbench tpcb-like ×${r.pgbench.clients}: ${r.pgbench.tps}/s`,
      `${r.ratio10}×`,
      r.callers === 32 ? `≥ ${TARGETS.hotTransferRatioAt32}×` : '',
    );
    row(
      `CPU per Transfer ×${r.callers}, 10 000 accounts`,
      describeCpuPerCall(r.transfers10k.cpuMicrosPerCall),
      '',
      '',
      `accounts-manager ≤ ${TARGETS.accountsCpuPerTransfer}`,
    );
  }
}

function accountsRow(row, a) {
  row(
    'GetAccount / CreateAccount through the EntityManager',
    `${a.get.cpuUs} / ${a.create.cpuUs} µs CPU per call`,
    `the same read, one prepared statement: ${a.raw.cpuUs} µs`,
    `${a.getRatio}× / ${a.createRatio}×`,
    '',
  );
}

function bankRow(row, b, checks) {
  row(
    `BankTransaction ×${BANK_CALLERS}, 10 % replays, ${b.runs} round(s) in turn with Transfer ×32`,
    `${b.rps}/s, p50 ${b.p50Ms} ms, p99 ${b.p99Ms} ms; ${b.proof.replays} replays moved no money: ${checks.bankReplaysMovedNoMoney ? 'yes' : 'NO'}`,
    `Transfer ×32 (10 000 accounts), in turn: ${b.anchors.transfer32.rps}/s; pgbench one hot row ×${BANK_CALLERS}: ${b.anchors.hotRow.tps}/s; tpcb-like: ${b.anchors.tpcbLike.tps}/s`,
    `${b.ratioTransfer32}× / ${b.ratioHotRow}× / ${b.ratioTpcb}×`,
    `≥ ${TARGETS.bankVsTransfer32}× Transfer ×32`,
  );
}

function reportRows(row, r) {
  row(
    `Report: first page (${r.rowsInWindow.toLocaleString('en')} rows in window)`,
    `p50 ${r.firstPage.p50Ms} ms, p99 ${r.firstPage.p99Ms} ms`,
    `same SQL alone: p50 ${r.firstPage.anchor.p50Ms} ms, p99 ${r.firstPage.anchor.p99Ms} ms`,
    `${r.firstPage.ratioP50}×`,
    `p99 ≤ ${TARGETS.reportFirstPageP99Ms} ms`,
  );
  row(
    'Report: whole window, 1000 a page',
    `${r.stream.rowsPerSecond.toLocaleString('en')} rows/s`,
    `psql COPY: ${r.stream.anchor.rowsPerSecond.toLocaleString('en')} rows/s`,
    `${r.stream.ratio}×`,
    `≥ ${TARGETS.reportRowsPerSecond.toLocaleString('en')} rows/s`,
  );
  decodedStreamRow(row, 'Report', r.stream);
  row(
    'Report: accounts-manager peak RSS while streaming',
    r.memory.map((m) => `${m.peakMiB} MiB for ${m.rows.toLocaleString('en')} rows`).join(', '),
    `idle before: ${r.memory[0].startMiB} MiB`,
    '',
    'levels off',
  );
}

function growthRows(row, g) {
  const stored = `${(g.stored.transactions / 1e6).toLocaleString('en')} M stored (${(g.stored.hot / 1e6).toLocaleString('en')} M hot, ${(g.stored.archived / 1e6).toLocaleString('en')} M archived)`;
  const side = (t) =>
    `${t.rps}/s, p99 ${t.p99Ms} ms; CPU per call: accounts-manager ${t.cpuMicrosPerCall.accountsManager} µs, PostgreSQL backends ${t.cpuMicrosPerCall.postgresBackends} µs; full-page images per call ${t.wal.map((w) => w.fullPageImages).join(' / ')}, checkpoints ${t.wal.map((w) => w.checkpoints).join(' / ')}`;
  const ids = { v7: 'time-ordered (v7) request ids', v4: 'random (v4) request ids' };
  row(
    `Transfer ×${g.transfers.callers} on a grown ledger: ${stored}; ${ids[g.transfers.requestIds]}`,
    side(g.transfers.grown),
    `an empty ledger, same run: ${side(g.transfers.empty)}`,
    `${g.transfers.ratio}×`,
    `≥ ${TARGETS.growthTransferRatio}× (within 10 %); PostgreSQL's max_wal_size ${g.transfers.grown.wal[0]?.maxWalSize}`,
  );
  const random = g.transfers.randomIds;
  if (random)
    row(
      `The same with ${ids.v4}, the worse case (one round each, after)`,
      side(random.grown),
      `an empty ledger: ${side(random.empty)}`,
      `${random.ratio}×`,
      '',
    );
  const after = g.transfers.afterStream;
  if (after)
    row(
      'The same on the grown ledger, by the accounts-manager that streamed its window (two rounds each, after)',
      side(after.streamed),
      `the grown ledger's own accounts-manager: ${side(after.grown)}`,
      `${after.ratio}×`,
      '',
    );
  const r = g.report;
  row(
    `Report at scale: first page (${r.rowsInWindow.toLocaleString('en')} rows in window)`,
    `p50 ${r.firstPage.p50Ms} ms, p99 ${r.firstPage.p99Ms} ms`,
    `same SQL alone: p50 ${r.firstPage.anchor.p50Ms} ms, p99 ${r.firstPage.anchor.p99Ms} ms`,
    `${r.firstPage.ratioP50}×`,
    `p99 ≤ ${TARGETS.growthFirstPageP99Ms} ms`,
  );
  row(
    `Report at scale: whole window streamed, 1000 a page`,
    `${r.stream.rowsPerSecond.toLocaleString('en')} rows/s; CPU per row: accounts-manager ${r.stream.cpuMicrosPerRow.accountsManager} µs, PostgreSQL ${r.stream.cpuMicrosPerRow.postgresBackends} µs; RSS peak ${r.memory.at(-1).peakMiB} MiB`,
    `psql COPY of the same rows: ${r.stream.anchor.rowsPerSecond.toLocaleString('en')} rows/s`,
    `${r.stream.ratio}×`,
    `≥ ${TARGETS.growthStreamVsCopy}× COPY`,
  );
  decodedStreamRow(row, 'Report at scale', r.stream);
}

/** The stream once more through the generated client (report-bench.mjs): shown beside the lean reader's figure. */
function decodedStreamRow(row, label, stream) {
  const decoded = stream.decodedByGeneratedClient;
  row(
    `${label}: the same, read by the generated client (every row decoded)`,
    `${decoded.rowsPerSecond.toLocaleString('en')} rows/s; the reader ${decoded.readerMicrosPerRow} µs of CPU a row (the lean reader: ${stream.cpuMicrosPerRow.reader})`,
    `psql COPY: ${stream.anchor.rowsPerSecond.toLocaleString('en')} rows/s`,
    `${ratio(decoded.rowsPerSecond, stream.anchor.rowsPerSecond)}×`,
    '',
  );
}

function advancesRow(row, a) {
  const done = (count, seconds) => (seconds ? `all ${count} done in ${seconds} s` : `bound hit`);
  row(
    `Advances: ${a.advances} at once, payments ${a.intervalSeconds} s apart`,
    `${a.allRepaid ? `all repaid in ${a.secondsUntilAllRepaid} s` : `${a.repaid} repaid when the bound hit`}; ${a.activitiesPerSecond} ledger activities/s (${a.paymentsPerSecond} payments/s); CPU cores: ${Object.entries(
      a.processes,
    )
      .map(([name, p]) => `${name} ${p.cpuCores}`)
      .join(', ')}; worker peak ${a.worker.peakMiB} MiB`,
    `empty workflows of the same shape: ${done(a.anchor.completed, a.anchor.secondsUntilAllDone)}, ${a.anchor.activitiesPerSecond} activities/s (floor ${a.idealSeconds} s)`,
    `${a.ratio}×`,
    `ledger check: ${a.ledgerCheck.ok ? 'OK' : 'FAILED'}`,
  );
  row(
    `Advances: worker memory with ${a.worker.mostInFlight} in flight`,
    `peak RSS ${a.worker.peakMiB} MiB`,
    `idle before: ${a.worker.startMiB} MiB`,
    '',
    `≤ ${TARGETS.workerRssMiBWithAdvancesInFlight} MiB`,
  );
}

function reconciliationRows(row, c) {
  const anchors = `same ${c.anchors.sql.rows.toLocaleString('en')} ledger rows by one SQL query: ${c.anchors.sql.advancesPerSecond.toLocaleString('en')} advances/s; by the report stream: ${c.anchors.stream.advancesPerSecond.toLocaleString('en')} advances/s`;
  const verdict = (run) => (run.findingsRaised === 0 && run.openFindings === 0 ? 'OK' : 'CORRECTNESS FAILURE');
  const advances = c.advances.toLocaleString('en');
  for (const [name, run, ratios] of [
    ['first full sweep, mirror empty', c.runs.first, [c.ratios.firstVsSql, c.ratios.firstVsStream]],
    ['daily full sweep, mirror full', c.runs.second, [c.ratios.secondVsSql, c.ratios.secondVsStream]],
  ]) {
    row(
      `Reconciliation of ${advances} healthy advances: ${name}`,
      `${run.advancesPerSecond.toLocaleString('en')} advances/s (${run.seconds} s); ${run.findingsRaised} findings: ${verdict(run)}`,
      anchors,
      `${ratios[0]}× / ${ratios[1]}×`,
      '',
    );
  }
  const hourly = c.runs.hourly;
  row(
    `Reconciliation of ${advances} healthy advances: hourly run, ${hourly.changed} paid since`,
    `${hourly.coveredPerSecond.toLocaleString('en')} advances/s covered (${hourly.seconds} s, ${hourly.advancesChecked} re-checked); ${hourly.findingsRaised} findings: ${verdict(hourly)}`,
    anchors,
    `${c.ratios.hourlyVsSql}× / ${c.ratios.hourlyVsStream}×`,
    `≥ ${TARGETS.reconciliationRatio}× (SQL)`,
  );
}

function memoryRow(row, memory) {
  row(
    `Memory under Transfer ×${Math.max(...PLAN.callers)}`,
    Object.entries(memory)
      .map(([name, m]) => `${name} ${m.peakMiB} MiB`)
      .join(', '),
    'before this run: ' +
      Object.entries(memory)
        .map(([name, m]) => `${name} ${m.startMiB} MiB`)
        .join(', '),
    '',
    `accounts-manager ≤ ${TARGETS.accountsRssMiBAt128} MiB`,
  );
}

main().catch((error) => {
  console.error(`[bench] failed: ${error.stack ?? error}`);
  process.exitCode = 1;
});
