import { ConfigError } from './config-parsing.js';

/** The subset of a pino logger this module needs. */
interface LifecycleLogger {
  info(object: object | string, message?: string): void;
  error(object: object, message: string): void;
}

/**
 * Loads the configuration, or stops the process with exit code 2 and a
 * message naming every bad variable (never a stack trace for a config typo).
 */
export function loadConfigOrExit<C>(processName: string, load: () => C): C {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${processName}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * Keeps the process up until SIGTERM/SIGINT, then runs `stop` (drain, close)
 * once and exits 0, or 1 if the stop failed. A stop that hangs (a dependency
 * gone mid-close) is cut off after the drain's `shutdownGraceMs` plus
 * `closeMarginMs` for closing the rest: the process exits 1 rather than
 * lingering as an orphan.
 */
export function runUntilSignalled(
  log: LifecycleLogger,
  stop: () => Promise<void>,
  shutdownGraceMs: number,
  closeMarginMs = 10_000,
): void {
  const hardLimitMs = shutdownGraceMs + closeMarginMs;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight work');
    setTimeout(() => {
      log.error({ hardLimitMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, hardLimitMs).unref();
    stop().then(
      () => {
        log.info({}, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

/** The last word of a process that could not start. */
export function exitOnStartFailure(processName: string): (error: unknown) => never {
  return (error) => {
    process.stderr.write(`${processName} failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  };
}
