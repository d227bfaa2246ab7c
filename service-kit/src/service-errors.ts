import { Metadata, status, type handleUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { FieldError } from './field-error.js';

/** The subset of a pino logger this module needs. */
interface ErrorLogger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** The trailer that names the request field an error is about, for programs (people read the message). */
export const ERROR_FIELD_METADATA_KEY = 'alfabet-error-field';

const CODE_OF_KIND = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
} as const;

// node-postgres / PostgreSQL errors that mean "the database is not reachable
// right now": the caller may retry (with the same request_id).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300',
]);
const TIMEOUT_CODES = new Set(['57014']); // statement_timeout / query_canceled

/**
 * A dependency (another service, Temporal) could not be reached: the caller
 * should retry, with the same request_id. Its message is shown to the caller.
 */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable';
}

/** True when an error means the database (not the request) is the problem right now. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    // node-postgres's own words for a connection that failed or closed under a query (no SQLSTATE):
    // e.g. PostgreSQL restarting while a new pooled connection runs its first statement.
    /Connection terminated|timeout exceeded when trying to connect|(connection error|was closed) and is not queryable/i.test(
      String((error as Error)?.message),
    )
  );
}

/**
 * Turns whatever a handler threw into a gRPC status. Caller mistakes keep
 * their message (it names the field); everything else is logged in full and
 * answered with a generic message, so internals never leak to clients.
 * `what` names the service's store in the messages ("the ledger").
 */
export function toServiceError(error: unknown, log: ErrorLogger, method: string, what: string): Partial<ServiceError> {
  if (error instanceof FieldError) {
    const metadata = new Metadata();
    metadata.set(ERROR_FIELD_METADATA_KEY, error.field);
    return { code: CODE_OF_KIND[error.kind], details: error.message, metadata };
  }
  if (error instanceof DependencyUnavailable) {
    log.warn({ err: error, method }, 'dependency unavailable');
    return { code: status.UNAVAILABLE, details: error.message };
  }
  if (isDatabaseUnavailable(error)) {
    log.warn({ err: error, method }, 'database unavailable');
    return { code: status.UNAVAILABLE, details: `${what} database is unavailable; retry with the same request_id` };
  }
  if (TIMEOUT_CODES.has((error as { code?: string })?.code ?? '')) {
    log.warn({ err: error, method }, 'statement timed out');
    return {
      code: status.DEADLINE_EXCEEDED,
      details: `${what} did not finish in time; retry with the same request_id`,
    };
  }
  log.error({ err: error, method }, 'unexpected error');
  return { code: status.INTERNAL, details: 'internal error' };
}

/**
 * A unary gRPC handler from an async function: its result is the answer, and
 * whatever it throws becomes a gRPC status through toServiceError (`what` names
 * the service's store in the messages, as there).
 */
export function unary<Req, Res>(
  log: ErrorLogger,
  method: string,
  what: string,
  handle: (request: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handle(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error, log, method, what)),
    );
  };
}
