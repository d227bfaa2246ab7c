import type { Logger } from '@alfabet/service-kit/logger';
import { startMetricsEndpoint } from '@alfabet/service-kit/metrics-server';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { createActivities } from './activities/index.js';
import { reconciliationSettingsOf, type AdvancesConfig } from './config.js';
import { openAdvancesDatabase } from './db/advances-database.js';
import type { AdvancesOrm } from './db/orm.js';
import { createLedgerClient, ledgerConnectionOf, type LedgerClient } from './ledger/ledger-client.js';
import { createAdvancesMetrics, registerReconciliationGauges, type AdvancesMetrics } from './metrics.js';
import { ensureReconciliationSchedule } from './temporal/reconciliation-schedule.js';
import { workflowCodeOption } from './temporal/workflow-code.js';

/** The workflow bundle's entry (tests bundle or replay from it). */
export { workflowsPath } from './temporal/workflow-code.js';

export interface AdvancesWorker {
  worker: Worker;
  orm: AdvancesOrm;
  pool: pg.Pool;
  metrics: AdvancesMetrics;
  metricsPort: number | null;
  /** Resolves when the worker has stopped (after stop(), or on a fatal error). */
  finished: Promise<void>;
  /** Graceful stop: finish running activities (up to the grace time), then close. */
  stop(): Promise<void>;
}

export interface WorkerOverrides {
  /** An existing Temporal connection (tests use TestWorkflowEnvironment's). */
  connection?: NativeConnection;
  client?: Client;
  /** Wraps the ledger client (tests: a network that loses replies). */
  wrapLedger?: (ledger: LedgerClient) => LedgerClient;
  workerOptions?: Partial<WorkerOptions>;
}

/** Wires the Temporal worker: database, ledger client, activities, the reconciliation Schedule. */
export async function startAdvancesWorker(
  config: AdvancesConfig,
  log: Logger,
  overrides: WorkerOverrides = {},
): Promise<AdvancesWorker> {
  const { orm, pool } = await openAdvancesDatabase(config, log);
  const ledgerClient = createLedgerClient(ledgerConnectionOf(config));
  const ledger = overrides.wrapLedger ? overrides.wrapLedger(ledgerClient) : ledgerClient;
  const metrics = createAdvancesMetrics();
  const connection = overrides.connection ?? (await NativeConnection.connect({ address: config.temporalAddress }));

  // Activities ask Temporal about advance workflows (reconciliation) over the worker's own connection.
  const temporal = overrides.client ?? new Client({ connection, namespace: config.temporalNamespace });
  if (config.reconciliationIntervalMs !== null) {
    await ensureReconciliationSchedule(temporal, config.taskQueue, config.reconciliationIntervalMs, log);
  }
  registerReconciliationGauges(metrics.registry, orm.em, config.reconciliationIntervalMs);

  const worker = await createWorker(
    config,
    log,
    { connection, em: orm.em, pool, ledger, metrics, temporal },
    overrides.workerOptions,
  );
  const metricsEndpoint = await startMetricsEndpoint(config.workerMetricsAddress, metrics.registry);
  const finished = worker.run();
  log.info(
    { taskQueue: config.taskQueue, namespace: config.temporalNamespace, metricsPort: metricsEndpoint.port },
    'worker running',
  );

  let closed: Promise<void> | null = null;
  const close = async () => {
    await finished.catch(() => undefined);
    await metricsEndpoint.close();
    ledger.close();
    if (!overrides.connection) await connection.close();
    await orm.close(true);
  };
  return {
    worker,
    orm,
    pool,
    metrics,
    metricsPort: metricsEndpoint.port,
    finished,
    stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      closed ??= close();
      return closed;
    },
  };
}

/** What the worker's activities are made of. */
interface WorkerParts {
  connection: NativeConnection;
  em: EntityManager;
  pool: pg.Pool;
  ledger: LedgerClient;
  metrics: AdvancesMetrics;
  temporal: Client;
}

/** The Temporal worker on the task queue: the workflow bundle, the activities, and how fast a dead worker is noticed. */
async function createWorker(
  config: AdvancesConfig,
  log: Logger,
  { connection, em, pool, ledger, metrics, temporal }: WorkerParts,
  workerOptions: Partial<WorkerOptions> = {},
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    // The bundle npm run build wrote, or (under jest) the sources bundled now: temporal/workflow-code.ts.
    ...workflowCodeOption(),
    activities: createActivities({
      em,
      pool,
      ledger,
      log,
      metrics,
      temporal,
      ...reconciliationSettingsOf(config),
    }),
    shutdownGraceTime: config.shutdownGraceMs,
    // A worker that died mid-payment is noticed by its missing heartbeat (3 s): send them at least every second,
    // and hand a dead worker's cached workflows to another one after 3 s rather than the default 10 s.
    maxHeartbeatThrottleInterval: '1 second',
    stickyQueueScheduleToStartTimeout: '3 seconds',
    // A bound on the workflows kept in memory between tasks (ADVANCES_WORKER_CACHED_WORKFLOWS, default 250).
    // The SDK's default is sized from the heap limit (2 311 with Node's 4 GiB default) — effectively every
    // advance in flight. An advance sleeps a week between payments, far longer than keeping it cached is
    // worth: one that is not cached replays its history (tens of events) when it wakes. Measured with
    // 1 000 advances in flight, payments 1 s apart: 250 and 1 000 cached, the same peak (343 / 349 MiB)
    // and throughput (27.4 / 27.1 ledger activities/s) — the memory went to webpack bundling at start,
    // the young generation, garbage and malloc arenas instead (temporal/workflow-code.ts,
    // scripts/service-runtime.mjs; docs/benchmarks.md "Memory").
    maxCachedWorkflows: config.workerCachedWorkflows,
    ...workerOptions,
  });
}
