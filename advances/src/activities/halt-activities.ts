import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '@alfabet/service-kit/logger';
import { raiseFindings, resolveFinding } from '../db/findings-store.js';
import type { Finding } from '../reconciliation/findings.js';

/** Where an advance workflow stopped and why (travels as JSON in the workflow history). */
export interface WorkflowHaltInput {
  advanceId: string;
  /** "disbursement" or "payment 3". */
  step: string;
  /** The failure's type and message, e.g. "LedgerRejectedRequest: the ledger rejected the request: amount …". */
  cause: string;
}

export interface HaltActivityDeps {
  em: EntityManager;
  log: Logger;
}

/** The one open finding a halted advance workflow owns: raised when it stops, resolved when ops resume it. */
const haltKey = (advanceId: string) => ({ advanceId, kind: 'WORKFLOW_HALTED', subject: 'workflow' }) as const;

/** The finding's "run": the workflow that raised it, not a reconciliation run. */
const haltRunId = (advanceId: string) => `workflow/advance-${advanceId}`;

/**
 * What an advance workflow does when a money step failed for good (the ledger
 * rejected the request, or the projection refused a guarded transition): it
 * stops where it is, alerts, and waits for ops to repair the cause and send
 * the `resume` signal. Both activities are idempotent (the open finding is
 * unique per advance), so a retry raises or resolves nothing twice.
 */
export function haltActivities({ em, log }: HaltActivityDeps) {
  return {
    /** Raises the WORKFLOW_HALTED finding and writes the critical alert line. */
    async reportWorkflowHalt(input: WorkflowHaltInput): Promise<void> {
      const finding: Finding = {
        ...haltKey(input.advanceId),
        severity: 'CRITICAL',
        detail:
          `${input.step} failed and will not be retried until repaired: ${input.cause}. ` +
          `After repairing the cause: temporal workflow signal --workflow-id advance-${input.advanceId} --name resume`,
      };
      const raised = await raiseFindings(em, haltRunId(input.advanceId), [finding]);
      // A retry of this activity after the finding was stored alerts no second time.
      if (raised.length === 0) return;
      log.fatal(
        {
          alert: 'advance_workflow_halted',
          severity: 'CRITICAL',
          advanceId: input.advanceId,
          workflowId: `advance-${input.advanceId}`,
          step: input.step,
          cause: input.cause,
          kind: finding.kind,
        },
        `advance ${input.advanceId} halted at ${input.step}: ${input.cause}`,
      );
    },

    /** Resolves the WORKFLOW_HALTED finding: ops resumed the workflow, which retries the step. */
    async resolveWorkflowHalt(input: Pick<WorkflowHaltInput, 'advanceId' | 'step'>): Promise<void> {
      const resolved = await resolveFinding(em, haltKey(input.advanceId));
      log.info(
        { advanceId: input.advanceId, step: input.step, resolved },
        `advance ${input.advanceId} resumed: retrying ${input.step}`,
      );
    },
  };
}

/** The halt activities' signatures: what the advance workflow proxies (types only). */
export type HaltActivities = ReturnType<typeof haltActivities>;
