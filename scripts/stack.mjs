// `npm start`: the whole stack on one machine, in dependency order.
//
//   Temporal dev server (+ Web UI) → accounts-manager → advances API → advances worker
//
// Each process starts only once the one before it is healthy; every log line
// is prefixed with the process's name (pino JSON is rendered as one readable
// line). A process that dies is started again with backoff, and the stack
// gives up (stops everything, exit 1) only on a crash loop — see
// scripts/supervisor.mjs. Ctrl-C (or SIGTERM) stops everything in reverse
// order, waiting for each to drain, and leaves no process behind. A port
// already taken is reported before anything starts. scripts/run.sh has built
// the code and put Node 24 and the Temporal CLI on PATH before this runs.
import { spawn } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ACCOUNTS_NODE_ARGS, ACCOUNTS_NODE_OPTIONS, serviceEnv } from './service-runtime.mjs';
import { healthCheck } from './stack-health.mjs';
import { supervise } from './supervisor.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
// Where the Temporal dev server keeps its state (gitignored); tests point it elsewhere.
const DATA_DIR = process.env.ALFABET_DATA_DIR ?? join(ROOT, '.data');
const STOP_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 90_000;
/** With LOG_LEVEL above info the worker never prints 'worker running': taken as up once it has lived this long. */
const QUIET_WORKER_READY_MS = 10_000;

const env = process.env;
const hostPort = (value) => {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
};
const temporalAddress = hostPort(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233');
const temporalUiPort = Number(env.TEMPORAL_UI_PORT ?? temporalAddress.port + 1000);
const accountsAddress = env.ACCOUNTS_GRPC_ADDR ?? '127.0.0.1:50051';
const advancesAddress = env.ADVANCES_GRPC_ADDR ?? '127.0.0.1:50052';
const WORKER_LOGS_INFO = ['', 'trace', 'debug', 'info'].includes(env.LOG_LEVEL ?? '');

/** Search attributes ops filter advances by in the Web UI (registered at dev-server start). */
const SEARCH_ATTRIBUTES = ['AdvanceAccountId=Keyword', 'AdvanceStatus=Keyword'];

/** @typedef {{ name: string, command: string, args: string[], nodeOptions?: string, ports: { port: number, host: string, what: string, variable: string }[], ready: (launched: Launched) => Promise<boolean>, readyLine?: string, optional?: string }} ProcessSpec */
/** @typedef {{ child: import('node:child_process').ChildProcess, exited: Promise<{ code: number | null, signal: string | null, error?: Error }>, readyLineSeen: boolean, startedAtMs: number }} Launched */

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
    args: [...ACCOUNTS_NODE_ARGS, join(ROOT, 'accounts-manager/dist/src/main.js')],
    nodeOptions: ACCOUNTS_NODE_OPTIONS,
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
    // It serves nothing (it polls Temporal): it is ready once it says so — or,
    // when LOG_LEVEL hides its info lines, once it has run for a while.
    ready: async (launched) =>
      WORKER_LOGS_INFO ? launched.readyLineSeen : Date.now() - launched.startedAtMs >= QUIET_WORKER_READY_MS,
    readyLine: 'worker running',
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
// The stack's own lines carry the time too, as the services' do: when did it crash, when was it back.
const say = (text) => process.stdout.write(`${prefix('stack', 4)} ${new Date().toISOString().slice(11, 19)} ${text}\n`);

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

/** @type {{ spec: ProcessSpec, supervisor: ReturnType<typeof supervise> }[]} */
const supervised = [];
let stopping = false;

/** Signals a process's whole group (it runs detached, as its own group); false when it is gone. */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Spawns one process of the stack, its output prefixed with its name; `exited` resolves once it is gone. */
function launch(spec, index, restart) {
  const child = spawn(spec.command, spec.args, {
    cwd: ROOT,
    // Our Node services with their heap and malloc settings (scripts/service-runtime.mjs); Temporal as it is.
    env: { ...(spec.command === process.execPath ? serviceEnv(env, spec.nodeOptions) : env), FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a stop reaches everything it started
  });
  /** @type {Launched} */
  const launched = { child, exited: null, readyLineSeen: false, startedAtMs: Date.now() };
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (spec.readyLine && line.includes(spec.readyLine)) launched.readyLineSeen = true;
      process.stdout.write(`${prefix(spec.name, index)} ${readable(line)}\n`);
    });
  }
  launched.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      signalGroup(child, 'SIGKILL'); // whatever it started dies with it, so a restart finds its ports free
      resolve({ code, signal });
    });
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  if (restart > 0) void sayWhenBackUp(spec, launched, restart);
  return launched;
}

async function sayWhenBackUp(spec, launched, restart) {
  let gone = false;
  void launched.exited.then(() => (gone = true));
  if (
    await waitUntilReady(
      spec,
      () => launched,
      () => gone,
    )
  )
    say(`${spec.name} is up again (restart ${restart})`);
}

/** Starts `spec` under a supervisor: restarted when it dies, the stack stopped when it crash-loops. */
function startSupervised(spec, index) {
  const supervisor = supervise({
    name: spec.name,
    launch: ({ restart }) => launch(spec, index, restart),
    log: say,
    onGiveUp: () => void stopAll(1),
  });
  supervised.push({ spec, supervisor });
  return supervisor;
}

/** True once `spec` is ready (its process as `current()` returns it), false on a timeout, a stop or `abandoned()`. */
async function waitUntilReady(spec, current, abandoned = () => false) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (stopping || abandoned()) return false;
    if (await spec.ready(current()).catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return false;
}

/** Stops one process and waits for it: SIGTERM (it drains), SIGKILL after STOP_TIMEOUT_MS. */
async function stopProcess(spec, { child, exited }) {
  signalGroup(child, 'SIGTERM'); // (nothing to signal when it is already gone, waiting for a restart)
  const timer = setTimeout(() => {
    say(`${spec.name} did not stop within ${STOP_TIMEOUT_MS / 1000}s; killing it`);
    signalGroup(child, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  // No restarts from here on, whichever process exits next.
  for (const { supervisor } of supervised) supervisor.stop();
  say('stopping (reverse order, each drains first)…');
  for (const { spec, supervisor } of [...supervised].reverse()) {
    if (supervisor.current) await stopProcess(spec, supervisor.current);
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
    const supervisor = startSupervised(spec, index);
    if (!(await waitUntilReady(spec, () => supervisor.current))) {
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
