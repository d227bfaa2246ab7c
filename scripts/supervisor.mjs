// Keeps one process of `npm start` (scripts/stack.mjs) running: when it exits
// without being asked to, it is started again after a delay that doubles with
// each of its crashes in the last BACKOFF_WINDOW_MS (0.5 s, 1 s, 2 s … up to
// RESTART_DELAY_MAX_MS), and a process that crashes CRASH_LIMIT times within
// CRASH_WINDOW_MS is given up on — a crash loop (a bad setting, a port held by
// someone else) is not cured by starting it again, and a stack that looks up
// while one of its parts is not is worse than one that stops and says why.
//
// One job: deciding and scheduling restarts. Spawning, logging, readiness and
// stopping belong to the caller (scripts/stack.mjs), so this is tested on its
// own with stand-in processes and a made-up clock (test/supervisor.test.ts).

/** The first restart waits this long… */
export const RESTART_DELAY_FIRST_MS = 500;
/** …each further crash within BACKOFF_WINDOW_MS doubles it, up to this… */
export const RESTART_DELAY_MAX_MS = 8_000;
/** …and once a process has not crashed for this long, its next restart waits RESTART_DELAY_FIRST_MS again. */
export const BACKOFF_WINDOW_MS = 10 * 60_000;
/** This many crashes of one process within CRASH_WINDOW_MS: give up. */
export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 60_000;

/**
 * Decides, crash by crash, whether to start a process again and after how
 * long. The delay grows with the crashes of the last `backoffWindowMs`, so a
 * process that dies now and then is restarted at once while one that dies
 * every half minute is restarted at most every `maxDelayMs`; only a burst of
 * `crashLimit` crashes within `windowMs` gives up.
 *
 * @param {{ firstDelayMs?: number, maxDelayMs?: number, backoffWindowMs?: number, crashLimit?: number, windowMs?: number }} [limits]
 */
export function restartPolicy({
  firstDelayMs = RESTART_DELAY_FIRST_MS,
  maxDelayMs = RESTART_DELAY_MAX_MS,
  backoffWindowMs = BACKOFF_WINDOW_MS,
  crashLimit = CRASH_LIMIT,
  windowMs = CRASH_WINDOW_MS,
} = {}) {
  /** @type {number[]} times of the crashes still inside one of the windows, oldest first */
  const crashes = [];
  let restarts = 0;
  const crashesAfter = (fromMs) => crashes.filter((at) => at > fromMs).length;
  return {
    windowMs,
    /**
     * A crash at `nowMs`.
     * @returns {{ giveUp: false, restart: number, delayMs: number } | { giveUp: true, crashes: number }}
     */
    crashed(nowMs) {
      crashes.push(nowMs);
      while (crashes[0] <= nowMs - Math.max(windowMs, backoffWindowMs)) crashes.shift();
      const burst = crashesAfter(nowMs - windowMs);
      if (burst >= crashLimit) return { giveUp: true, crashes: burst };
      restarts += 1;
      const delayMs = Math.min(firstDelayMs * 2 ** (crashesAfter(nowMs - backoffWindowMs) - 1), maxDelayMs);
      return { giveUp: false, restart: restarts, delayMs };
    },
  };
}

/**
 * "exited with code 1", "killed by SIGKILL".
 * @param {{ code: number | null, signal: string | null, error?: Error }} exit
 */
export function describeExit({ code, signal, error }) {
  if (error) return `could not start (${error.message})`;
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

/**
 * Starts a process with `launch` and starts it again each time it exits while
 * not stopped, as `policy` decides, saying so through `log`; calls
 * `onGiveUp(reason)` once the policy gives up (and starts nothing more).
 *
 * `launch({ restart })` starts the process (`restart` is 0 the first time,
 * then 1, 2, …) and returns an object whose `exited` promise resolves with
 * `{ code, signal, error? }` when it is gone.
 *
 * @template {{ exited: Promise<{ code: number | null, signal: string | null, error?: Error }> }} P
 * @param {{
 *   name: string,
 *   launch: (attempt: { restart: number }) => P,
 *   log: (line: string) => void,
 *   onGiveUp: (reason: string) => void,
 *   policy?: ReturnType<typeof restartPolicy>,
 *   now?: () => number,
 * }} options
 */
export function supervise({ name, launch, log, onGiveUp, policy = restartPolicy(), now = Date.now }) {
  /** @type {P | null} */
  let current = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let pendingRestart = null;
  let stopped = false;

  const start = (restart) => {
    pendingRestart = null;
    current = launch({ restart });
    void current.exited.then((exit) => {
      if (!stopped) afterUnexpectedExit(exit);
    });
  };

  const afterUnexpectedExit = (exit) => {
    const decision = policy.crashed(now());
    const what = `${name} ${describeExit(exit)}`;
    if (decision.giveUp) {
      stopped = true;
      const reason = `${what}: ${decision.crashes} crashes within ${policy.windowMs / 1000} s, giving up`;
      log(reason);
      onGiveUp(reason);
      return;
    }
    log(`${what}; restart ${decision.restart} in ${decision.delayMs / 1000} s`);
    pendingRestart = setTimeout(() => start(decision.restart), decision.delayMs);
  };

  start(0);
  return {
    /** The process as last launched (it may have exited and be waiting for its restart). */
    get current() {
      return current;
    },
    /** No more restarts (a pending one is cancelled); stopping the process itself is the caller's. */
    stop() {
      stopped = true;
      if (pendingRestart) clearTimeout(pendingRestart);
      pendingRestart = null;
    },
  };
}
