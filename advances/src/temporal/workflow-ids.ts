/**
 * The Temporal workflow id of an advance: one workflow per advance, so its id
 * is derived from the advance id (Temporal refuses a second start with it).
 * Starting, describing and listing workflows (temporal/) and the API's
 * `workflow_id` field (api/mapping.ts) all name it this way.
 */
export const workflowIdOf = (advanceId: string) => `advance-${advanceId}`;
