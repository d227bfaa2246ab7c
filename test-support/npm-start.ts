import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDatabaseUrl } from './test-databases.js';
import { freePort } from './temporal-dev-server.js';

/**
 * `npm start`'s orchestrator (scripts/stack.mjs) as the tests run it: on free
 * ports, databases of the test's own, a throwaway Temporal state folder and
 * the metrics endpoints off, its output collected.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Stack {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  env: NodeJS.ProcessEnv;
  /** Temporal frontend, Web UI, accounts-manager, advances. */
  ports: number[];
  /** Every process seen below the stack while it ran (sampled every PROCESS_SAMPLE_MS): none may outlive it. */
  processesSeen: () => number[];
}

const PROCESS_SAMPLE_MS = 250;

export async function startStack(
  databases: { accounts: string; advances: string },
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<Stack> {
  const [temporal, ui, accounts, advances] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ALFABET_DATA_DIR: mkdtempSync(join(tmpdir(), 'alfabet-stack-')),
    TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
    TEMPORAL_UI_PORT: String(ui),
    ACCOUNTS_GRPC_ADDR: `127.0.0.1:${accounts}`,
    ADVANCES_GRPC_ADDR: `127.0.0.1:${advances}`,
    ACCOUNTS_DATABASE_URL: testDatabaseUrl(databases.accounts),
    ADVANCES_DATABASE_URL: testDatabaseUrl(databases.advances),
    ACCOUNTS_METRICS_ADDR: 'off',
    ADVANCES_METRICS_ADDR: 'off',
    ADVANCES_WORKER_METRICS_ADDR: 'off',
    ADVANCES_TEMPORAL_METRICS_ADDR: 'off',
    ADVANCE_PAYMENT_INTERVAL: '1s',
    ...extraEnv,
  };
  const child = spawn(process.execPath, [join(ROOT, 'scripts/stack.mjs')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr!.on('data', (chunk) => {
    output += String(chunk);
  });
  const seen = new Set<number>();
  const sampler = setInterval(() => {
    for (const { pid } of descendants(child.pid!)) seen.add(pid);
  }, PROCESS_SAMPLE_MS);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearInterval(sampler);
      resolve(code);
    }),
  );
  return {
    child,
    output: () => output,
    exited,
    env,
    ports: [temporal, ui, accounts, advances],
    processesSeen: () => [...seen],
  };
}

/** Waits until the stack's output holds `text` (a failure quotes the output); fails early if the stack exits. */
export async function waitForOutput(stack: Stack, text: string | RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = () => (typeof text === 'string' ? stack.output().includes(text) : text.test(stack.output()));
  while (!seen()) {
    if (stack.child.exitCode !== null)
      throw new Error(`the stack exited (${stack.child.exitCode}) before "${text}":\n${stack.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${stack.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Every process below `pid`, with its command line (the stack's children run in their own process groups). */
export function descendants(pid: number): { pid: number; args: string }[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => {
      const [, child, parent, args] = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)!;
      return { pid: Number(child), ppid: Number(parent), args: args! };
    });
  const found: { pid: number; args: string }[] = [];
  const walk = (parent: number) => {
    for (const row of table)
      if (row.ppid === parent) {
        found.push({ pid: row.pid, args: row.args });
        walk(row.pid);
      }
  };
  walk(pid);
  return found;
}

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .once('listening', () => probe.close(() => resolve(true)));
    probe.listen(port, '127.0.0.1');
  });

/** After a test, whatever happened: no process of the stack survives, its state folder is gone. */
export function cleanUpStack(stack: Stack): void {
  const leftovers = new Set([...descendants(stack.child.pid!).map(({ pid }) => pid), ...stack.processesSeen()]);
  if (stack.child.exitCode === null) stack.child.kill('SIGKILL');
  for (const pid of leftovers)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  rmSync(stack.env.ALFABET_DATA_DIR!, { recursive: true, force: true });
}
