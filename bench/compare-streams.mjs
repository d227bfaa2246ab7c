// A/B of accounts-manager builds streaming one report window: rows a second
// and CPU a row, side by side.
//
//   node bench/compare-streams.mjs --build A=/path/to/worktree-a --build B=/path/to/worktree-b \
//        [--database alfabet_accounts_bench_growth] [--rounds 3] [--page-size 1000] [--days 5] [--warm-up 1]
//
// Both builds' accounts-managers (each its own dist/, already built) run at the
// same time on the same seeded database — the growth benchmark's grown ledger
// by default (`npm run bench -- --only growth` seeds it; the next growth run seeds it again) —
// and stream its last `--days` days in turn (after `--warm-up` unmeasured
// streams each), round after round, alternating
// which goes first, through the benchmark's lean reader in a process of its
// own (bench/report-reader-process.mjs: rows counted, not decoded). On a
// shared, noisy machine a difference is only believable when it holds in
// every round: this prints each round, then the medians.
import { parseArgs } from 'node:util';
import { databaseUrlOf, startAccountsManager } from './accounts-runner.mjs';
import { cpuSample, cpuSecondsBetween } from './processes.mjs';
import { readReportInProcess } from './report-reader-process.mjs';

const { values: options } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    database: { type: 'string', default: 'alfabet_accounts_bench_growth' },
    rounds: { type: 'string', default: '3' },
    'page-size': { type: 'string', default: '1000' },
    days: { type: 'string', default: '5' },
    // Unmeasured streams through each build first: its code optimized, the window's pages in memory.
    'warm-up': { type: 'string', default: '1' },
  },
});
const say = (text) => console.log(`[compare-streams] ${text}`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const DAY_MS = 86_400_000;

async function main() {
  const builds = (options.build ?? []).map((spec) => {
    const [name, root] = spec.split('=');
    return { name, root, results: [] };
  });
  if (builds.length < 2) throw new Error('name two builds or more: --build A=<worktree> --build B=<worktree>');
  try {
    for (const build of builds) {
      build.server = await startAccountsManager({ databaseUrl: databaseUrlOf(options.database), root: build.root });
      say(`${build.name}: ${build.root} on ${build.server.address}, database ${options.database}`);
    }
    for (let i = 0; i < Number(options['warm-up']); i++) for (const build of builds) await stream(build);
    for (let round = 1; round <= Number(options.rounds); round++) {
      for (const build of round % 2 === 1 ? builds : [...builds].reverse()) {
        const result = await stream(build);
        build.results.push(result);
        say(
          `round ${round} ${build.name}: ${result.rows.toLocaleString('en')} rows at ${result.rowsPerSecond.toLocaleString('en')}/s; CPU a row: accounts-manager ${result.accountsManagerMicros} µs, PostgreSQL backends ${result.postgresMicros} µs`,
        );
      }
    }
    for (const build of builds) {
      const pick = (f) => median(build.results.map(f));
      say(
        `${build.name} (median of ${build.results.length}): ${pick((r) => r.rowsPerSecond).toLocaleString('en')} rows/s; accounts-manager ${pick((r) => r.accountsManagerMicros)} µs a row, PostgreSQL backends ${pick((r) => r.postgresMicros)} µs a row`,
      );
    }
  } finally {
    for (const build of builds) await build.server?.stop();
  }
}

/** One stream of the window through `build`'s server, with its CPU and its PostgreSQL backends'. */
async function stream(build) {
  const before = cpuSample({ accountsManager: build.server.pid }, options.database);
  const read = await readReportInProcess({
    address: build.server.address,
    startTimeMs: Date.now() - Number(options.days) * DAY_MS,
    pageSize: Number(options['page-size']),
    deadlineMs: 600_000,
    client: 'counted',
  });
  const cpu = cpuSecondsBetween(before, cpuSample({ accountsManager: build.server.pid }, options.database));
  const perRow = (seconds) => Math.round((seconds * 1e8) / read.rows) / 100;
  return {
    rows: read.rows,
    rowsPerSecond: Math.round(read.rows / read.seconds),
    accountsManagerMicros: perRow(cpu.accountsManager),
    postgresMicros: perRow(cpu.postgresBackends ?? 0),
  };
}

main().catch((error) => {
  console.error(`[compare-streams] failed: ${error.stack ?? error}`);
  process.exitCode = 1;
});
