import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { openFindingCounts } from './db/findings-store.js';
import { lastSuccessfulRun } from './db/reconciliation-store.js';
import { createRpcMetrics, type RpcMetrics } from '@alfabet/service-kit/grpc-observability';

/** What the advances processes count, for Prometheus (/metrics). */
export interface AdvancesMetrics {
  registry: Registry;
  rpc: RpcMetrics;
  advancesRequested: Counter<'outcome'>;
  disbursements: Counter<'status'>;
  payments: Counter<'status'>;
  reconciliationRuns: Counter;
  reconciliationMismatches: Counter<'kind'>;
}

export function createAdvancesMetrics(): AdvancesMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    rpc: createRpcMetrics(registry),
    advancesRequested: new Counter({
      name: 'advances_requested_total',
      help: 'RequestAdvance outcomes (created, replayed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    disbursements: new Counter({
      name: 'advances_disbursements_total',
      help: 'Disbursements by ledger outcome',
      labelNames: ['status'],
      registers: [registry],
    }),
    payments: new Counter({
      name: 'advances_payments_total',
      help: 'Payments collected by ledger outcome (paid, failed)',
      labelNames: ['status'],
      registers: [registry],
    }),
    reconciliationRuns: new Counter({
      name: 'advances_reconciliation_runs_total',
      help: 'Reconciliation runs finished',
      registers: [registry],
    }),
    reconciliationMismatches: new Counter({
      name: 'advances_reconciliation_mismatches_total',
      help: 'Advances found not adding up, by kind of mismatch',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

/**
 * The reconciliation's state for the alert rules (deploy/prometheus), read from
 * the database at scrape time: it is the same whichever worker ran the last
 * reconciliation, and survives restarts.
 */
export function registerReconciliationGauges(registry: Registry, em: EntityManager, intervalMs: number | null): void {
  new Gauge({
    name: 'advances_reconciliation_findings_open',
    help: 'Reconciliation findings not yet resolved, by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      for (const [kind, open] of await openFindingCounts(em)) this.set({ kind }, open);
    },
  });
  new Gauge({
    name: 'advances_reconciliation_last_success_timestamp_seconds',
    help: 'When a reconciliation run last finished (unix seconds; 0: never)',
    registers: [registry],
    async collect() {
      const finished = await lastSuccessfulRun(em);
      this.set(finished ? finished.getTime() / 1000 : 0);
    },
  });
  if (intervalMs !== null) {
    new Gauge({
      name: 'advances_reconciliation_interval_seconds',
      help: 'RECONCILIATION_INTERVAL, the time between reconciliation runs',
      registers: [registry],
    }).set(intervalMs / 1000);
  }
}
