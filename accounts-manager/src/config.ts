import { isAbsolute } from 'node:path';
import ms from 'ms';
import { z } from 'zod';
import {
  addressOrOff,
  assertSafeBeyondLoopback,
  duration,
  flag,
  grpcServerBeyondLoopback,
  hostPort,
  logLevel,
  minorUnits,
  onOff,
  parseEnv,
  positiveInt,
  postgresUrl,
} from '@alfabet/service-kit/config-parsing';
import { authorizationPolicyFrom, type AuthorizationPolicy } from '@alfabet/service-kit/authorization';
import { pemPath, serverTlsFrom, type ServerTls } from '@alfabet/service-kit/tls';

export { ConfigError } from '@alfabet/service-kit/config-parsing';

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
  /** MAX_BATCH_SIZE: the most transfers one BatchTransfer may hold. */
  maxBatchSize: number;
  /** ACCOUNTS_GROUP_COMMIT (on by default): lone Transfers / BankTransactions arriving together posted as one statement each kind (ledger/group-commit.ts). */
  groupCommit: boolean;
  /** How far back a report may start. */
  reportWindowMs: number;
  /** Key that seals report page/snapshot tokens. */
  reportTokenSecret: string;
  /** How long a report's tokens may be used after its snapshot was taken. */
  reportTokenTtlMs: number;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** PostgreSQL statement_timeout for every statement the service runs. */
  statementTimeoutMs: number;
  /** How long a graceful shutdown waits for in-flight calls. */
  shutdownGraceMs: number;
  logLevel: string;
  /** TLS (and mutual TLS with a client CA) for the gRPC server; null: plaintext, loopback only. */
  tls: ServerTls | null;
  /** Who may call which method; null: authorization off (any caller may call anything). */
  authorization: AuthorizationPolicy | null;
  /**
   * How long an archived day stays in the database after it ended, before
   * `transactions:archive` exports and drops it (db/retention.sql.ts); null: forever.
   */
  archiveRetentionMs: number | null;
  /** Where `transactions:archive` writes each day it drops (absolute); null: not set, so nothing is dropped. */
  archiveExportDir: string | null;
}

/** The ledger's methods, as the authorization policy names them. */
export const ACCOUNTS_METHODS = [
  'CreateAccount',
  'GetAccount',
  'Transfer',
  'BankTransaction',
  'BatchTransfer',
  'GetTransaction',
  'ListTransactions',
] as const;

/**
 * With authorization on and no ACCOUNTS_AUTHZ_POLICY: BankTransaction creates
 * or destroys money, so only the advances service and ops may call it; any
 * other authenticated caller may call the rest.
 */
export const DEFAULT_ACCOUNTS_POLICY = {
  advances: ['*'],
  ops: ['*'],
  '*': ACCOUNTS_METHODS.filter((method) => method !== 'BankTransaction'),
};

export const MAX_AMOUNT_DEFAULT = 1_000_000_000_000n;
export const MAX_BATCH_SIZE_DEFAULT = 1000;
export const MAX_BATCH_SIZE_LIMIT = 10_000;

/**
 * REPORT_TOKEN_SECRET when unset: published here, so anyone could forge
 * report tokens with it. Good enough on loopback; refused anywhere else.
 */
export const DEV_REPORT_TOKEN_SECRET = 'alfabet-dev-only-report-token-secret';

/**
 * ARCHIVE_RETENTION's default: 7 years after a day ended. The record-keeping
 * rules a bank answers to (EU AMLD art. 40, US 31 CFR 1010.430, RU 115-FZ
 * art. 7) ask for 5 years, some counted from the end of the customer
 * relationship; 7 years leaves 2 years for that, for disputes and for tax
 * audits, and every dropped day is still kept, exported, outside the database.
 */
export const ARCHIVE_RETENTION_DEFAULT = '7y';
/** The shortest ARCHIVE_RETENTION accepted: a typo (`7d` for `7y`) must not drop what the law says to keep. */
export const ARCHIVE_RETENTION_MIN_MS = ms('5y');

/** `off` (keep forever) or a duration of at least 5 years (`ms`: a year is 365.25 days). */
const archiveRetention = () =>
  z.string().transform((text, ctx) => {
    if (text === 'off') return null;
    const value = ms(text as ms.StringValue);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < ARCHIVE_RETENTION_MIN_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `ARCHIVE_RETENTION must be off or a duration of at least 5y, like 7y or 3000d (got "${text}")`,
      });
      return z.NEVER;
    }
    return value;
  });

const absoluteDirectory = (name: string) =>
  z.string().refine(isAbsolute, `${name} must be an absolute path (the archive command may run from anywhere)`);

