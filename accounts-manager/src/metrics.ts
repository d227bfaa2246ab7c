import { createRpcMetrics, type RpcMetrics } from '@alfabet/service-kit/grpc-observability';
import { createMetricsRegistry } from '@alfabet/service-kit/metrics-server';
import { Counter, Gauge, type Registry } from 'prom-client';

/** What accounts-manager exports to Prometheus (besides the process defaults). */
export interface AccountsMetrics {
  registry: Registry;
  rpc: RpcMetrics;
  /** Transfer and BankTransaction answers, by kind and outcome (a replayed request_id counts again). */
  transactions: Counter<'kind' | 'status' | 'failure_reason'>;
  /** Pages ListTransactions read from the database. */
  reportPages: Counter;
  /** Hot days the archive would move now, read from the database at each scrape. */
  archiveDueDays: Gauge;
}

/**
 * `countArchiveDueDays`: db/archive.sql.ts's archiveDueDays, read at each scrape (a catalog query
 * and the horizon's row). When the database cannot answer, the gauge keeps its last value: the
 * scrape still succeeds, and the outage shows in the ledger's other alerts.
 */
export function createAccountsMetrics(countArchiveDueDays: () => Promise<number>): AccountsMetrics {
  const registry = createMetricsRegistry({ service: 'accounts-manager' });
  let archiveDueDays = 0;
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
      help: 'Pages ListTransactions read from the database (at most one read ahead of what it streamed)',
      registers: [registry],
    }),
    archiveDueDays: new Gauge({
      name: 'ledger_archive_due_days',
      help: 'Hot days of transactions whose day ended before the report horizon: what transactions:archive would move now',
      registers: [registry],
      async collect() {
        archiveDueDays = await countArchiveDueDays().catch(() => archiveDueDays);
        this.set(archiveDueDays);
      },
    }),
  };
}
