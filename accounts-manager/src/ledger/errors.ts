/**
 * Errors a caller can act on. Each names the request field at fault; the gRPC
 * layer maps `kind` to a status code. Anything else thrown is a bug or an
 * outage and becomes INTERNAL/UNAVAILABLE without leaking details.
 */
export type LedgerErrorKind = 'invalid_argument' | 'not_found' | 'already_exists';

export class LedgerError extends Error {
  constructor(
    readonly kind: LedgerErrorKind,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'LedgerError';
  }
}

export const invalidArgument = (field: string, message: string) => new LedgerError('invalid_argument', field, message);
export const notFound = (field: string, message: string) => new LedgerError('not_found', field, message);
export const alreadyExists = (field: string, message: string) => new LedgerError('already_exists', field, message);
