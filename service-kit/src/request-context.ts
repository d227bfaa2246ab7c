import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The gRPC metadata key that carries a correlation id from caller to callee
 * (e.g. from an advances activity into accounts-manager), so one person can
 * follow one payment through both services' logs.
 */
export const CORRELATION_ID_METADATA_KEY = 'x-correlation-id';
const CORRELATION_ID_LENGTH_MAX = 128;

export interface RequestContext {
  correlationId: string;
  method: string;
  /**
   * Who is calling, once the authorization guard has established it (absent
   * when authorization is off or the caller has no identity). It is on every
   * log line of the call and the ledger stores it with each transaction.
   */
  identity?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the gRPC call being served, if any (read by the loggers' mixin). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

export function runInRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Records the authenticated caller of the call being served (a no-op outside a call). */
export function setCallIdentity(identity: string): void {
  const context = storage.getStore();
  if (context) context.identity = identity;
}

/** The authenticated caller of the call being served; '' when there is none (authorization off). */
export function callIdentity(): string {
  return storage.getStore()?.identity ?? '';
}

/** The caller's correlation id if it sent a sane one, else a fresh one. */
export function correlationIdFrom(values: unknown[]): string {
  const given = values[0];
  if (
    typeof given === 'string' &&
    given.length > 0 &&
    given.length <= CORRELATION_ID_LENGTH_MAX &&
    /^[\w.:\-/]+$/.test(given)
  ) {
    return given;
  }
  return randomUUID();
}
