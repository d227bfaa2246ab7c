import { setLogger as setGrpcLogger } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { redactor } from './log-redaction.js';
import { currentRequestContext } from './request-context.js';

export type { Logger };

/**
 * Structured JSON logs, one line per event, with the service's name on each
 * and, inside a gRPC call, its correlation id and method. `redact` lists
 * paths holding secrets or tokens that must never reach a log line (`key`,
 * `parent.key`, `*.key`), censored on every line and every child logger's
 * fields by ./log-redaction.ts (pino's own `redact` cost as much as the rest
 * of the line); `destination` defaults to stdout (tests pass a stream they read).
 */
export function createLogger(
  level: string,
  service: string,
  redact: string[] = [],
  destination?: pino.DestinationStream,
): Logger {
  const censor = redactor([
    '*.password',
    '*.databaseUrl',
    'config.databaseUrl',
    'authorization',
    '*.authorization',
    ...redact,
  ]);
  const logger = pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => currentRequestContext() ?? {},
      formatters: { log: censor, bindings: censor },
    },
    destination,
  );
  // pino applies the bindings formatter to the base fields only; a child's fields are censored here.
  type Child = (this: unknown, bindings: pino.Bindings, options?: unknown) => unknown;
  const child = logger.child as unknown as Child;
  (logger as unknown as { child: Child }).child = function censoredChild(this: unknown, bindings, options) {
    return child.call(this, censor(bindings), options);
  };
  return logger;
}

/**
 * Everything from the first mention of a credential to the end of its line:
 * an authorization header (or `authorization-bin`), in any spelling grpc-js
 * may print it (`authorization: …`, `"authorization":["…"]`), or a bearer
 * token on its own.
 */
const CREDENTIAL = /(authorization|bearer)\b[^\n]*/gi;

/** `text` with every credential in it replaced by [REDACTED]. */
export function redactCredentials(text: string): string {
  return text.replace(CREDENTIAL, '$1 [REDACTED]');
}

/**
 * grpc-js writes lines of its own (to stderr by default), and some quote
 * what a caller sent: a header value it cannot accept is printed whole —
 * `Failed to add metadata entry authorization: Bearer\t<token>` for a token
 * with a tab in it. Its lines go to `log` instead, as JSON like every other
 * line, with credentials redacted. Which lines grpc-js writes is still its
 * own choice (GRPC_VERBOSITY, GRPC_TRACE); this is process-wide, so each
 * entry point calls it once.
 */
export function routeGrpcLogs(log: Logger): void {
  const write =
    (level: 'error' | 'info' | 'debug') =>
    (message?: unknown, ...more: unknown[]) =>
      log[level]({ source: 'grpc-js' }, redactCredentials([message, ...more].map(String).join(' ')));
  setGrpcLogger({ error: write('error'), info: write('info'), debug: write('debug') });
}
