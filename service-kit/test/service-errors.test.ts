import { status } from '@grpc/grpc-js';
import { isDatabaseUnavailable, toServiceError } from '../src/service-errors.js';

/**
 * A database that is down or restarting is UNAVAILABLE (retry with the same request_id), never
 * INTERNAL: SQLSTATEs of a server going away, and node-postgres's own words when a connection
 * fails under a query, which carry no SQLSTATE (ledger-under-fire.test.ts restarts PostgreSQL
 * under load and reaches these paths by chance; here each is reached on purpose).
 */
const log = { warn: () => undefined, error: () => undefined };

test.each([
  ['57P01', 'terminating connection due to administrator command'],
  ['57P03', 'the database system is starting up'],
  ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
  [undefined, 'Connection terminated unexpectedly'],
  [undefined, 'Client has encountered a connection error and is not queryable'],
  [undefined, 'Client was closed and is not queryable'],
  [undefined, 'timeout exceeded when trying to connect'],
])('%s %s is UNAVAILABLE', (code, message) => {
  const error = Object.assign(new Error(message), code ? { code } : {});
  expect(isDatabaseUnavailable(error)).toBe(true);
  expect(toServiceError(error, log, 'Transfer', 'the ledger').code).toBe(status.UNAVAILABLE);
});

test('any other error is INTERNAL, with a message that tells nothing of the internals', () => {
  const answer = toServiceError(new Error('relation "accounts" does not exist'), log, 'Transfer', 'the ledger');
  expect(answer).toEqual({ code: status.INTERNAL, details: 'internal error' });
});
