import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, cleanUpStack, descendants, portFree, startStack, waitForOutput } from '../test-support/npm-start.js';
import { dropTestDatabase } from '../test-support/test-databases.js';
import { freePort } from '../test-support/temporal-dev-server.js';

/**
 * What a new user does after `npm start`: `npm run demo`, then Ctrl-C. The
 * stack (scripts/stack.mjs) runs here on free ports, its own databases and a
 * throwaway Temporal state file, with payments 1 s apart; the demo must tell
 * its whole story (a refused transfer, the report, a failed payment rolled
 * forward, the advance repaid) and Ctrl-C must leave no process behind.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const suffix = process.env.ALFABET_TEST_DB_SUFFIX ?? '';
const DATABASES = {
  accounts: `alfabet_accounts_stack_test${suffix}`,
  advances: `alfabet_advances_stack_test${suffix}`,
};
const STACK_UP_TIMEOUT_MS = 150_000;

function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const demo = spawn(process.execPath, [join(ROOT, 'scripts/demo.mjs')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout.on('data', (chunk) => {
      output += String(chunk);
    });
    demo.stderr.on('data', (chunk) => {
      output += String(chunk);
    });
    demo.once('exit', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  await dropTestDatabase(DATABASES.accounts);
  await dropTestDatabase(DATABASES.advances);
});

test('npm run demo tells its story against the stack, and Ctrl-C stops every process', async () => {
  const stack = await startStack(DATABASES);
  try {
    await waitForOutput(stack, 'the stack is up', STACK_UP_TIMEOUT_MS);
    const children = descendants(stack.child.pid!).map(({ pid }) => pid);
    expect(children.length).toBeGreaterThanOrEqual(4); // temporal, accounts, advances, worker

    const demo = await runDemo(stack.env);
    expect({ code: demo.code, output: demo.output }).toEqual({ code: 0, output: expect.any(String) });
    expect(demo.output).toMatch(/Bob → Alice\s+999\.00: transfer 999\.00 FAILED — /);
    expect(demo.output).toMatch(/page 1\/2 \(3 in the snapshot\)[\s\S]*page 2\/2 \(3 in the snapshot\)/);
    expect(demo.output).toMatch(
      /payment (\d+) of 10\.00: FAILED \(FAILURE_REASON_INSUFFICIENT_FUNDS\), rolled into payment \d+/,
    );
    expect(demo.output).toMatch(/payment \d+ is now 20\.00/);
    expect(demo.output).toContain('paid 120.00 of 120.00; outstanding 0.00');
    expect(demo.output).toMatch(/http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/advance-[0-9a-f-]{36}/);
    // The payment table at the end: 11 paid, one failed and rolled forward.
    expect(demo.output.match(/ PAID$/gm)).toHaveLength(11);
    expect(demo.output.match(/FAILED, rolled into \d+$/gm)).toHaveLength(1);

    stack.child.kill('SIGINT'); // what Ctrl-C sends
    expect(await stack.exited).toBe(0);
    expect(stack.output()).toMatch(
      /worker stopped[\s\S]*advances stopped[\s\S]*accounts stopped[\s\S]*temporal stopped/,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(children.filter(alive)).toEqual([]);
    for (const port of stack.ports) expect(await portFree(port)).toBe(true);
  } finally {
    cleanUpStack(stack);
  }
}, 400_000);

test('the demo says how to start the stack when it is not running', async () => {
  const [accounts, advances] = [await freePort(), await freePort()];
  const demo = await runDemo({
    ...process.env,
    ACCOUNTS_GRPC_ADDR: `127.0.0.1:${accounts}`,
    ADVANCES_GRPC_ADDR: `127.0.0.1:${advances}`,
  });
  expect(demo.code).toBe(1);
  expect(demo.output).toContain('The stack is not running');
  expect(demo.output).toContain('ADVANCE_PAYMENT_INTERVAL=2s npm start');
});

test('a port already taken stops npm start before anything starts, naming the port and its variable', async () => {
  const holder: Server = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  const stack = await startStack(DATABASES, { ACCOUNTS_GRPC_ADDR: `127.0.0.1:${port}` });
  try {
    expect(await stack.exited).toBe(1);
    expect(stack.output()).toContain(`port ${port} on 127.0.0.1 (accounts-manager gRPC) is already in use`);
    expect(stack.output()).toContain('ACCOUNTS_GRPC_ADDR');
    expect(stack.output()).not.toContain('starting temporal');
  } finally {
    holder.close();
    cleanUpStack(stack);
  }
});
