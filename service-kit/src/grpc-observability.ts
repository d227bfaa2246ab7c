import {
  Metadata,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import {
  CORRELATION_ID_METADATA_KEY,
  correlationIdFrom,
  runInRequestContext,
  type RequestContext,
} from './request-context.js';

/** The subset of a pino logger this module needs. */
export interface CallLogger {
  /** pino's: lets a disabled level cost nothing (absent: every line is built). */
  isLevelEnabled?(level: string): boolean;
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface RpcMetrics {
  requests: Counter<'service' | 'method' | 'code'>;
  latency: Histogram<'service' | 'method' | 'code'>;
}

export function createRpcMetrics(registry: Registry): RpcMetrics {
  return {
    requests: new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed, by method and status code',
      labelNames: ['service', 'method', 'code'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from request to final status',
      labelNames: ['service', 'method', 'code'],
      registers: [registry],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
}

/**
 * Codes a caller's request earns: logged at info; anything else may be our
 * fault and is logged at warn (the ledger's error-ratio alert, in
 * deploy/prometheus/ledger-alerts.rules.yml, counts the same split).
 */
export const CLIENT_CODES: ReadonlySet<status> = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.FAILED_PRECONDITION,
  status.UNAUTHENTICATED,
  status.PERMISSION_DENIED,
  status.CANCELLED,
  status.OUT_OF_RANGE,
]);

/**
 * Wraps every handler of a service so that each call runs in a request
 * context (correlation id from the `x-correlation-id` metadata, echoed back),
 * is counted and timed by method and status code, and leaves one access log
 * line. Handlers stay unaware of all of it.
 */
export function observeService(
  serviceName: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  observers: { metrics: RpcMetrics; log: CallLogger },
): UntypedServiceImplementation {
  const shortService = serviceName.split('.').at(-1)!;
  const wrapped: UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition)) {
    const handler = implementation[key] as ((...args: unknown[]) => void) | undefined;
    if (!handler) continue;
    const methodName = method.path.split('/').at(-1)!;
    const finish = callFinisher(shortService, methodName, observers);
    wrapped[key] = method.responseStream
      ? observedStream(methodName, handler, finish)
      : observedUnary(methodName, handler, finish);
  }
  return wrapped;
}

type Finish = (context: RequestContext, startedAt: bigint, code: number, details?: string) => void;

/**
 * Counts, times and logs a finished call. The metrics' label sets are bound
 * once per status code (prom-client hashes a label object on every call
 * otherwise), and the access line is built only when its level is on.
 */
function callFinisher(service: string, method: string, observers: { metrics: RpcMetrics; log: CallLogger }): Finish {
  const byCode = new Map<number, { code: string; requests: { inc(): void }; latency: { observe(s: number): void } }>();
  const boundTo = (code: number) => {
    let bound = byCode.get(code);
    if (!bound) {
      const labels = { service, method, code: status[code] ?? String(code) };
      bound = {
        code: labels.code,
        requests: observers.metrics.requests.labels(labels),
        latency: observers.metrics.latency.labels(labels),
      };
      byCode.set(code, bound);
    }
    return bound;
  };
  const log = observers.log;
  return (context, startedAt, code, details) => {
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const bound = boundTo(code);
    bound.requests.inc();
    bound.latency.observe(seconds);
    // One access log line per call, with who called once authorization has said (context.identity).
    if (code === status.OK && log.isLevelEnabled?.('debug') === false) return;
    const line = { ...context, code: bound.code, durationMs: Math.round(seconds * 1e4) / 10, details };
    if (code === status.OK) log.debug(line, 'rpc ok');
    else if (CLIENT_CODES.has(code)) log.info(line, 'rpc refused');
    else log.warn(line, 'rpc failed');
  };
}

/** The call's context: the caller's correlation id (or a new one) and the method. */
function contextOf(metadata: Metadata, method: string): RequestContext {
  return { correlationId: correlationIdFrom(metadata.get(CORRELATION_ID_METADATA_KEY)), method };
}

/** Response headers carrying only the call's correlation id. */
function echoOf(context: RequestContext): Metadata {
  const echoed = new Metadata();
  echoed.set(CORRELATION_ID_METADATA_KEY, context.correlationId);
  return echoed;
}

/**
 * A unary call: the correlation id is echoed in the response headers, sent
 * together with the answer — sending them on their own when the call
 * arrives cost an extra socket write per call (docs/benchmarks.md, "CPU per call").
 */
function observedUnary(method: string, handler: (...args: unknown[]) => void, finish: Finish) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const startedAt = process.hrtime.bigint();
    const context = contextOf(call.metadata, method);
    runInRequestContext(context, () =>
      handler(call, ((error, value) => {
        finish(context, startedAt, error ? (error.code ?? status.UNKNOWN) : status.OK, error?.details);
        call.sendMetadata(echoOf(context));
        callback(error, value);
      }) satisfies sendUnaryData<unknown>),
    );
  };
}

/** A server stream: the correlation id is echoed at once, before the first message, which may be long in coming. */
function observedStream(method: string, handler: (...args: unknown[]) => void, finish: Finish) {
  return (call: ServerWritableStream<unknown, unknown>) => {
    const startedAt = process.hrtime.bigint();
    const context = contextOf(call.metadata, method);
    call.sendMetadata(echoOf(context));
    let done = false;
    const end = (code: number, details?: string) => {
      if (!done) {
        done = true;
        finish(context, startedAt, code, details);
      }
    };
    call.once('finish', () => end(status.OK));
    call.once('error', (error: { code?: number; details?: string }) =>
      end(error.code ?? status.UNKNOWN, error.details),
    );
    call.once('cancelled', () => end(status.CANCELLED));
    runInRequestContext(context, () => handler(call));
  };
}
