import {
  status,
  type Metadata,
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
    // One access log line per call, with who called once authorization has said (context.identity).
    const finish = (context: RequestContext, startedAt: bigint, code: number, details?: string) => {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const labels = { service: shortService, method: methodName, code: status[code] ?? String(code) };
      observers.metrics.requests.inc(labels);
      observers.metrics.latency.observe(labels, seconds);
      const line = {
        ...context,
        code: labels.code,
        durationMs: Math.round(seconds * 1e4) / 10,
        details,
      };
      if (code === status.OK) observers.log.debug(line, 'rpc ok');
      else if (CLIENT_CODES.has(code)) observers.log.info(line, 'rpc refused');
      else observers.log.warn(line, 'rpc failed');
    };
    const begin = (metadata: Metadata, sendMetadata: (metadata: Metadata) => void): RequestContext => {
      const correlationId = correlationIdFrom(metadata.get(CORRELATION_ID_METADATA_KEY));
      const echoed = metadata.clone();
      for (const existing of Object.keys(echoed.getMap())) echoed.remove(existing);
      echoed.set(CORRELATION_ID_METADATA_KEY, correlationId);
      sendMetadata(echoed);
      return { correlationId, method: methodName };
    };

    if (method.responseStream) {
      wrapped[key] = (call: ServerWritableStream<unknown, unknown>) => {
        const startedAt = process.hrtime.bigint();
        const context = begin(call.metadata, (m) => call.sendMetadata(m));
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
    } else {
      wrapped[key] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const startedAt = process.hrtime.bigint();
        const context = begin(call.metadata, (m) => call.sendMetadata(m));
        runInRequestContext(context, () =>
          handler(call, ((error, value) => {
            finish(context, startedAt, error ? (error.code ?? status.UNKNOWN) : status.OK, error?.details);
            callback(error, value);
          }) satisfies sendUnaryData<unknown>),
        );
      };
    }
  }
  return wrapped;
}