const schema = z.object({
  ACCOUNTS_GRPC_ADDR: hostPort('ACCOUNTS_GRPC_ADDR').default('127.0.0.1:50051'),
  ACCOUNTS_METRICS_ADDR: addressOrOff('ACCOUNTS_METRICS_ADDR', '127.0.0.1:9464'),
  ACCOUNTS_DATABASE_URL: postgresUrl('ACCOUNTS_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/alfabet_accounts'),
  // At most 10^15 keeps every balance sum far from int64's limit (see the ledger migration).
  MAX_AMOUNT: minorUnits('MAX_AMOUNT', MAX_AMOUNT_DEFAULT * 1000n).prefault(String(MAX_AMOUNT_DEFAULT)),
  // One batch is one statement and one database transaction: 10 000 keeps it well inside a
  // statement timeout and a 4 MiB request.
  MAX_BATCH_SIZE: positiveInt('MAX_BATCH_SIZE', MAX_BATCH_SIZE_LIMIT).prefault(String(MAX_BATCH_SIZE_DEFAULT)),
  ACCOUNTS_GROUP_COMMIT: onOff('ACCOUNTS_GROUP_COMMIT', 'on'),
  REPORT_WINDOW: duration('REPORT_WINDOW').prefault('5d'),
  REPORT_TOKEN_SECRET: z
    .string()
    .min(16, 'REPORT_TOKEN_SECRET must be at least 16 characters')
    .default(DEV_REPORT_TOKEN_SECRET),
  REPORT_TOKEN_TTL: duration('REPORT_TOKEN_TTL').prefault('1h'),
  ACCOUNTS_DB_POOL_SIZE: positiveInt('ACCOUNTS_DB_POOL_SIZE', 200).prefault('20'),
  ACCOUNTS_STATEMENT_TIMEOUT: duration('ACCOUNTS_STATEMENT_TIMEOUT').prefault('10s'),
  SHUTDOWN_GRACE: duration('SHUTDOWN_GRACE').prefault('10s'),
  LOG_LEVEL: logLevel(),
  ALLOW_INSECURE_NON_LOOPBACK: flag(),
  ACCOUNTS_TLS_CERT: pemPath(),
  ACCOUNTS_TLS_KEY: pemPath(),
  ACCOUNTS_TLS_CLIENT_CA: pemPath(),
  ACCOUNTS_AUTH: onOff('ACCOUNTS_AUTH'),
  ACCOUNTS_AUTHZ_POLICY: z.string().optional(),
  ACCOUNTS_AUTH_TOKENS: z.string().optional(),
  ARCHIVE_RETENTION: archiveRetention().prefault(ARCHIVE_RETENTION_DEFAULT),
  ARCHIVE_EXPORT_DIR: absoluteDirectory('ARCHIVE_EXPORT_DIR').optional(),
});

/** Every variable accounts-manager reads (docker-compose.yml is checked against it). */
export const ACCOUNTS_CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export function loadAccountsConfig(env: NodeJS.ProcessEnv = process.env): AccountsConfig {
  const c = parseEnv(schema, env);
  const tls = serverTlsFrom('ACCOUNTS', c);
  assertSafeBeyondLoopback(c.ACCOUNTS_GRPC_ADDR, {
    ...grpcServerBeyondLoopback('ACCOUNTS', c.ACCOUNTS_GRPC_ADDR, {
      tls: tls !== null,
      allowInsecure: c.ALLOW_INSECURE_NON_LOOPBACK,
      auth: c.ACCOUNTS_AUTH,
    }),
    REPORT_TOKEN_SECRET:
      c.REPORT_TOKEN_SECRET === DEV_REPORT_TOKEN_SECRET &&
      'must be set to a secret of your own (at least 16 characters) when ACCOUNTS_GRPC_ADDR is not a loopback address: the default is published, so report tokens could be forged',
  });
  return {
    grpcAddress: c.ACCOUNTS_GRPC_ADDR,
    metricsAddress: c.ACCOUNTS_METRICS_ADDR,
    databaseUrl: c.ACCOUNTS_DATABASE_URL,
    maxAmountMinor: c.MAX_AMOUNT,
    maxBatchSize: c.MAX_BATCH_SIZE,
    groupCommit: c.ACCOUNTS_GROUP_COMMIT,
    reportWindowMs: c.REPORT_WINDOW,
    reportTokenSecret: c.REPORT_TOKEN_SECRET,
    reportTokenTtlMs: c.REPORT_TOKEN_TTL,
    databasePoolSize: c.ACCOUNTS_DB_POOL_SIZE,
    statementTimeoutMs: c.ACCOUNTS_STATEMENT_TIMEOUT,
    shutdownGraceMs: c.SHUTDOWN_GRACE,
    logLevel: c.LOG_LEVEL,
    tls,
    authorization: c.ACCOUNTS_AUTH
      ? authorizationPolicyFrom('ACCOUNTS', c, ACCOUNTS_METHODS, DEFAULT_ACCOUNTS_POLICY)
      : null,
    archiveRetentionMs: c.ARCHIVE_RETENTION,
    archiveExportDir: c.ARCHIVE_EXPORT_DIR ?? null,
  };
}
