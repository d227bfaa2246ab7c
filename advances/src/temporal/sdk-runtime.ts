import type { Logger } from '@alfabet/service-kit/logger';
import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * The Temporal SDK's process-wide Runtime, installed once at worker start:
 *
 * - its own log lines (worker state, activity failures, core warnings) go
 *   through our JSON logger at `warn` and above, so the process writes one
 *   log format;
 * - the SDK core's worker metrics (task slots, poll and schedule-to-start
 *   latencies, sticky cache, workflow/activity completions) are served for
 *   Prometheus on `metricsAddress` (`/metrics`), next to our own.
 */
export function installTemporalRuntime(log: Logger, metricsAddress: string | null): void {
  const sdk = log.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      const fields = { ...(meta ?? {}) };
      if (level === 'ERROR') sdk.error(fields, message);
      else sdk.warn(fields, message);
    }),
    ...(metricsAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true } } } }
      : {}),
  });
}
