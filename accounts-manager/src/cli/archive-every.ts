/**
 * `transactions:archive --every=<duration>`: the archive as a job that keeps
 * running (docker-compose.yml's `ledger-archive` service) rather than a cron
 * line. Each run is the one-off command's, from the top: the horizon read
 * again, the days no report can reach moved, the retention applied.
 *
 * - A run that fails (the database restarting, a lock held too long) is tried
 *   again after RETRY_AFTER_FAILURE_MS, or after the interval if that is shorter.
 * - A run that is refused (the configuration, the export directory) ends the
 *   job with exit 2: the next run would be refused too. Compose starts it again
 *   with Docker's back-off, each start saying why, and LedgerArchiveOverdue
 *   fires once the days it should have moved pile up.
 * - SIGTERM or SIGINT: a run in progress finishes (each day moves in one short
 *   transaction, and a killed run is safe anyway: the next finishes its work),
 *   then the job exits 0; while it waits, it exits at once.
 */

/** How soon a failed run is tried again (unless the interval is shorter). */
export const RETRY_AFTER_FAILURE_MS = 5 * 60_000;

/** Runs `runOnce` now and every `everyMs` until a signal; resolves to the exit code. */
export async function archiveEvery(
  everyMs: number,
  runOnce: () => Promise<void>,
  isRefusal: (error: unknown) => boolean,
): Promise<number> {
  let stopping = false;
  let wake = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    while (!stopping) {
      let waitMs = everyMs;
      try {
        await runOnce();
      } catch (error) {
        const message = (error as Error).message;
        if (isRefusal(error)) {
          console.error(`transactions:archive refused: ${message}`);
          return 2;
        }
        waitMs = Math.min(everyMs, RETRY_AFTER_FAILURE_MS);
        console.error(`transactions:archive failed: ${message}; trying again in ${waitMs / 1000} s`);
      }
      if (stopping) break;
      console.log(`transactions:archive: next run at ${new Date(Date.now() + waitMs).toISOString()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    console.log('transactions:archive: stopped');
    return 0;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
