import { createRpcMetrics, type RpcMetrics } from '@alfabet/service-kit/grpc-observability';
import { createMetricsRegistry } from '@alfabet/service-kit/metrics-server';
import { Counter, type Registry } from 'prom-client';

/** What accounts-manager exports to Prometheus (besides the process defaults). */
export interface AccountsMetrics {
  registry: Registry;
  rpc: RpcMetrics;
  /** Transfer and BankTransaction answers, by kind and outcome (a replayed request_id counts again). */
  transactions: Counter<'kind' | 'status' | 'failure_reason'>;
  /** Pages ListTransactions read from the database. */
  reportPages: Counter;
}

export function createAccountsMetrics(): AccountsMetrics {
  const registry = createMetricsRegistry({ service: 'accounts-manager' });
  return {
    registry,
    rpc: createRpcMetrics(registry),
    transactions: new Counter({
      name: 'ledger_transactions_total',
      help: 'Transfer and BankTransaction answers by kind and outcome; replays of a request_id count again',
      labelNames: ['kind', 'status', 'failure_reason'],
      registers: [registry],
    }),
    reportPages: new Counter({
      name: 'ledger_report_pages_total',
      help: 'Pages ListTransactions read from the database (at most one ahead of what it streamed)',
      registers: [registry],
    }),
  };
}
