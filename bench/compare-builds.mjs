// A/B of accounts-manager builds: CPU per call and memory, side by side.
//
//   node bench/compare-builds.mjs --build A=/path/to/worktree-a --build B=/path/to/worktree-b \
//        [--callers 32] [--seconds 8] [--rounds 3] [--mode transfer|bank|batch] [--batch-size 100] [--db-suffix _x]
//        [--env KEY=VALUE] [--build-env B:KEY=VALUE] [--build-client B:grpc-js] [--heap] [--accounts 10]
//
// Each build's accounts-manager (its own dist/, already built) runs at the
// same time on its own fresh database with 10 000 funded accounts (--accounts); the load
// (bench/load.mjs) then alternates between them, round after round, so both
// see the same machine. On a shared, noisy machine a difference is only
// believable when it holds in every round: this prints each round, then the
// medians. Logs go to a pipe this process reads and drops (as a log shipper
// would), at the level each build defaults to. Each build runs with
// accounts-manager's heap settings (scripts/service-runtime.mjs: NODE_OPTIONS
// and node's own arguments); NODE_OPTIONS from --build-env and flags from
// --build-arg come after ours and win, MALLOC_ARENA_MAX from --build-env replaces ours.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  accountsFile,
  databaseUrlOf,
  dropDatabase,
  fundedAccounts,
  runLoad,
  startAccountsManager,
} from './accounts-runner.mjs';
import { freePort } from './ports.mjs';
import { describeCpuPerCall, rssMiB, sampleMemory } from './processes.mjs';

const { values: options } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    callers: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'transfer' },
    // In --mode batch: transfers per BatchTransfer.
    'batch-size': { type: 'string', default: '100' },
    // How many funded accounts the load picks from (10: the hot-accounts case).
    accounts: { type: 'string', default: '10000' },
    'db-suffix': { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
    // name:KEY=VALUE, for one build only (e.g. B:NODE_OPTIONS=--max-semi-space-size=16).
    'build-env': { type: 'string', multiple: true, default: [] },
    // name:--node-flag, for one build only (e.g. B:--max-semi-space-size=16).
    'build-arg': { type: 'string', multiple: true, default: [] },
    // name:grpc-js (or name:http2) — drive this build through the generated grpc-js client (or bench/h2-unary.mjs)
    // instead of bench/h2-frames.mjs.
    'build-client': { type: 'string', multiple: true, default: [] },
    // Also serve /metrics and print the V8 heap after each round (what the RSS is made of).
    heap: { type: 'boolean', default: false },
    // Keep each build's stdout (its logs) in DIR/<name>.log instead of dropping it.
    'keep-output': { type: 'string' },
  },
});
const say = (text) => console.log(`[compare] ${text}`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const builds = options.build.map((spec) => {
    const [name, root] = spec.split('=');
    return { name, root, db: `alfabet_accounts_compare_${name.toLowerCase()}${options['db-suffix']}` };
  });
  const work = mkdtempSync(join(tmpdir(), 'alfabet-compare-'));
  try {
    for (const build of builds) await start(build, work);
    const rounds = Number(options.rounds);
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? builds : [...builds].reverse();
      for (const build of order) {
        const result = await load(build, work);
        build.results = [...(build.results ?? []), result];
        say(
          `round ${round} ${build.name}: ${result.rps}/s p99 ${result.p99Ms} ms; CPU per call: ${describeCpuPerCall(result.cpuMicrosPerCall)}; RSS peak ${result.memory.peakMiB} MiB`,
        );
        if (options.heap) say(`  heap ${build.name}: ${await heapOf(build)}`);
      }
    }
    for (const build of builds) {
      const pick = (f) => median(build.results.map(f));
      say(
        `${build.name} (median of ${rounds}): ${pick((r) => r.rps)}/s; accounts-manager ${pick((r) => r.cpuMicrosPerCall.accountsManager)} µs/call, PostgreSQL backends ${pick((r) => r.cpuMicrosPerCall.postgresBackends)} µs/call; RSS peak ${pick((r) => r.memory.peakMiB)} MiB, now ${Math.round(rssMiB(build.server.pid))} MiB`,
      );
    }
  } finally {
    for (const build of builds) await build.server?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The V8 heap as prom-client's default metrics report it, in MiB. */
async function heapOf(build) {
  const text = await (await fetch(`http://127.0.0.1:${build.metricsPort}/metrics`)).text();
  const mib = (pattern) =>
    text
      .split('\n')
      .filter((line) => pattern.test(line))
      .map(
        (line) =>
          `${line
            .replace(/\{service="[^"]*",?/, '{')
            .split(' ')[0]
            .replace('nodejs_', '')} ${Math.round(Number(line.split(' ').pop()) / 2 ** 20)}`,
      )
      .join(', ');
  return mib(
    /^nodejs_(heap_size_total_bytes|heap_size_used_bytes|external_memory_bytes|heap_space_size_total_bytes)|^process_resident_memory_bytes/,
  );
}

async function start(build, work) {
  await dropDatabase(build.db);
  const own = (flag) =>
    options[flag].filter((spec) => spec.startsWith(`${build.name}:`)).map((spec) => spec.slice(build.name.length + 1));
  const env = Object.fromEntries(
    [...options.env, ...own('build-env')].map((pair) => [pair.split('=')[0], pair.slice(pair.indexOf('=') + 1)]),
  );
  build.client = own('build-client')[0]; // none: load.mjs's default
  if (options.heap) env.ACCOUNTS_METRICS_ADDR = `127.0.0.1:${(build.metricsPort = await freePort())}`;
  const databaseUrl = databaseUrlOf(build.db);
  build.server = await startAccountsManager({
    databaseUrl,
    root: build.root,
    env,
    nodeArgs: own('build-arg'),
    onOutput: options['keep-output']
      ? (stdout) => stdout.pipe(createWriteStream(join(options['keep-output'], `${build.name}.log`)))
      : undefined,
  });
  build.accountsFile = accountsFile(work, build.name, await fundedAccounts(databaseUrl, Number(options.accounts)));
  say(`${build.name}: ${build.root} on ${build.server.address}, database ${build.db}`);
}

async function load(build, work) {
  const memory = sampleMemory({ accounts: build.server.pid });
  const result = await runLoad(
    {
      address: build.server.address,
      mode: options.mode,
      callers: Number(options.callers),
      warmupMs: 1_000,
      durationMs: Number(options.seconds) * 1000,
      accountsFile: build.accountsFile,
      repeatRatio: 0.1,
      batchSize: Number(options['batch-size']),
      client: build.client,
      cpu: { pids: { accountsManager: build.server.pid }, database: build.db },
    },
    work,
  );
  return { ...result, memory: memory.stop().accounts };
}

main().catch((error) => {
  console.error(`[compare] failed: ${error.stack ?? error}`);
  process.exitCode = 1;
});
