import type { Logger } from '@alfabet/proto/logger';
import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Sends the Temporal SDK's own log lines (worker state, activity failures,
 * core warnings) through our JSON logger, at `warn` and above, so one process
 * writes one log format. The Runtime is process-wide: call once, at start.
 */
export function routeTemporalSdkLogs(log: Logger): void {
  const sdk = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      const fields = { ...(meta ?? {}) };
      if (level === 'ERROR') sdk.error(fields, message);
      else sdk.warn(fields, message);
    }),
  });
}
