import { pino, type Logger } from 'pino';
import { currentRequestContext } from './request-context.js';

export type { Logger };

/**
 * Structured JSON logs, one line per event, with the service's name on each
 * and, inside a gRPC call, its correlation id and method. `redact` lists
 * paths holding secrets or tokens that must never reach a log line;
 * `destination` defaults to stdout (tests pass a stream they read).
 */
export function createLogger(
  level: string,
  service: string,
  redact: string[] = [],
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => currentRequestContext() ?? {},
      redact: ['*.password', '*.databaseUrl', 'config.databaseUrl', ...redact],
    },
    destination,
  );
}
