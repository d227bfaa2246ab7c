import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { LedgerError } from '../ledger/errors.js';
import type { Logger } from '../logger.js';

const CODE_OF_KIND = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
} as const;

// node-postgres / PostgreSQL errors that mean "the database is not reachable
// right now": the caller may retry (with the same request_id).
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300']);
const TIMEOUT_CODES = new Set(['57014']); // statement_timeout / query_canceled

/**
 * Turns whatever a handler threw into a gRPC status. Caller mistakes keep
 * their message (it names the field); everything else is logged in full and
 * answered with a generic message, so internals never leak to clients.
 */
export function toServiceError(error: unknown, log: Logger, method: string): Partial<ServiceError> {
  if (error instanceof LedgerError) {
    const metadata = new Metadata();
    metadata.set('alfabet-error-field', error.field);
    return { code: CODE_OF_KIND[error.kind], details: error.message, metadata };
  }
  const code = (error as { code?: string }).code ?? '';
  if (UNAVAILABLE_CODES.has(code) || /Connection terminated|timeout exceeded when trying to connect/i.test(String((error as Error)?.message))) {
    log.warn({ err: error, method }, 'database unavailable');
    return { code: status.UNAVAILABLE, details: 'the ledger database is unavailable; retry with the same request_id' };
  }
  if (TIMEOUT_CODES.has(code)) {
    log.warn({ err: error, method }, 'statement timed out');
    return { code: status.DEADLINE_EXCEEDED, details: 'the ledger did not finish in time; retry with the same request_id' };
  }
  log.error({ err: error, method }, 'unexpected error');
  return { code: status.INTERNAL, details: 'internal error' };
}
