/**
 * The Temporal workflow id of an advance: one workflow per advance, so its id
 * is derived from the advance id (Temporal refuses a second start with it).
 * Starting, describing and listing workflows (temporal/) and the API's
 * `workflow_id` field (api/mapping.ts) all name it this way.
 */
export const workflowIdOf = (advanceId: string) => `advance-${advanceId}`;

const ADVANCE_WORKFLOW_ID = /^advance-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/** The advance an `advance-<advanceId>` workflow id names (null for any other id). */
export const advanceIdOf = (workflowId: string): string | null => ADVANCE_WORKFLOW_ID.exec(workflowId)?.[1] ?? null;
