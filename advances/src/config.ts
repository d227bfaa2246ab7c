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
import { clientTlsFrom, pemPath, serverTlsFrom, type ClientTls, type ServerTls } from '@alfabet/service-kit/tls';
import { authorizationPolicyFrom, type AuthorizationPolicy } from '@alfabet/service-kit/authorization';

/** The advances API's methods, as its authorization policy names them. */
export const ADVANCES_METHODS = ['RequestAdvance', 'GetAdvance', 'ListAdvances', 'ListReconciliationFindings'] as const;

export { ConfigError } from '@alfabet/service-kit/config-parsing';

/** accounts-manager's default MAX_AMOUNT (DESIGN.md §6), in minor units. */
const LEDGER_MAX_AMOUNT_DEFAULT = 1_000_000_000_000n;

/** The task queue the advances worker polls (fixed by DESIGN.md §6). */
export const TASK_QUEUE = 'advances';

/**
 * Configuration shared by the advances API and worker, parsed once at start
 * from the environment. A bad value stops the process with a message naming
 * the variable.
 */
export interface AdvancesConfig {
  grpcAddress: string;
  /** Where Prometheus scrapes the API's /metrics; null turns it off. */
  metricsAddress: string | null;
  /** Where Prometheus scrapes the worker's own /metrics (payments, reconciliation); null turns it off. */
  workerMetricsAddress: string | null;
  /** Where the Temporal SDK core serves its worker metrics; null turns it off. */
  temporalMetricsAddress: string | null;
  databaseUrl: string;
  /** accounts-manager, which the API asks whether an account exists and the activities ask to move money. */
  accountsAddress: string;
  /** Deadline of every call to accounts-manager. */
  ledgerCallTimeoutMs: number;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  /** Time between the disbursement and the first payment, and between payments. */
  paymentIntervalMs: number;
  installments: number;
  /** How often the reconciliation Schedule runs; null: the worker creates no Schedule (e.g. the time-skipping test server has none). */
  reconciliationIntervalMs: number | null;
  /** A payment SCHEDULED or PROCESSING, or an advance DISBURSING, this long past due is reported stuck. */
  reconciliationStuckAfterMs: number;
  /** How often a reconciliation run checks every advance instead of only what changed. */
  reconciliationFullSweepEveryMs: number;
  /** How far each ledger scan reaches back before the last one's end (see ReconciliationDeps.scanOverlapMs). */
  reconciliationScanOverlapMs: number;
  /** The ledger's REPORT_WINDOW: how far back the reconciliation can read the ledger's report stream. */
  reportWindowMs: number;
  /** Policy: the smallest and largest advance, in minor units. */
  minAmountMinor: bigint;
  maxAmountMinor: bigint;
  /** Policy: advances an account may have open (not repaid) at once. */
  maxOpenPerAccount: number;
  databasePoolSize: number;
  statementTimeoutMs: number;
  /** Workflows the worker keeps in memory between their tasks (Temporal's maxCachedWorkflows); see worker-app.ts. */
  workerCachedWorkflows: number;
  shutdownGraceMs: number;
  logLevel: string;
  /** TLS (mutual with a client CA) for the advances gRPC server; null: plaintext, loopback only. */
  tls: ServerTls | null;
  /** How the calls to accounts-manager are secured: TLS to verify it (and a client certificate), a bearer token. */
  ledgerTls: ClientTls | null;
  ledgerAuthToken: string | null;
  /** Who may call which advances method; null: authorization off. */
  authorization: AuthorizationPolicy | null;
}

