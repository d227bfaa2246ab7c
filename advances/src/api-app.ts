import { AdvancesServiceService } from '@alfabet/proto/advances/v1';
import { guardedService, startGrpcServer, type RunningGrpcServer } from '@alfabet/service-kit/grpc-server';
import { serverCredentials, transportOf } from '@alfabet/service-kit/tls';
import type { Logger } from '@alfabet/service-kit/logger';
import { startMetricsEndpoint } from '@alfabet/service-kit/metrics-server';
import { PROTO_FILES } from '@alfabet/proto/paths';
import { Client, Connection } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { advancesService } from './api/advances-service.js';
import type { AdvancesConfig } from './config.js';
import { openAdvancesDatabase } from './db/advances-database.js';
import type { AdvancesOrm } from './db/orm.js';
import { createLedgerClient, ledgerConnectionOf, type LedgerClient } from './ledger/ledger-client.js';
import { createAdvancesMetrics, type AdvancesMetrics } from './metrics.js';

export const ADVANCES_SERVICE_NAME = 'alfabet.advances.v1.AdvancesService';

export interface AdvancesApi {
  grpc: RunningGrpcServer;
  orm: AdvancesOrm;
  pool: pg.Pool;
  temporal: Client;
  metrics: AdvancesMetrics;
  metricsPort: number | null;
  /** Graceful stop: drain gRPC calls, then close the clients and the database. */
  stop(): Promise<void>;
}

/** Wires the advances gRPC API: database, ledger client, Temporal client, server with reflection and health. */
export async function startAdvancesApi(
  config: AdvancesConfig,
  log: Logger,
  overrides: { temporal?: Client } = {},
): Promise<AdvancesApi> {
  const { orm, pool } = await openAdvancesDatabase(config, log);
  // Tests pass the time-skipping environment's client; otherwise connect to TEMPORAL_ADDRESS.
  const connection = overrides.temporal ? null : await Connection.connect({ address: config.temporalAddress });
  const temporal = overrides.temporal ?? new Client({ connection: connection!, namespace: config.temporalNamespace });
  const ledger = createLedgerClient(ledgerConnectionOf(config));
  const metrics = createAdvancesMetrics();
  const grpc = await startAdvancesGrpc(config, log, { em: orm.em, ledger, temporal, metrics });
  const metricsEndpoint = await startMetricsEndpoint(config.metricsAddress, metrics.registry);
  const transport = transportOf(config.tls);
  log.info(
    {
      address: config.grpcAddress,
      port: grpc.port,
      metricsPort: metricsEndpoint.port,
      temporal: config.temporalAddress,
      transport,
      authorization: config.authorization ? 'on' : 'off',
    },
    'advances API listening',
  );

  return {
    grpc,
    orm,
    pool,
    temporal,
    metrics,
    metricsPort: metricsEndpoint.port,
    async stop() {
      await grpc.shutdown(config.shutdownGraceMs);
      await metricsEndpoint.close();
      ledger.close();
      await connection?.close();
      await orm.close(true);
    },
  };
}

/** The AdvancesService on a gRPC server (reflection and health included), observed and authorized. */
async function startAdvancesGrpc(
  config: AdvancesConfig,
  log: Logger,
  {
    em,
    ledger,
    temporal,
    metrics,
  }: { em: EntityManager; ledger: LedgerClient; temporal: Client; metrics: AdvancesMetrics },
): Promise<RunningGrpcServer> {
  const implementation = advancesService({
    em,
    ledger,
    temporal,
    taskQueue: config.taskQueue,
    log,
    metrics,
    policy: {
      minAmountMinor: config.minAmountMinor,
      maxAmountMinor: config.maxAmountMinor,
      maxOpenPerAccount: config.maxOpenPerAccount,
      installments: config.installments,
      paymentIntervalMs: config.paymentIntervalMs,
    },
  });
  return startGrpcServer({
    address: config.grpcAddress,
    services: [
      guardedService(ADVANCES_SERVICE_NAME, AdvancesServiceService, implementation, config.authorization, {
        metrics: metrics.rpc,
        log,
      }),
    ],
    protoFiles: [PROTO_FILES.advances],
    credentials: serverCredentials(config.tls),
  });
}
