import { createLogger as createServiceLogger, type Logger } from '@alfabet/service-kit/logger';
import type pino from 'pino';

export type { Logger };

/**
 * The ledger's JSON logger: the shared one, with the report's secrets and
 * tokens redacted so they never reach a log line.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return createServiceLogger(
    level,
    'accounts-manager',
    ['config.reportTokenSecret', 'snapshotToken', 'pageToken', '*.snapshotToken', '*.pageToken'],
    destination,
  );
}
