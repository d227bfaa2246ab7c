import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ReconciliationSummary } from '../domain/advance-types.js';

const { reconcileAdvances } = proxyActivities<Activities>({
  // Checks every open advance against the ledger: may take a while, reports progress.
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes', maximumAttempts: 5 },
});

/**
 * Started by the reconciliation Schedule every RECONCILIATION_INTERVAL: checks
 * that each advance not yet repaid still adds up, and that its paid payments
 * and disbursement match the ledger. Mismatches are alerted by the activity.
 */
export async function reconciliationWorkflow(): Promise<ReconciliationSummary> {
  return reconcileAdvances();
}
