// The report's first page while the ledger takes transfers, minute after
// minute — what the report benchmark's seeded window does not show:
//
//   node bench/report-under-load.mjs [--minutes 8] [--callers 8] [--every 60] [--listings 30]
//                                    [--hot 1000000] [--db-suffix _x]
//
// A ledger seeded with `hot` transactions in the window (bench/report-data.mjs,
// its finished minutes sealed as the service's timer seals them), its own
// accounts-manager (whose timer keeps sealing), then Transfer ×callers for
// `minutes` from a load process. Every `every` seconds, `listings` first pages
// of the whole window one after another: p50, p99, the rows in the window, how
// many of them no sealed minute holds (before the live counts, the rows a
// listing counted one by one: docs/ledger.md, "Counting without counting
// everything") and the live count rows a listing adds up instead. One more
// sample once the load has stopped. Prints a line per sample and, last, the
// samples as JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import pg from 'pg';
import { AccountsServiceClient } from '@alfabet/proto/accounts/v1';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import { maintainReportCounts } from '../accounts-manager/dist/src/db/report-counts.sql.js';
import { accountsFile, databaseUrlOf, fundedAccounts, runLoad, startAccountsManager } from './accounts-runner.mjs';
import { BASE_REQUEST, firstPage, windowStart } from './report-bench.mjs';
import { ensureReportData } from './report-data.mjs';
import { summarize } from './stats.mjs';

const { values: options } = parseArgs({
  options: {
    minutes: { type: 'string', default: '8' },
    callers: { type: 'string', default: '8' },
    every: { type: 'string', default: '60' },
    listings: { type: 'string', default: '30' },
    hot: { type: 'string', default: '1000000' },
    'db-suffix': { type: 'string', default: '' },
  },
});
const ACCOUNTS = 10_000;
const WINDOW_MS = 5 * 86_400_000;
const say = (text) => console.log(`[report-under-load] ${text}`);
const databaseUrl = databaseUrlOf(`alfabet_accounts_bench_reportload${options['db-suffix']}`);

/** The window's rows, those of them in no sealed minute, and the live count rows, in one snapshot. */
async function windowRows(db) {
  const { rows } = await db.query(
    `WITH sealed AS (SELECT coalesce(max(bucket_start) + interval '1 minute', '-infinity') AS sealed_to
                       FROM report_counts WHERE row_count IS NOT NULL)
     SELECT count(*)::int AS rows, count(*) FILTER (WHERE t.create_time >= sealed.sealed_to)::int AS unsealed,
            (SELECT count(*)::int FROM report_live_counts) AS "liveCountRows"
       FROM transactions t, sealed WHERE t.create_time >= $1`,
    [windowStart()],
  );
  return rows[0];
}

/**
 * `listings` first pages after one more that is timed apart (`coldMs`): the
 * first listing in a minute. While the report pool closed connections idle
 * for 10 s, that one also paid for a new session and its prepared statements
 * (26-45 ms); the pool keeps them now (db/report-pool.ts).
 */
async function sample(client, db, label, startedAt) {
  const listing = async () =>
    (await firstPage(client, { ...BASE_REQUEST, startTime: timestampOfDate(windowStart()) })).ms;
  const coldMs = Math.round((await listing()) * 100) / 100;
  const times = [];
  for (let i = 0; i < Number(options.listings); i++) times.push(await listing());
  const { p50Ms, p99Ms } = summarize(times);
  const rows = await windowRows(db);
  const result = { label, minute: Math.round((Date.now() - startedAt) / 6_000) / 10, p50Ms, p99Ms, coldMs, ...rows };
  say(
    `${label} (${result.minute} min): first page p50 ${p50Ms} ms, p99 ${p99Ms} ms (the one after a minute idle: ${coldMs} ms); ${rows.rows} rows in the window, ${rows.unsealed} of them in no sealed minute, ${rows.liveCountRows} live count rows`,
  );
  return result;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'report-under-load-'));
  const server = await startAccountsManager({ databaseUrl, env: { LOG_LEVEL: 'warn' } });
  const client = new AccountsServiceClient(server.address, credentials.createInsecure());
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await ensureReportData(databaseUrl, { hot: Number(options.hot), archived: 0 }, say);
    // What the service's own timer has long done in steady state: seal the seed's finished minutes.
    for (let i = 0; i < 2; i++) await maintainReportCounts(db, new Date(Date.now() - WINDOW_MS - 3_600_000));
    const accounts = accountsFile(work, 'load', await fundedAccounts(databaseUrl, ACCOUNTS, 'report under load'));
    const startedAt = Date.now();
    const samples = [await sample(client, db, 'before the load', startedAt)];
    const durationMs = Number(options.minutes) * 60_000;
    const load = runLoad(
      {
        address: server.address,
        mode: 'transfer',
        callers: Number(options.callers),
        warmupMs: 0,
        durationMs,
        accountsFile: accounts,
        cpu: { pids: {}, database: null },
      },
      work,
    );
    const endsAt = Date.now() + durationMs;
    while (Date.now() + Number(options.every) * 1000 < endsAt) {
      await new Promise((resolve) => setTimeout(resolve, Number(options.every) * 1000));
      samples.push(await sample(client, db, `Transfer ×${options.callers}`, startedAt));
    }
    const loaded = await load;
    say(`the load: ${loaded.rps} transfers/s for ${options.minutes} min`);
    samples.push(await sample(client, db, 'after the load', startedAt));
    console.log(JSON.stringify({ callers: Number(options.callers), transfersPerSecond: loaded.rps, samples }));
  } finally {
    client.close();
    await db.end();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`[report-under-load] failed: ${error.stack ?? error}`);
  process.exitCode = 1;
});
