import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Temporal dev server (the CLI's `server start-dev`) with its Web UI,
 * on free loopback ports and a throwaway state file, for tests that need the
 * real thing rather than the time-skipping test server (the Web UI test, the
 * end-to-end tests). Stopped by `stop()`; the process is killed on exit too.
 * Fault-injection tests take it down and bring it back (`restart()`: same
 * ports, same state file, so its workflows survive) or freeze it (`freeze()`,
 * SIGSTOP: connections stay open, nothing is answered) until `thaw()`.
 */
export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  /**
   * Stops the server (SIGTERM), runs `whileDown` (what a test checks while
   * Temporal is gone), and starts it again on the same ports and state file.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing until `thaw()`. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

export const SEARCH_ATTRIBUTES = ['AdvanceAccountId=Keyword', 'AdvanceStatus=Keyword'];
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
  });
}

export async function startDevServer(): Promise<DevServer> {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('TEMPORAL_CLI is not set: run the tests through `npm test` (scripts/toolchain.sh sets it)');
  const [port, uiPort] = [await freePort(), await freePort()];
  const stateDir = mkdtempSync(join(tmpdir(), 'alfabet-temporal-'));
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  let child: ChildProcess;
  let stderr = '';
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function spawnReady(): Promise<void> {
    stderr = '';
    child = spawn(
      cli!,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--db-filename',
        join(stateDir, 'temporal.db'),
        '--log-level',
        'error',
        ...SEARCH_ATTRIBUTES.flatMap((attribute) => ['--search-attribute', attribute]),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (chunk) => {
      stderr = (stderr + String(chunk)).slice(-4_000);
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`temporal dev server exited early: ${stderr}`);
      const ok = await fetch(`${uiUrl}/api/v1/namespaces/default`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server not ready: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function terminate(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT'); // a frozen server would not act on SIGTERM
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exited,
      new Promise((resolve) => {
        timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer); // a pending timer would keep jest waiting after the last test
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  try {
    await spawnReady();
  } catch (error) {
    process.removeListener('exit', killOnExit);
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  return {
    address: `127.0.0.1:${port}`,
    uiUrl,
    namespace: 'default',
    async restart(whileDown) {
      await terminate();
      try {
        await whileDown?.();
      } finally {
        await spawnReady();
      }
    },
    freeze: () => {
      child.kill('SIGSTOP');
    },
    thaw: () => {
      child.kill('SIGCONT');
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      await terminate();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
