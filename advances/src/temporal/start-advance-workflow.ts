import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { AdvanceWorkflowInput } from '../domain/advance-types.js';
import type { advanceWorkflow } from '../workflows/advance.workflow.js';
import { formatMinorUnits } from '../domain/schedule.js';
import { ADVANCE_ACCOUNT_ID, ADVANCE_STATUS } from '../workflows/search-attributes.js';
import { workflowIdOf } from './workflow-ids.js';

/**
 * How long one start may take. A reply lost on a live connection would
 * otherwise hold the caller until gRPC keepalive gives up (~45 s); the caller
 * is told UNAVAILABLE instead and retries with its request id.
 */
const START_DEADLINE_MS = 10_000;

/**
 * Starts `advance-<advance_id>`. Temporal refuses a second workflow with that
 * id whatever its state (REJECT_DUPLICATE), so starting again — after a crash
 * between recording the advance and starting it, or on a replayed request —
 * is harmless: "already started" counts as started.
 */
export async function startAdvanceWorkflow(
  temporal: Client,
  taskQueue: string,
  input: AdvanceWorkflowInput,
): Promise<void> {
  try {
    await temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      temporal.workflow.start<typeof advanceWorkflow>('advanceWorkflow', {
        workflowId: workflowIdOf(input.advanceId),
        taskQueue,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: ADVANCE_ACCOUNT_ID, value: input.accountId },
          { key: ADVANCE_STATUS, value: 'DISBURSING' },
        ],
        staticSummary: `Advance of ${formatMinorUnits(input.amount)} to account ${input.accountId}, ${input.installments} payments`,
      }),
    );
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return;
    throw error;
  }
}
