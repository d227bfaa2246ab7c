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

/** `off` (the default) or `on`, parsed to a boolean. */
export const onOff = (name: string) =>
  z
    .enum(['off', 'on'], { message: `${name} must be off or on` })
    .default('off')
    .transform((value) => value === 'on');

/** `true` or `false`. */
export const flag = () =>
  z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true');

/**
 * The services speak gRPC without TLS (issue: TLS is configured separately).
 * That is fine on loopback; binding any other address must be asked for
 * explicitly (ALLOW_INSECURE_NON_LOOPBACK=true, e.g. inside a private
 * compose network), so a plaintext money API is never exposed by accident.
 */
export function assertLoopbackOrAllowed(variable: string, address: string, allowInsecure: boolean): void {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback && !allowInsecure) {
    throw new ConfigError(
      `invalid configuration:\n  ${variable}: ${address} is not a loopback address and the server has no TLS; ` +
        'bind 127.0.0.1, or set ALLOW_INSECURE_NON_LOOPBACK=true on a private network',
    );
  }
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
