import { currentRequestContext } from '@alfabet/proto/request-context';
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs, one line per event, with the service's name on each
 * and, inside a gRPC call, its correlation id and method.
 */
export function createLogger(level: string, service = 'accounts-manager'): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => currentRequestContext() ?? {},
    // Secrets must never reach the logs, even by accident.
    redact: ['config.reportTokenSecret', 'config.databaseUrl', '*.password', 'snapshotToken', 'pageToken'],
  });
}
