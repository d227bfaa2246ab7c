import { status } from '@grpc/grpc-js';
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { advanceIdOf, workflowIdOf } from './workflow-ids.js';

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
 * The advances whose workflow closed (completed, failed, terminated…) at or
 * after `since`, as visibility lists them: what an incremental reconciliation
 * must re-check on Temporal's side. Null when the server has no visibility
 * listing (the time-skipping test server): the run must sweep everything.
 */
export async function advancesClosedSince(client: Client, since: Date): Promise<string[] | null> {
  const query = `WorkflowType = 'advanceWorkflow' AND ExecutionStatus != 'Running' AND CloseTime >= '${since.toISOString()}'`;
  return listing(async () => {
    const advanceIds = new Set<string>();
    for await (const execution of client.workflow.list({ query, pageSize: 1000 })) {
      const advanceId = advanceIdOf(execution.workflowId);
      if (advanceId) advanceIds.add(advanceId);
    }
    return [...advanceIds];
  });
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
  return listing(async () => {
    const running = new Set<string>();
    for await (const execution of client.workflow.list({ query, pageSize: advanceIds.length })) {
      const advanceId = byWorkflowId.get(execution.workflowId);
      if (advanceId) running.add(advanceId);
    }
    return running;
  });
}

/** Runs a visibility listing; null when the server has none (it answers UNIMPLEMENTED). */
async function listing<T>(list: () => Promise<T>): Promise<T | null> {
  try {
    return await list();
  } catch (error) {
    // The client wraps the server's gRPC error.
    const cause = error instanceof ServiceError ? error.cause : error;
    if (isGrpcServiceError(cause) && cause.code === status.UNIMPLEMENTED) return null;
    throw error;
  }
}
