// The workflow bundle's entry: every workflow the advances worker runs.
export { advanceWorkflow, resumeSignal, scheduleQuery } from './advance.workflow.js';
export { reconciliationWorkflow } from './reconciliation.workflow.js';