const variables = z.object({
  ADVANCES_GRPC_ADDR: hostPort('ADVANCES_GRPC_ADDR').default('127.0.0.1:50052'),
  ADVANCES_METRICS_ADDR: addressOrOff('ADVANCES_METRICS_ADDR', '127.0.0.1:9465'),
  ADVANCES_WORKER_METRICS_ADDR: addressOrOff('ADVANCES_WORKER_METRICS_ADDR', '127.0.0.1:9466'),
  ADVANCES_TEMPORAL_METRICS_ADDR: addressOrOff('ADVANCES_TEMPORAL_METRICS_ADDR', '127.0.0.1:9467'),
  ADVANCES_DATABASE_URL: postgresUrl('ADVANCES_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/alfabet_advances'),
  ACCOUNTS_GRPC_ADDR: hostPort('ACCOUNTS_GRPC_ADDR').default('127.0.0.1:50051'),
  LEDGER_CALL_TIMEOUT: duration('LEDGER_CALL_TIMEOUT').prefault('10s'),
  TEMPORAL_ADDRESS: hostPort('TEMPORAL_ADDRESS').default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z
    .string()
    .regex(/^[\w.-]{1,255}$/, 'TEMPORAL_NAMESPACE must be a namespace name')
    .default('default'),
  ADVANCE_PAYMENT_INTERVAL: duration('ADVANCE_PAYMENT_INTERVAL').prefault('7d'),
  ADVANCE_INSTALLMENTS: positiveInt('ADVANCE_INSTALLMENTS', 520).prefault('12'),
  RECONCILIATION_INTERVAL: z.union([z.literal('off'), duration('RECONCILIATION_INTERVAL')]).prefault('1h'),
  RECONCILIATION_STUCK_AFTER: duration('RECONCILIATION_STUCK_AFTER').prefault('1d'),
  RECONCILIATION_FULL_SWEEP_INTERVAL: duration('RECONCILIATION_FULL_SWEEP_INTERVAL').prefault('1d'),
  RECONCILIATION_SCAN_OVERLAP: duration('RECONCILIATION_SCAN_OVERLAP').prefault('2m'),
  REPORT_WINDOW: duration('REPORT_WINDOW').prefault('5d'),
  ADVANCE_MIN_AMOUNT: minorUnits('ADVANCE_MIN_AMOUNT', 1_000_000_000_000n).prefault('100'),
  ADVANCE_MAX_AMOUNT: minorUnits('ADVANCE_MAX_AMOUNT', 1_000_000_000_000n).prefault('10000000'),
  // The ledger's own per-request limit: same variable, default and bound as accounts-manager's.
  MAX_AMOUNT: minorUnits('MAX_AMOUNT', LEDGER_MAX_AMOUNT_DEFAULT * 1000n).prefault(String(LEDGER_MAX_AMOUNT_DEFAULT)),
  ADVANCE_MAX_OPEN_PER_ACCOUNT: positiveInt('ADVANCE_MAX_OPEN_PER_ACCOUNT', 1000).prefault('1'),
  ADVANCES_DB_POOL_SIZE: positiveInt('ADVANCES_DB_POOL_SIZE', 200).prefault('10'),
  ADVANCES_STATEMENT_TIMEOUT: duration('ADVANCES_STATEMENT_TIMEOUT').prefault('10s'),
  ADVANCES_WORKER_CACHED_WORKFLOWS: positiveInt('ADVANCES_WORKER_CACHED_WORKFLOWS', 100_000).prefault('250'),
  SHUTDOWN_GRACE: duration('SHUTDOWN_GRACE').prefault('10s'),
  LOG_LEVEL: logLevel(),
  ALLOW_INSECURE_NON_LOOPBACK: flag(),
  ADVANCES_TLS_CERT: pemPath(),
  ADVANCES_TLS_KEY: pemPath(),
  ADVANCES_TLS_CLIENT_CA: pemPath(),
  LEDGER_TLS_CA: pemPath(),
  LEDGER_TLS_CERT: pemPath(),
  LEDGER_TLS_KEY: pemPath(),
  LEDGER_AUTH_TOKEN: z.string().min(16, 'LEDGER_AUTH_TOKEN must be at least 16 characters').optional(),
  ADVANCES_AUTH: onOff('ADVANCES_AUTH'),
  ADVANCES_AUTHZ_POLICY: z.string().optional(),
  ADVANCES_AUTH_TOKENS: z.string().optional(),
});
/** Every variable the advances processes read (docker-compose.yml is checked against it). */
export const ADVANCES_CONFIG_VARIABLES: readonly string[] = Object.keys(variables.shape);

