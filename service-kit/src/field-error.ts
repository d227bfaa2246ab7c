/**
 * Errors a caller can act on. Each names the request field at fault; the gRPC
 * layer maps `kind` to a status code and sends the field name in the
 * `alfabet-error-field` trailer. Anything else thrown is a bug or an outage and
 * becomes INTERNAL/UNAVAILABLE without leaking details.
 */
export type FieldErrorKind = 'invalid_argument' | 'not_found' | 'already_exists' | 'failed_precondition';

export class FieldError extends Error {
  constructor(
    readonly kind: FieldErrorKind,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FieldError';
  }
}

export const invalidArgument = (field: string, message: string) => new FieldError('invalid_argument', field, message);
export const notFound = (field: string, message: string) => new FieldError('not_found', field, message);
export const alreadyExists = (field: string, message: string) => new FieldError('already_exists', field, message);
export const failedPrecondition = (field: string, message: string) =>
  new FieldError('failed_precondition', field, message);
