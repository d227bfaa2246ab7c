import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { Logger } from '@alfabet/proto/logger';
import type { LedgerClient } from '../ledger/ledger-client.js';
import type { AdvancesMetrics } from '../metrics.js';
import { openAdvancesPage, storeFindings } from '../reconciliation/open-advances.js';
import { reconcileAdvance } from '../reconciliation/reconcile-advance.js';
import type { ReconciliationSummary } from './types.js';

const PAGE_SIZE = 200;

export interface ReconciliationActivityDeps {
  pool: pg.Pool;
  ledger: LedgerClient;
  log: Logger;
  metrics: AdvancesMetrics;
}

export function reconciliationActivities({ pool, ledger, log, metrics }: ReconciliationActivityDeps) {
  return {
    /**
     * Checks every advance not yet repaid (see reconcileAdvance). Each
     * mismatch is an alert: a critical log line naming the advance, the
     * mismatch counter, and a stored finding.
     */
    async reconcileAdvances(): Promise<ReconciliationSummary> {
      const context = Context.current();
      const runId = context.info.workflowExecution?.runId ?? `activity-${context.info.activityId}`;
      const correlationId = `reconciliation/${runId}`;
      let checked = 0;
      let findings = 0;
      let afterId: string | null = null;
      for (;;) {
        const page = await openAdvancesPage(pool, afterId, PAGE_SIZE);
        if (page.length === 0) break;
        for (const advance of page) {
          const found = await reconcileAdvance(advance, (id) => ledger.getTransaction(id, correlationId));
          for (const finding of found) {
            metrics.reconciliationMismatches.inc({ kind: finding.kind });
            log.fatal({ alert: 'advance_reconciliation_mismatch', severity: 'CRITICAL', runId, ...finding },
              `reconciliation: advance ${finding.advanceId} does not add up (${finding.kind})`);
          }
          await storeFindings(pool, runId, found);
          findings += found.length;
          checked++;
        }
        afterId = page.at(-1)!.advanceId;
        context.heartbeat({ checked });
      }
      metrics.reconciliationRuns.inc();
      log.info({ runId, advancesChecked: checked, findings }, 'reconciliation finished');
      return { runId, advancesChecked: checked, findings };
    },
  };
}