const schema = variables
  .refine((c) => c.ADVANCE_MIN_AMOUNT <= c.ADVANCE_MAX_AMOUNT, {
    path: ['ADVANCE_MIN_AMOUNT'],
    message: 'ADVANCE_MIN_AMOUNT must not exceed ADVANCE_MAX_AMOUNT',
  })
  .refine((c) => c.ADVANCE_MAX_AMOUNT <= c.MAX_AMOUNT, {
    // Every ledger request advances make is at most the advance: the disbursement is
    // the advance, and a payment — however many refused payments rolled into it —
    // never exceeds it, because startPayment (db/schedule-transitions.ts) only takes
    // a payment while paid + this payment ≤ the advance amount. So an advance the
    // API accepts can never grow a payment the ledger refuses as too large, which
    // would halt its workflow.
    path: ['ADVANCE_MAX_AMOUNT'],
    message:
      "ADVANCE_MAX_AMOUNT must not exceed MAX_AMOUNT (the ledger's largest amount in one request): a payment the ledger refuses would halt the advance",
  });

export function loadAdvancesConfig(env: NodeJS.ProcessEnv = process.env): AdvancesConfig {
  const c = parseEnv(schema, env);
  const tls = serverTlsFrom('ADVANCES', c);
  assertSafeBeyondLoopback(
    c.ADVANCES_GRPC_ADDR,
    grpcServerBeyondLoopback('ADVANCES', c.ADVANCES_GRPC_ADDR, {
      tls: tls !== null,
      allowInsecure: c.ALLOW_INSECURE_NON_LOOPBACK,
      auth: c.ADVANCES_AUTH,
    }),
  );
  return {
    grpcAddress: c.ADVANCES_GRPC_ADDR,
    metricsAddress: c.ADVANCES_METRICS_ADDR,
    workerMetricsAddress: c.ADVANCES_WORKER_METRICS_ADDR,
    temporalMetricsAddress: c.ADVANCES_TEMPORAL_METRICS_ADDR,
    databaseUrl: c.ADVANCES_DATABASE_URL,
    accountsAddress: c.ACCOUNTS_GRPC_ADDR,
    ledgerCallTimeoutMs: c.LEDGER_CALL_TIMEOUT,
    temporalAddress: c.TEMPORAL_ADDRESS,
    temporalNamespace: c.TEMPORAL_NAMESPACE,
    taskQueue: TASK_QUEUE,
    paymentIntervalMs: c.ADVANCE_PAYMENT_INTERVAL,
    installments: c.ADVANCE_INSTALLMENTS,
    reconciliationIntervalMs: c.RECONCILIATION_INTERVAL === 'off' ? null : c.RECONCILIATION_INTERVAL,
    reconciliationStuckAfterMs: c.RECONCILIATION_STUCK_AFTER,
    reconciliationFullSweepEveryMs: c.RECONCILIATION_FULL_SWEEP_INTERVAL,
    reconciliationScanOverlapMs: c.RECONCILIATION_SCAN_OVERLAP,
    reportWindowMs: c.REPORT_WINDOW,
    minAmountMinor: c.ADVANCE_MIN_AMOUNT,
    maxAmountMinor: c.ADVANCE_MAX_AMOUNT,
    maxOpenPerAccount: c.ADVANCE_MAX_OPEN_PER_ACCOUNT,
    databasePoolSize: c.ADVANCES_DB_POOL_SIZE,
    statementTimeoutMs: c.ADVANCES_STATEMENT_TIMEOUT,
    workerCachedWorkflows: c.ADVANCES_WORKER_CACHED_WORKFLOWS,
    shutdownGraceMs: c.SHUTDOWN_GRACE,
    logLevel: c.LOG_LEVEL,
    tls,
    ledgerTls: clientTlsFrom('LEDGER', c),
    ledgerAuthToken: c.LEDGER_AUTH_TOKEN ?? null,
    // By default any authenticated caller may use the advances API.
    authorization: c.ADVANCES_AUTH ? authorizationPolicyFrom('ADVANCES', c, ADVANCES_METHODS, { '*': ['*'] }) : null,
  };
}

/** What a reconciliation run takes from the configuration (the worker's activity, and tests that call a run directly). */
export function reconciliationSettingsOf(config: AdvancesConfig) {
  return {
    taskQueue: config.taskQueue,
    reportWindowMs: config.reportWindowMs,
    stuckAfterMs: config.reconciliationStuckAfterMs,
    fullSweepEveryMs: config.reconciliationFullSweepEveryMs,
    scanOverlapMs: config.reconciliationScanOverlapMs,
  };
}
