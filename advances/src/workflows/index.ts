// The workflow bundle's entry: every workflow the advances worker runs.
export { advanceWorkflow, scheduleQuery } from './advance.workflow.js';
export { reconciliationWorkflow } from './reconciliation.workflow.js';
