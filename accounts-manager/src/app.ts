import { PROTO_FILES } from '@alfabet/proto/paths';
import { guardedService, startGrpcServer, type RunningGrpcServer } from '@alfabet/service-kit/grpc-server';
import { serverCredentials, transportOf } from '@alfabet/service-kit/tls';
import { startMetricsEndpoint } from '@alfabet/service-kit/metrics-server';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { AccountsConfig } from './config.js';
import { openDatabase, type LedgerOrm, type OrmOptions } from './db/orm.js';
import { openReportPool, warmReportPool } from './db/report-pool.js';
import { ensureTransactionPartitions } from './db/partitions.sql.js';
import { archiveDueDays } from './db/archive.sql.js';
import { enterLedgerEpoch, KnownLedgerEpochs, refuseOtherClusters } from './db/ledger-epochs.sql.js';
import { accountsService } from './grpc/accounts-service.js';
import { groupCommits } from './ledger/group-posting.js';
import { ACCOUNTS_SERVICE_DEFINITION, listTransactions } from './grpc/list-transactions.js';
import { maintainReportCounts, REPORT_COUNTS_INTERVAL_MS } from './db/report-counts.sql.js';
import { compactLiveCounts, COMPACT_INTERVAL_MS } from './db/report-live-counts.sql.js';
import { ReportIssuer } from './db/report-horizon.sql.js';
import { START_TIME_GRACE_MS } from './reports/report-request.js';
import { ReportTokens } from './reports/report-tokens.js';
import type { Logger } from './logger.js';
import { createAccountsMetrics, type AccountsMetrics } from './metrics.js';

export const ACCOUNTS_SERVICE_NAME = 'alfabet.accounts.v1.AccountsService';
const PARTITION_MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;

export interface AccountsApp {
  grpc: RunningGrpcServer;
  orm: LedgerOrm;
  pool: pg.Pool;
  /** The report's own connections (db/report-pool.ts). */
  reportPool: pg.Pool;
  metrics: AccountsMetrics;
  /** The bound /metrics port, when the endpoint is on. */
  metricsPort: number | null;
  /** Graceful stop: drain gRPC calls, then close the database. */
  stop(): Promise<void>;
}

/**
 * Wires the service: database (created and migrated if needed), partitions,
 * gRPC server with reflection and health. Used by main.ts and by the tests.
 */
export async function startAccountsApp(config: AccountsConfig, log: Logger): Promise<AccountsApp> {
  const databaseOptions = ledgerDatabaseOptions(config);
  // The database: created if missing, migrated, with the native pool the hot path uses.
  const { orm, pool } = await openDatabase(databaseOptions, log);
  const reportPool = openReportPool(databaseOptions, (error) =>
    log.warn({ err: error }, 'a report database connection broke while idle'),
  );
  await enterEpoch([pool, reportPool], log);
  await warmReportConnections(reportPool, config.reportWindowMs, log);
  const maintenance = await startMaintenance(pool, config, log);
  const metrics = createAccountsMetrics(() => archiveDueDays(pool));
  // Recorded before serving: transactions:archive reads the report horizon from it.
  const issuer = new ReportIssuer(pool, config.reportWindowMs + START_TIME_GRACE_MS, config.reportTokenTtlMs);
  await issuer.record();
  const grpc = await startAccountsGrpc(config, log, { pool, reportPool, em: orm.em }, metrics, issuer);
  logAuthorization(config, log);
  const metricsEndpoint = await startMetricsEndpoint(config.metricsAddress, metrics.registry);
  log.info(
    { address: config.grpcAddress, port: grpc.port, metricsPort: metricsEndpoint.port },
    'accounts-manager listening',
  );

  return {
    grpc,
    orm,
    pool,
    reportPool,
    metrics,
    metricsPort: metricsEndpoint.port,
    async stop() {
      const maintenanceDone = maintenance.stop();
      await grpc.shutdown(config.shutdownGraceMs);
      await maintenanceDone;
      await metricsEndpoint.close();
      await reportPool.end();
      await orm.close(true);
    },
  };
}

/**
 * The report pool's connections opened and its statements planned before the first listing
 * (db/report-pool.ts). A failure costs only speed: the listings open their own connections.
 */
async function warmReportConnections(reportPool: pg.Pool, windowMs: number, log: Logger): Promise<void> {
  const started = performance.now();
  try {
    await warmReportPool(reportPool, windowMs);
    log.info(
      { connections: reportPool.totalCount, ms: Math.round(performance.now() - started) },
      'report connections warmed',
    );
  } catch (error) {
    log.warn({ err: error }, 'could not warm the report connections: the first listings will open their own');
  }
}

function ledgerDatabaseOptions(config: AccountsConfig): OrmOptions {
  return {
    databaseUrl: config.databaseUrl,
    poolSize: config.databasePoolSize,
    statementTimeoutMs: config.statementTimeoutMs,
  };
}

/**
 * Before anything is written or reported: the ledger's epoch must be this
 * cluster's (a new one begins after a restore into another cluster), and the
 * pools refuse connections that reach any other cluster from now on.
 */
