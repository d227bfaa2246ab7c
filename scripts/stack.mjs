// `npm start`: the whole stack on one machine, in dependency order.
//
//   Temporal dev server (+ Web UI) → accounts-manager → advances API → advances worker
//
// Each process starts only once the one before it is healthy; every log line
// is prefixed with the process's name (pino JSON is rendered as one readable
// line); Ctrl-C (or SIGTERM) stops everything in reverse order, waiting for
// each to drain, and leaves no process behind. A port already taken is
// reported before anything starts. scripts/run.sh has built the code and put
// Node 24 and the Temporal CLI on PATH before this runs.
import { spawn } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { healthCheck } from './stack-health.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
// Where the Temporal dev server keeps its state (gitignored); tests point it elsewhere.
const DATA_DIR = process.env.ALFABET_DATA_DIR ?? join(ROOT, '.data');
const STOP_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 90_000;

const env = process.env;
const hostPort = (value) => {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
};
const temporalAddress = hostPort(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233');
const temporalUiPort = Number(env.TEMPORAL_UI_PORT ?? temporalAddress.port + 1000);
const accountsAddress = env.ACCOUNTS_GRPC_ADDR ?? '127.0.0.1:50051';
const advancesAddress = env.ADVANCES_GRPC_ADDR ?? '127.0.0.1:50052';

/** Search attributes ops filter advances by in the Web UI (registered at dev-server start). */
const SEARCH_ATTRIBUTES = ['AdvanceAccountId=Keyword', 'AdvanceStatus=Keyword'];

/** @typedef {{ name: string, command: string, args: string[], ports: { port: number, host: string, what: string, variable: string }[], ready: () => Promise<boolean>, optional?: string }} ProcessSpec */

/** @type {ProcessSpec[]} */
const PROCESSES = [
  {
    name: 'temporal',
    command: env.TEMPORAL_CLI ?? 'temporal',
    args: [
      'server',
      'start-dev',
      '--ip',
      temporalAddress.host,
      '--port',
      String(temporalAddress.port),
      '--ui-port',
      String(temporalUiPort),
      // Kept in a file so workflows survive a restart of the stack.
      '--db-filename',
      join(DATA_DIR, 'temporal', 'temporal.db'),
      // WAL with synchronous=normal: safe across crashes of the process, and
      // ~1.5× the workflow throughput of SQLite's default rollback journal
      // (measured by the advances benchmark's anchor on a 2-core machine).
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=normal',
      '--namespace',
      env.TEMPORAL_NAMESPACE ?? 'default',
      '--log-level',
      'error',
      ...SEARCH_ATTRIBUTES.flatMap((attribute) => ['--search-attribute', attribute]),
    ],
    ports: [
      { ...temporalAddress, what: 'Temporal frontend', variable: 'TEMPORAL_ADDRESS' },
      { host: temporalAddress.host, port: temporalUiPort, what: 'Temporal Web UI', variable: 'TEMPORAL_UI_PORT' },
    ],
    ready: async () =>
      (await fetch(`http://${temporalAddress.host}:${temporalUiPort}/api/v1/namespaces`).catch(() => null))?.ok ===
      true,
  },
  {
    name: 'accounts',
    command: process.execPath,
    args: [join(ROOT, 'accounts-manager/dist/src/main.js')],
    ports: [{ ...hostPort(accountsAddress), what: 'accounts-manager gRPC', variable: 'ACCOUNTS_GRPC_ADDR' }],
    ready: () => healthCheck(accountsAddress, 'alfabet.accounts.v1.AccountsService'),
  },
  {
    name: 'advances',
    command: process.execPath,
    args: [join(ROOT, 'advances/dist/src/main-api.js')],
    ports: [{ ...hostPort(advancesAddress), what: 'advances gRPC', variable: 'ADVANCES_GRPC_ADDR' }],
    ready: () => healthCheck(advancesAddress, 'alfabet.advances.v1.AdvancesService'),
    optional: join(ROOT, 'advances/dist/src/main-api.js'),
  },
  {
    name: 'worker',
    command: process.execPath,
    args: [join(ROOT, 'advances/dist/src/main-worker.js')],
    ports: [],
    ready: async () => true, // the worker logs "worker running" itself; it polls, it serves nothing
    optional: join(ROOT, 'advances/dist/src/main-worker.js'),
  },
];

const COLORS = [36, 33, 35, 32, 34];
const useColor = process.stdout.isTTY;
const width = Math.max(...PROCESSES.map((p) => p.name.length), 5);
const prefix = (name, index) => {
  const label = name.padEnd(width);
  return useColor ? `\x1b[${COLORS[index % COLORS.length]}m${label} |\x1b[0m` : `${label} |`;
};
const say = (text) => process.stdout.write(`${prefix('stack', 4)} ${text}\n`);

const LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Renders a pino JSON line as `HH:MM:SS level msg key=value…`; other lines pass through. */
function readable(line) {
  if (!line.startsWith('{')) return line;
  try {
    const { level, time, msg, service, pid, hostname, ...rest } = JSON.parse(line);
    const clock =
      typeof time === 'string' ? time.slice(11, 19) : new Date(time ?? Date.now()).toISOString().slice(11, 19);
    const fields = Object.entries(rest).map(
      ([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : value}`,
    );
    return [clock, LEVELS[level] ?? level, msg, ...fields].join(' ');
  } catch {
    return line;
  }
}

/** Resolves to the first port of the list that is taken, or null. */
async function firstTakenPort(ports) {
  for (const entry of ports) {
    const free = await new Promise((resolve) => {
      const probe = createServer()
        .once('error', () => resolve(false))
        .once('listening', () => probe.close(() => resolve(true)));
      probe.listen(entry.port, entry.host);
    });
    if (!free) return entry;
  }
  return null;
}

const running = []; // { spec, child, exited: Promise<number|null> }
let stopping = false;

function start(spec, index) {
  const child = spawn(spec.command, spec.args, {
    cwd: ROOT,
    env: { ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a stop reaches everything it started
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) =>
      process.stdout.write(`${prefix(spec.name, index)} ${readable(line)}\n`),
    );
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  void exited.then((how) => {
    if (!stopping) {
      say(`${spec.name} exited unexpectedly (${how}); stopping the stack`);
      void stopAll(1);
    }
  });
  child.once('error', (error) => {
    say(`${spec.name} could not start: ${error.message}`);
    void stopAll(1);
  });
  running.push({ spec, child, exited });
}

async function waitUntilReady(spec) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (stopping) return false;
    if (await spec.ready().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  say('stopping (reverse order, each drains first)…');
  for (const { spec, child, exited } of [...running].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      say(`${spec.name} did not stop within ${STOP_TIMEOUT_MS / 1000}s; killing it`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    say(`${spec.name} stopped`);
  }
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
// Whoever reads our output went away (its terminal closed, a parent killed):
// the services run in process groups of their own, so stop them rather than orphan them.
process.stdout.on('error', () => void stopAll(1));
process.on('uncaughtException', (error) => {
  try {
    say(`failed: ${error?.stack ?? error}`);
  } catch {
    /* stdout is gone */
  }
  void stopAll(1);
});

async function main() {
  mkdirSync(join(DATA_DIR, 'temporal'), { recursive: true });
  const specs = PROCESSES.filter((spec) => !spec.optional || existsSync(spec.optional));
  for (const skipped of PROCESSES.filter((spec) => !specs.includes(spec)))
    say(`${skipped.name}: not built in this checkout, skipped`);

  const taken = await firstTakenPort(specs.flatMap((spec) => spec.ports));
  if (taken) {
    say(`port ${taken.port} on ${taken.host} (${taken.what}) is already in use.`);
    say(`Stop whatever holds it (see: ss -ltnp 'sport = :${taken.port}') or choose another with ${taken.variable}.`);
    process.exit(1);
  }

  for (const [index, spec] of specs.entries()) {
    say(`starting ${spec.name}…`);
    start(spec, index);
    if (!(await waitUntilReady(spec))) {
      if (!stopping) say(`${spec.name} did not become healthy within ${READY_TIMEOUT_MS / 1000}s`);
      return stopAll(1);
    }
    say(`${spec.name} is up`);
  }
  say('the stack is up:');
  say(`  accounts-manager  grpcurl -plaintext ${accountsAddress} list`);
  if (specs.some((s) => s.name === 'advances')) say(`  advances          grpcurl -plaintext ${advancesAddress} list`);
  say(
    `  Temporal Web UI   http://${temporalAddress.host}:${temporalUiPort}/namespaces/${env.TEMPORAL_NAMESPACE ?? 'default'}/workflows`,
  );
  say('Ctrl-C stops everything.');
}

main().catch((error) => {
  say(`failed: ${error?.stack ?? error}`);
  void stopAll(1);
});
