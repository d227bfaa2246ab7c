// Benchmark 6: what the ledger costs as its history grows. A ledger holding
// `hot` transactions in the report window and `archived` ones in the archive
// (10 000 000 in all by default, each with its request_id in the idempotency
// table, seeded by SQL: report-data.mjs) against an empty one, both on
// accounts-manager processes of their own on the same PostgreSQL, in the same
// run:
// - Transfer ×32 on 10 000 fresh accounts of each, runs alternating between
//   the two ledgers: throughput, p99 and CPU per call side by side, with the
//   request ids the plan names (time-ordered by default) and then random ones;
// - the report over the whole window of the grown ledger, on a third
//   accounts-manager: the first page against the same SQL alone, the stream
//   against psql COPY of the same rows (report-bench.mjs); that process then
//   takes turns at Transfer with the grown ledger's own (what a stream leaves
//   behind in a process).
// ledger:verify on the grown ledger afterwards is a correctness check.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  accountsFile,
  databaseOf,
  dropDatabase,
  fundedAccounts,
  runLoad,
  startAccountsManager,
} from './accounts-runner.mjs';
import { describeCpuPerCall } from './processes.mjs';
import { reportBenchmark } from './report-bench.mjs';
import { ensureReportData, seedOf } from './report-data.mjs';
import { combineRuns, ratio, round } from './stats.mjs';

const ACCOUNTS = 10_000;

/**
 * plan: { hot, archived, callers, seconds, warmupMs, warmUpSeconds, rounds, listings, loadClient, requestIds };
 * grownUrl is reused while its seed is fresh (12 h) and no run has written to it, emptyUrl is made anew.
 */
export async function growthBenchmark({ plan, grownUrl, emptyUrl, say }) {
  await dropStaleSeed(grownUrl, plan, say);
  await dropDatabase(databaseOf(emptyUrl));
  const work = mkdtempSync(join(tmpdir(), 'alfabet-growth-'));
  const servers = [];
  const start = async (databaseUrl) => {
    const server = await startAccountsManager({ databaseUrl });
    servers.push(server);
    return server;
  };
  try {
    // The report's accounts-manager first: it makes the grown ledger's database and its schema, which the seed fills.
    const reporter = await start(grownUrl);
    const seed = await ensureReportData(grownUrl, { hot: plan.hot, archived: plan.archived, requests: true }, say);
    const stored = await storedRows(grownUrl);
    say(
      `growth: ${stored.transactions.toLocaleString('en')} transactions stored (${stored.hot.toLocaleString('en')} hot, ${stored.archived.toLocaleString('en')} archived), ${stored.requests.toLocaleString('en')} request ids`,
    );
    // The report first, while the window holds the seed alone (the transfers below add to it), on an
    // accounts-manager of its own: the target compares ledgers, not process histories, and sessions 20–21's
    // probes found a process that had streamed millions of rows spending 5–15 % more CPU a Transfer afterwards
    // (docs/benchmarks.md; session 22's runs saw no such cost). It is measured on its own below (afterStream).
    const report = await reportBenchmark({
      address: reporter.address,
      databaseUrl: grownUrl,
      pid: reporter.pid,
      listings: plan.listings,
      say: (text) => say(`growth ${text}`),
    });
    const grown = await start(grownUrl);
    const empty = await start(emptyUrl);
    const transfers = await transfersSideBySide({ plan, grown, empty, reporter, grownUrl, emptyUrl, work, say });
    return { seed, stored, report, transfers };
  } finally {
    for (const server of servers) await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A grown ledger seeded for another plan, or long ago, or written to since its seed, is dropped (and seeded
 * again). Each run's transfers land in today's partition — some 0.4 M rows a run, where the seed put a
 * day's share (~1.1 M) — so a ledger reused after a run is not the one the target names: on 2026-11-27 the
 * day's partition held 2.8 M rows after a morning of runs, and its per-account indexes (200 MB each) missed
 * PostgreSQL's 128 MB of shared buffers 0.35 times a Transfer against 0.02 on an empty ledger.
 */
async function dropStaleSeed(grownUrl, plan, say) {
  const db = new pg.Client({ connectionString: grownUrl });
  const exists = await db.connect().then(
    () => true,
    () => false,
  );
  if (!exists) return;
  let seed;
  let added = 0;
  try {
    seed = await seedOf(db);
    if (seed) added = await rowsWrittenSince(db, seed.seeded_at);
  } finally {
    await db.end();
  }
  const stale = whyStale(seed, plan, added);
  if (stale) {
    say(`growth: ${databaseOf(grownUrl)} holds ${stale}: dropping it`);
    await dropDatabase(databaseOf(grownUrl));
  }
}

/** Why a grown ledger holding `seed` (and `added` rows since) cannot serve `plan`; null when it can. */
function whyStale(seed, plan, added) {
  if (!seed) return 'no complete seed';
  const samePlan = Number(seed.hot) === plan.hot && Number(seed.archived) === plan.archived && seed.requests;
  if (!samePlan || Date.now() - seed.seeded_at.getTime() >= 12 * 3_600_000) return 'another or a stale seed';
  if (added > 0) return `${added.toLocaleString('en')} transactions written since its seed (earlier runs)`;
  return null;
}

/** Transactions written after the seed (which writes its newest a minute before `seededAt`): a run's. */
async function rowsWrittenSince(db, seededAt) {
  const { rows } = await db.query('SELECT count(*) AS added FROM transactions WHERE create_time >= $1', [seededAt]);
  return Number(rows[0].added);
}

/** Exact row counts of the grown ledger: what "stored" means in the lines. */
async function storedRows(databaseUrl) {
  const row = await oneRow(
    databaseUrl,
    `SELECT (SELECT count(*) FROM public.transactions) AS hot,
            (SELECT count(*) FROM archive.transactions) AS archived,
            (SELECT count(*) FROM transaction_requests) AS requests`,
  );
  const [hot, archived, requests] = [row.hot, row.archived, row.requests].map(Number);
  return { hot, archived, transactions: hot + archived, requests };
}

/** The one row `sql` answers, on a connection of its own. */
async function oneRow(databaseUrl, sql) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    return (await db.query(sql)).rows[0];
  } finally {
    await db.end();
  }
}

