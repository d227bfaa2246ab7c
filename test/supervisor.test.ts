import { spawn } from 'node:child_process';
import {
  BACKOFF_WINDOW_MS,
  CRASH_LIMIT,
  CRASH_WINDOW_MS,
  RESTART_DELAY_FIRST_MS,
  RESTART_DELAY_MAX_MS,
  describeExit,
  restartPolicy,
  supervise,
} from '../scripts/supervisor.mjs';

/**
 * The restart logic of `npm start` (scripts/supervisor.mjs) on its own: the
 * backoff and give-up decisions on a made-up clock, then the supervisor
 * driving stand-in processes (real child processes that exit on cue).
 * test/stack-heal.test.ts runs it for real under the whole stack.
 */

type Exit = { code: number | null; signal: string | null; error?: Error };

describe('restartPolicy', () => {
  it('waits 0.5 s, then doubles the delay with each crash, and gives up at the 5th crash within 60 s', () => {
    expect([RESTART_DELAY_FIRST_MS, CRASH_LIMIT, CRASH_WINDOW_MS]).toEqual([500, 5, 60_000]);
    const policy = restartPolicy();
    const decisions = [0, 1_000, 3_000, 6_000, 11_000].map((at) => policy.crashed(at));
    expect(decisions).toEqual([
      { giveUp: false, restart: 1, delayMs: 500 },
      { giveUp: false, restart: 2, delayMs: 1_000 },
      { giveUp: false, restart: 3, delayMs: 2_000 },
      { giveUp: false, restart: 4, delayMs: 4_000 },
      { giveUp: true, crashes: 5 },
    ]);
  });

  it('gives up only on a burst: crashes spread out are restarted for ever, the delay growing to its cap', () => {
    expect([RESTART_DELAY_MAX_MS, BACKOFF_WINDOW_MS]).toEqual([8_000, 600_000]);
    // A crash every 20 s: never 5 within 60 s, so never given up; each waits longer, up to 8 s.
    const steady = restartPolicy();
    const decisions = Array.from({ length: 8 }, (_, i) => steady.crashed(i * 20_000));
    expect(decisions.map((d) => (d.giveUp ? 'gave up' : d.delayMs))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000,
    ]);
    expect(decisions.at(-1)).toEqual({ giveUp: false, restart: 8, delayMs: RESTART_DELAY_MAX_MS });
  });

  it('forgets crashes: the burst after a minute, the backoff after ten quiet minutes', () => {
    const policy = restartPolicy();
    for (const at of [0, 1_000, 2_000, 3_000]) policy.crashed(at);
    // Four crashes a minute ago are no burst any more, but this restart still waits as the fifth recent crash.
    expect(policy.crashed(63_000)).toEqual({ giveUp: false, restart: 5, delayMs: 8_000 });
    // Ten minutes without a crash: back to the first delay.
    expect(policy.crashed(63_000 + BACKOFF_WINDOW_MS)).toEqual({ giveUp: false, restart: 6, delayMs: 500 });
  });
});

it('describes an exit the way the log line says it', () => {
  expect(describeExit({ code: 1, signal: null })).toBe('exited with code 1');
  expect(describeExit({ code: null, signal: 'SIGKILL' })).toBe('killed by SIGKILL');
  expect(describeExit({ code: null, signal: null, error: new Error('spawn nope ENOENT') })).toBe(
    'could not start (spawn nope ENOENT)',
  );
});

describe('supervise, with stand-in processes', () => {
  const FAST = { firstDelayMs: 20, maxDelayMs: 80 };

  /** A real child process that exits with `code` after `afterMs`, or lives until killed. */
  function standIn(code: number | null, afterMs = 0) {
    const script =
      code === null ? 'setInterval(() => {}, 1000)' : `setTimeout(() => process.exit(${code}), ${afterMs})`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const exited = new Promise<Exit>((resolve) =>
      child.once('exit', (exitCode, signal) => resolve({ code: exitCode, signal })),
    );
    return { child, exited };
  }

  it('restarts a process that dies, with the delay and restart number in the log, until one stays up', async () => {
    const lines: string[] = [];
    const launches: number[] = [];
    // Dies twice (exit 3, then SIGKILLed from outside), then stays up.
    const supervisor = supervise({
      name: 'svc',
      launch: ({ restart }: { restart: number }) => {
        launches.push(restart);
        const process = standIn(restart === 0 ? 3 : null);
        if (restart === 1) setTimeout(() => process.child.kill('SIGKILL'), 50);
        return process;
      },
      log: (line: string) => lines.push(line),
      onGiveUp: () => lines.push('gave up'),
      policy: restartPolicy(FAST),
    });
    await until(() => launches.length === 3);
    expect(launches).toEqual([0, 1, 2]);
    expect(lines).toEqual([
      'svc exited with code 3; restart 1 in 0.02 s',
      'svc killed by SIGKILL; restart 2 in 0.04 s',
    ]);
    const third = supervisor.current!;
    supervisor.stop();
    third.child.kill('SIGTERM');
    await third.exited;
    await sleep(100);
    expect(launches).toEqual([0, 1, 2]); // an exit after stop() is not a crash
    expect(lines).toHaveLength(2);
  });

  it('gives up on a process that crashes every time, says why, and starts nothing more', async () => {
    const lines: string[] = [];
    let launches = 0;
    const gaveUp = new Promise<string>((resolve) =>
      supervise({
        name: 'loop',
        launch: () => {
          launches += 1;
          return standIn(1);
        },
        log: (line: string) => lines.push(line),
        onGiveUp: resolve,
        policy: restartPolicy(FAST),
      }),
    );
    expect(await gaveUp).toBe('loop exited with code 1: 5 crashes within 60 s, giving up');
    await sleep(300);
    expect(launches).toBe(CRASH_LIMIT);
    expect(lines).toEqual([
      'loop exited with code 1; restart 1 in 0.02 s',
      'loop exited with code 1; restart 2 in 0.04 s',
      'loop exited with code 1; restart 3 in 0.08 s',
      'loop exited with code 1; restart 4 in 0.08 s',
      'loop exited with code 1: 5 crashes within 60 s, giving up',
    ]);
  });

  it('stop() cancels a restart that is waiting for its delay', async () => {
    let launches = 0;
    const supervisor = supervise({
      name: 'svc',
      launch: () => {
        launches += 1;
        return standIn(1);
      },
      log: () => undefined,
      onGiveUp: () => undefined,
      policy: restartPolicy({ firstDelayMs: 300 }),
    });
    await supervisor.current!.exited;
    await sleep(20);
    supervisor.stop();
    await sleep(500);
    expect(launches).toBe(1);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
