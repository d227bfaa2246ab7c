import ms from 'ms';
import { z } from 'zod';

/**
 * The service's configuration, parsed once at start from the environment.
 * A bad value stops the process with a message naming the variable.
 */
export interface AccountsConfig {
  grpcAddress: string;
  /** Where Prometheus scrapes /metrics; null turns the endpoint off. */
  metricsAddress: string | null;
  databaseUrl: string;
  /** Largest amount one request may move, in minor units. */
  maxAmountMinor: bigint;
  /** How far back a report may start. */
  reportWindowMs: number;
  /** Key that signs report page/snapshot tokens. */
  reportTokenSecret: string;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** PostgreSQL statement_timeout for every statement the service runs. */
  statementTimeoutMs: number;
  /** How long a graceful shutdown waits for in-flight calls. */
  shutdownGraceMs: number;
  logLevel: string;
}

export const MAX_AMOUNT_DEFAULT = 1_000_000_000_000n;

const duration = (name: string) =>
  z.string().transform((text, ctx) => {
    const value = ms(text as ms.StringValue);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a positive duration like 500ms, 2s, 1h or 5d (got "${text}")` });
      return z.NEVER;
    }
    return value;
  });

const positiveInt = (name: string, max: number) =>
  z.string().regex(/^\d+$/, `${name} must be a whole number`).transform(Number)
    .refine((n) => n >= 1 && n <= max, `${name} must be between 1 and ${max}`);

const schema = z.object({
  ACCOUNTS_GRPC_ADDR: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'ACCOUNTS_GRPC_ADDR must be host:port').default('127.0.0.1:50051'),
  ACCOUNTS_METRICS_ADDR: z.string().regex(/^([^\s:]+:\d{1,5}|off)$/, 'ACCOUNTS_METRICS_ADDR must be host:port or off').default('127.0.0.1:9464'),
  ACCOUNTS_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'ACCOUNTS_DATABASE_URL must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/alfabet_accounts'),
  MAX_AMOUNT: z.string().regex(/^\d{1,18}$/, 'MAX_AMOUNT must be a whole number of minor units').default(String(MAX_AMOUNT_DEFAULT))
    .transform(BigInt).refine((n) => n >= 1n && n <= MAX_AMOUNT_DEFAULT * 1000n, 'MAX_AMOUNT must be between 1 and 10^15'),
  REPORT_WINDOW: duration('REPORT_WINDOW').prefault('5d'),
  REPORT_TOKEN_SECRET: z.string().min(16, 'REPORT_TOKEN_SECRET must be at least 16 characters')
    .default('alfabet-dev-only-report-token-secret'),
  ACCOUNTS_DB_POOL_SIZE: positiveInt('ACCOUNTS_DB_POOL_SIZE', 200).prefault('20'),
  ACCOUNTS_STATEMENT_TIMEOUT: duration('ACCOUNTS_STATEMENT_TIMEOUT').prefault('10s'),
  SHUTDOWN_GRACE: duration('SHUTDOWN_GRACE').prefault('10s'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export class ConfigError extends Error {}

export function loadAccountsConfig(env: NodeJS.ProcessEnv = process.env): AccountsConfig {
  const parsed = schema.safeParse(withoutEmptyValues(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  return {
    grpcAddress: c.ACCOUNTS_GRPC_ADDR,
    metricsAddress: c.ACCOUNTS_METRICS_ADDR === 'off' ? null : c.ACCOUNTS_METRICS_ADDR,
    databaseUrl: c.ACCOUNTS_DATABASE_URL,
    maxAmountMinor: c.MAX_AMOUNT,
    reportWindowMs: c.REPORT_WINDOW,
    reportTokenSecret: c.REPORT_TOKEN_SECRET,
    databasePoolSize: c.ACCOUNTS_DB_POOL_SIZE,
    statementTimeoutMs: c.ACCOUNTS_STATEMENT_TIMEOUT,
    shutdownGraceMs: c.SHUTDOWN_GRACE,
    logLevel: c.LOG_LEVEL,
  };
}

/** An empty variable means "use the default", as in most shells' `VAR= cmd`. */
function withoutEmptyValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => !!entry[1]));
}