/**
 * Transfer ×callers on each ledger, `rounds` times, alternating which goes first — after
 * `warmUpSeconds` of the same load on each, not measured: each ledger has its own
 * accounts-manager, and a process's first seconds run its code unoptimized. The rounds send
 * `plan.requestIds`; when those are time-ordered (v7, as DESIGN §3 asks of callers), one more
 * round each with random (v4) ids follows, the worse case, shown beside the target's line. Last, the
 * accounts-manager that streamed the window (`reporter`) takes turns with the grown ledger's own on the same
 * accounts, two rounds each: what a stream leaves behind in a process, shown apart from the ledger's size.
 */
async function transfersSideBySide({ plan, grown, empty, reporter, grownUrl, emptyUrl, work, say }) {
  const ledgers = [
    { key: 'grown', name: 'grown', server: grown, url: grownUrl },
    { key: 'empty', name: 'empty', server: empty, url: emptyUrl },
  ];
  for (const ledger of ledgers)
    ledger.accountsFile = accountsFile(work, ledger.name, await fundedAccounts(ledger.url, ACCOUNTS, 'growth'));
  const transfers = (ledger, requestIds, warmupMs, durationMs) =>
    runLoad(
      {
        address: ledger.server.address,
        mode: 'transfer',
        callers: plan.callers,
        warmupMs,
        durationMs,
        accountsFile: ledger.accountsFile,
        client: plan.loadClient,
        requestIds,
        cpu: { pids: { accountsManager: ledger.server.pid }, database: databaseOf(ledger.url) },
      },
      work,
    );
  say(`growth: warming both accounts-managers up, ${plan.warmUpSeconds} s of Transfer ×${plan.callers} each`);
  for (const ledger of ledgers) await transfers(ledger, plan.requestIds, 0, plan.warmUpSeconds * 1000);
  const measured = await rounds({ plan, ledgers, transfers, requestIds: plan.requestIds, count: plan.rounds, say });
  const randomIds =
    plan.requestIds === 'v4' ? undefined : await rounds({ plan, ledgers, transfers, requestIds: 'v4', count: 1, say });
  const streamed = { ...ledgers[0], key: 'streamed', name: 'grown (the process that streamed it)', server: reporter };
  say(`growth: warming the accounts-manager that streamed up, ${plan.warmUpSeconds} s of Transfer ×${plan.callers}`);
  await transfers(streamed, plan.requestIds, 0, plan.warmUpSeconds * 1000);
  const afterStream = await rounds({
    plan,
    ledgers: [streamed, ledgers[0]],
    transfers,
    requestIds: plan.requestIds,
    count: 2,
    say,
  });
  return { callers: plan.callers, requestIds: plan.requestIds, ...measured, randomIds, afterStream };
}

