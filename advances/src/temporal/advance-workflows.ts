import { status } from '@grpc/grpc-js';
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { workflowIdOf } from './workflow-ids.js';

/** Where an advance's workflow is, as Temporal says: its status name, or MISSING. */
export type WorkflowState =
  | 'RUNNING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'TERMINATED'
  | 'CONTINUED_AS_NEW'
  | 'TIMED_OUT'
  | 'MISSING'
  | 'UNKNOWN';

/** Asks Temporal for the latest run of `advance-<advanceId>`. */
export async function advanceWorkflowState(client: Client, advanceId: string): Promise<WorkflowState> {
  try {
    const description = await client.workflow.getHandle(workflowIdOf(advanceId)).describe();
    return description.status.name as WorkflowState;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'MISSING';
    throw error;
  }
}

/**
 * Which of these advances Temporal's visibility lists with a running
 * `advanceWorkflow`: one call for a whole page of advances instead of a
 * describe each. Visibility is eventually consistent, so only a listed
 * workflow proves anything; the caller describes every advance not listed
 * before it reports one. Null when the server has no visibility listing (the
 * time-skipping test server): describe them all.
 */
export async function advancesListedRunning(client: Client, advanceIds: string[]): Promise<Set<string> | null> {
  if (advanceIds.length === 0) return new Set();
  const byWorkflowId = new Map(advanceIds.map((advanceId) => [workflowIdOf(advanceId), advanceId]));
  // Advance ids are UUIDs read from our own table: nothing in them needs quoting.
  const query = `WorkflowType = 'advanceWorkflow' AND ExecutionStatus = 'Running' AND WorkflowId IN (${[...byWorkflowId.keys()].map((id) => `'${id}'`).join(', ')})`;
  const running = new Set<string>();
  try {
    for await (const execution of client.workflow.list({ query, pageSize: advanceIds.length })) {
      const advanceId = byWorkflowId.get(execution.workflowId);
      if (advanceId) running.add(advanceId);
    }
  } catch (error) {
    // The client wraps the server's gRPC error.
    const cause = error instanceof ServiceError ? error.cause : error;
    if (isGrpcServiceError(cause) && cause.code === status.UNIMPLEMENTED) return null;
    throw error;
  }
  return running;
}