async function enterEpoch(pools: [pg.Pool, ...pg.Pool[]], log: Logger): Promise<void> {
  const entered = await enterLedgerEpoch(pools[0]);
  if (entered.began) {
    log.warn(
      { epoch: entered.epoch, cluster: entered.cluster, previous: entered.previous },
      'began a new ledger epoch: this database was restored into another PostgreSQL cluster',
    );
  } else {
    log.info({ epoch: entered.epoch, cluster: entered.cluster }, 'ledger epoch');
  }
  for (const pool of pools) {
    refuseOtherClusters(pool, entered, (cluster) =>
      log.error(
        { epoch: entered.epoch, expected: entered.cluster, cluster },
        'refused a database connection to another PostgreSQL cluster: restart accounts-manager to begin a new ledger epoch there',
      ),
    );
  }
}

/** Background upkeep of the ledger tables; stop() ends the timers and resolves when the run in flight is over. */
interface Maintenance {
  stop(): Promise<void>;
}

/**
 * Creates the transaction partitions due now (awaited: transfers need them),
 * then keeps creating them hourly and keeps the report's minute counts up to date.
 */
async function startMaintenance(pool: pg.Pool, config: AccountsConfig, log: Logger): Promise<Maintenance> {
  const created = await ensureTransactionPartitions(pool);
  if (created > 0) log.info({ created }, 'created transaction partitions');
  const partitions = setInterval(() => {
    ensureTransactionPartitions(pool).catch((error: unknown) =>
      log.error({ err: error }, 'partition maintenance failed'),
    );
  }, PARTITION_MAINTENANCE_INTERVAL_MS);
  partitions.unref();
  const counts = maintainReportCountsPeriodically(pool, config, log);
  const compaction = runPeriodically(compactLiveCountsQuietly(pool, log), COMPACT_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(partitions);
      await Promise.all([counts.stop(), compaction.stop()]);
    },
  };
}

/**
 * Sealed minute counts keep a report's first page fast; they are kept from window + 1 h back.
 * Start-up does not wait for them (totals are exact without them, only slower), and stop() waits for the run in flight.
 */
function maintainReportCountsPeriodically(pool: pg.Pool, config: AccountsConfig, log: Logger): Maintenance {
  const maintainCounts = () =>
    maintainReportCounts(pool, new Date(Date.now() - config.reportWindowMs - 60 * 60 * 1000))
      .then(({ marked, sealed }) => {
        if (marked + sealed > 0) log.debug({ marked, sealed }, 'report minute counts');
      })
      .catch((error: unknown) => log.error({ err: error }, 'report count maintenance failed'));
  return runPeriodically(maintainCounts, REPORT_COUNTS_INTERVAL_MS);
}

/**
 * One compaction of the live counts (db/report-live-counts.sql.ts), every second: a failure is
 * logged when it starts, then once a minute while it lasts, and the recovery once — not 60 lines a minute.
 */
function compactLiveCountsQuietly(pool: pg.Pool, log: Logger): () => Promise<void> {
  let failures = 0;
  return () =>
    compactLiveCounts(pool).then(
      (compaction) => {
        if (failures > 0) log.info({ failures }, 'report live count compaction recovered');
        failures = 0;
        if (compaction?.vacuumed) log.debug(compaction, 'report live counts compacted and vacuumed');
      },
      (error: unknown) => {
        if (failures++ % 60 === 0) log.error({ err: error, failures }, 'report live count compaction failed');
      },
    );
}

/** Runs `run` now and then every `intervalMs`, one run at a time; stop() waits for the run in flight. */
function runPeriodically(run: () => Promise<void>, intervalMs: number): Maintenance {
  let running = run();
  const timer = setInterval(() => {
    running = running.then(run);
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return running;
    },
  };
}

/** The AccountsService on a gRPC server (reflection and health included), observed and authorized. */
async function startAccountsGrpc(
  config: AccountsConfig,
  log: Logger,
  { pool, reportPool, em }: { pool: pg.Pool; reportPool: pg.Pool; em: EntityManager },
  metrics: AccountsMetrics,
  issuer: ReportIssuer,
): Promise<RunningGrpcServer> {
  const implementation = accountsService({
    pool,
    em,
    maxAmountMinor: config.maxAmountMinor,
    maxBatchSize: config.maxBatchSize,
    groupCommit: config.groupCommit
      ? groupCommits({ pool, maxAmountMinor: config.maxAmountMinor }, config.maxBatchSize)
      : null,
    log,
    metrics,
    listTransactions: listTransactions({
      pool,
      windowPool: reportPool,
      tokens: new ReportTokens(config.reportTokenSecret, config.reportTokenTtlMs),
      issuer,
      epochs: new KnownLedgerEpochs(pool),
      windowMs: config.reportWindowMs,
      log,
      pagesFetched: metrics.reportPages,
    }),
  });
  return startGrpcServer({
    address: config.grpcAddress,
    services: [
      guardedService(ACCOUNTS_SERVICE_NAME, ACCOUNTS_SERVICE_DEFINITION, implementation, config.authorization, {
        metrics: metrics.rpc,
        log,
      }),
    ],
    protoFiles: [PROTO_FILES.accounts],
    credentials: serverCredentials(config.tls),
  });
}

/** Says at start whether callers are checked: an open ledger should be a visible choice. */
function logAuthorization(config: AccountsConfig, log: Logger): void {
  const transport = transportOf(config.tls);
  if (config.authorization)
    log.info({ transport }, 'authorization on: callers are identified and checked against the policy');
  else log.warn({ transport }, 'authorization off: any caller may call any method (set ACCOUNTS_AUTH=on)');
}
