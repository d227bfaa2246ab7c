import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { createRpcMetrics, type RpcMetrics } from '@alfabet/proto/grpc-observability';

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
      name: 'advances_requested_total', help: 'RequestAdvance outcomes (created, replayed)',
      labelNames: ['outcome'], registers: [registry],
    }),
    disbursements: new Counter({
      name: 'advances_disbursements_total', help: 'Disbursements by ledger outcome', labelNames: ['status'], registers: [registry],
    }),
    payments: new Counter({
      name: 'advances_payments_total', help: 'Payments collected by ledger outcome (paid, failed)', labelNames: ['status'], registers: [registry],
    }),
    reconciliationRuns: new Counter({ name: 'advances_reconciliation_runs_total', help: 'Reconciliation runs finished', registers: [registry] }),
    reconciliationMismatches: new Counter({
      name: 'advances_reconciliation_mismatches_total', help: 'Advances found not adding up, by kind of mismatch',
      labelNames: ['kind'], registers: [registry],
    }),
  };
}