/**
 * `count` rounds on each of two ledgers sending `requestIds`, alternating which goes first; each side summed
 * under its ledger's key, and the first's rate over the second's.
 */
async function rounds({ plan, ledgers, transfers, requestIds, count, say }) {
  const runs = new Map(ledgers.map((ledger) => [ledger, []]));
  for (let round = 0; round < count; round++) {
    for (const ledger of round % 2 === 0 ? ledgers : [...ledgers].reverse()) {
      const walBefore = await walCounters(ledger.url);
      const result = await transfers(ledger, requestIds, plan.warmupMs, plan.seconds * 1000);
      if (Object.keys(result.errors).length > 0)
        throw new Error(`growth: Transfer errors on the ${ledger.name} ledger: ${JSON.stringify(result.errors)}`);
      result.wal = walPerCall(
        walBefore,
        await walCounters(ledger.url),
        result.rps * (plan.seconds + plan.warmupMs / 1000),
      );
      runs.get(ledger).push(result);
      say(
        `growth: Transfer ×${plan.callers} on the ${ledger.name} ledger, ${requestIds} request ids: ${result.rps}/s p99 ${result.p99Ms} ms; CPU per call: ${describeCpuPerCall(result.cpuMicrosPerCall)}; WAL per call: ${result.wal.bytes} bytes, ${result.wal.fullPageImages} full-page images; checkpoints in the round: ${result.wal.checkpoints} (${result.wal.checkpointsForWalSize} for max_wal_size = ${result.wal.maxWalSize})`,
      );
    }
  }
  const [first, second] = ledgers.map((ledger) => summarize(runs.get(ledger)));
  return { [ledgers[0].key]: first, [ledgers[1].key]: second, ratio: ratio(first.rps, second.rps) };
}

/**
 * PostgreSQL's WAL counters (pg_stat_wal, the whole server's: only this load runs meanwhile).
 * The first change of a page after a checkpoint writes the whole page into the WAL (a full-page
 * image); a ledger whose indexes are large changes many distinct pages, so this shows what its
 * size costs in WAL — and how much of it depends on where a round falls between checkpoints.
 */
async function walCounters(databaseUrl) {
  const row = await oneRow(
    databaseUrl,
    `SELECT w.wal_bytes::text AS bytes, w.wal_fpi::text AS fpi, b.checkpoints_req AS requested,
            b.checkpoints_timed AS timed, current_setting('max_wal_size') AS max_wal_size
       FROM pg_stat_wal w, pg_stat_bgwriter b`,
  );
  return {
    bytes: Number(row.bytes),
    fpi: Number(row.fpi),
    checkpoints: Number(row.requested) + Number(row.timed),
    requested: Number(row.requested),
    maxWalSize: row.max_wal_size,
  };
}

/**
 * WAL bytes and full-page images per call, over `calls` (a run's, its warm-up included: rps × its length),
 * and the checkpoints that began meanwhile — how many of them because max_wal_size of WAL had been written
 * since the last (requested), not because checkpoint_timeout had passed.
 */
function walPerCall(before, after, calls) {
  return {
    bytes: Math.round((after.bytes - before.bytes) / calls),
    fullPageImages: round((after.fpi - before.fpi) / calls, 2),
    checkpoints: after.checkpoints - before.checkpoints,
    checkpointsForWalSize: after.requested - before.requested,
    maxWalSize: after.maxWalSize,
  };
}

/** A ledger's runs in one (stats.mjs combineRuns) with each run's WAL counters. */
function summarize(runs) {
  return { ...combineRuns(runs), wal: runs.map((run) => run.wal) };
}
