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
 */
export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  stop(): Promise<void>;
}

export const SEARCH_ATTRIBUTES = ['AdvanceAccountId=Keyword', 'AdvanceStatus=Keyword'];
const READY_TIMEOUT_MS = 60_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
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
  const child: ChildProcess = spawn(cli, [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--db-filename', join(stateDir, 'temporal.db'), '--log-level', 'error',
    ...SEARCH_ATTRIBUTES.flatMap((attribute) => ['--search-attribute', attribute]),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => { stderr = (stderr + String(chunk)).slice(-4_000); });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited early: ${stderr}`);
    const ok = await fetch(`${uiUrl}/api/v1/namespaces/default`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`temporal dev server not ready: ${stderr}`); }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  return {
    address: `127.0.0.1:${port}`,
    uiUrl,
    namespace: 'default',
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
