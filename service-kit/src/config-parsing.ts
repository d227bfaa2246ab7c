import ms from 'ms';
import { z } from 'zod';

/** A configuration that cannot start a service; its message names every bad variable. */
export class ConfigError extends Error {}

/** A positive duration like `500ms`, `2s`, `1h`, `7d`, parsed to milliseconds. */
export const duration = (name: string) =>
  z.string().transform((text, ctx) => {
    const value = ms(text as ms.StringValue);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be a positive duration like 500ms, 2s, 1h or 5d (got "${text}")`,
      });
      return z.NEVER;
    }
    return value;
  });

/** A whole number 1 ..= max. */
export const positiveInt = (name: string, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `${name} must be between 1 and ${max}`);

/** A whole number of minor units 1 ..= max. */
export const minorUnits = (name: string, max: bigint) =>
  z
    .string()
    .regex(/^\d{1,19}$/, `${name} must be a whole number of minor units`)
    .transform(BigInt)
    .refine((n) => n >= 1n && n <= max, `${name} must be between 1 and ${max}`);

/** host:port. */
export const hostPort = (name: string) => z.string().regex(/^[^\s:]+:\d{1,5}$/, `${name} must be host:port`);

/** host:port, or `off` to turn the endpoint off (parsed to null). */
export const addressOrOff = (name: string, fallback: string) =>
  z
    .string()
    .regex(/^([^\s:]+:\d{1,5}|off)$/, `${name} must be host:port or off`)
    .default(fallback)
    .transform((value) => (value === 'off' ? null : value));

/** A postgres:// connection URL. */
export const postgresUrl = (name: string, fallback: string) =>
  z
    .string()
    .regex(/^postgres(ql)?:\/\//, `${name} must be a postgres:// URL`)
    .default(fallback);

/** `off` or `on` (`off` unless the variable says otherwise), parsed to a boolean. */
export const onOff = (name: string, byDefault: 'off' | 'on' = 'off') =>
  z
    .enum(['off', 'on'], { message: `${name} must be off or on` })
    .default(byDefault)
    .transform((value) => value === 'on');

/** `true` or `false`. */
export const flag = () =>
  z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true');

/** 127.x.x.x, ::1 or localhost: reachable from this machine only. */
export function isLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Secure by default (DESIGN.md §6). On loopback the dev defaults are fine:
 * only this machine can call. Any other address must be asked for with
 * everything that makes it safe, so a money API is never exposed by
 * accident: `unsafe` maps each variable to what is wrong with it off
 * loopback (false when nothing), and every problem is named at once.
 */
export function assertSafeBeyondLoopback(address: string, unsafe: Record<string, string | false>): void {
  if (isLoopback(address)) return;
  const problems = Object.entries(unsafe).filter((entry): entry is [string, string] => entry[1] !== false);
  if (problems.length === 0) return;
  throw new ConfigError(
    `invalid configuration:\n  ${problems.map(([variable, problem]) => `${variable}: ${problem}`).join('\n  ')}`,
  );
}

/**
 * The problems of a gRPC server on a non-loopback address, for
 * assertSafeBeyondLoopback: without TLS it must be allowed explicitly
 * (ALLOW_INSECURE_NON_LOOPBACK=true, e.g. inside a private compose network);
 * authorization must be on whatever the transport, or anyone who can connect
 * may call anything.
 */
export function grpcServerBeyondLoopback(
  prefix: string,
  address: string,
  settings: { tls: boolean; allowInsecure: boolean; auth: boolean },
): Record<string, string | false> {
  return {
    [`${prefix}_GRPC_ADDR`]:
      !settings.tls &&
      !settings.allowInsecure &&
      `${address} is not a loopback address and the server has no TLS; bind 127.0.0.1, ` +
        `set ${prefix}_TLS_CERT and ${prefix}_TLS_KEY, or set ALLOW_INSECURE_NON_LOOPBACK=true on a private network`,
    [`${prefix}_AUTH`]:
      !settings.auth &&
      `must be on when ${prefix}_GRPC_ADDR is not a loopback address (anyone who can connect could call every method); ` +
        `set ${prefix}_AUTH=on with client certificates (${prefix}_TLS_CLIENT_CA) or ${prefix}_AUTH_TOKENS`,
  };
}

/** A pino level. */
export const logLevel = () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** Parses `env` with `schema` or throws a ConfigError naming every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const parsed = schema.safeParse(withoutEmptyValues(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** An empty variable means "use the default", as in most shells' `VAR= cmd`. */
function withoutEmptyValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => !!entry[1]));
}
