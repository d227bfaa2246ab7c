import { Context } from '@temporalio/activity';
import type { Logger } from '@alfabet/service-kit/logger';
import type { AdvancesMetrics } from '../metrics.js';
import {
  NO_PROGRESS,
  runReconciliation,
  type ReconciliationDeps,
  type RunProgress,
} from '../reconciliation/reconciliation-run.js';
import type { ReconciliationSummary } from '../domain/advance-types.js';

export interface ReconciliationActivityDeps extends ReconciliationDeps {
  log: Logger;
  metrics: AdvancesMetrics;
}

export function reconciliationActivities(deps: ReconciliationActivityDeps) {
  const { log, metrics } = deps;
  return {
    /**
     * Reconciles every advance in scope (see runReconciliation). A finding
     * raised for the first time is an alert: a critical log line naming the
     * advance, the mismatch counter, and the stored finding that the open
     * findings gauge (and so the Prometheus rule) reads. A retried attempt
     * resumes from its last heartbeat and raises nothing twice.
     */
    async reconcileAdvances(): Promise<ReconciliationSummary> {
      const context = Context.current();
      const runId = context.info.workflowExecution?.runId ?? `activity-${context.info.activityId}`;
      const resumeFrom = (context.info.heartbeatDetails as RunProgress | undefined) ?? NO_PROGRESS;
      if (resumeFrom !== NO_PROGRESS)
        log.info({ runId, resumeFrom }, 'reconciliation resumes where its last attempt stopped');
      const done = await runReconciliation(deps, runId, resumeFrom, {
        progressed: (progress) => context.heartbeat(progress),
        raised: (finding) => {
          metrics.reconciliationMismatches.inc({ kind: finding.kind });
          log.fatal(
            { alert: 'advance_reconciliation_mismatch', runId, ...finding },
            `reconciliation: advance ${finding.advanceId} ${finding.kind} (${finding.subject})`,
          );
        },
        resolved: (finding) =>
          log.info(
            { runId, advanceId: finding.advanceId, kind: finding.kind, subject: finding.subject },
            'reconciliation finding resolved',
          ),
      });
      metrics.reconciliationRuns.inc();
      const summary = {
        runId,
        advancesChecked: done.advancesChecked,
        findingsRaised: done.findingsRaised,
        findingsResolved: done.findingsResolved,
      };
      log.info(summary, 'reconciliation finished');
      return summary;
    },
  };
}
