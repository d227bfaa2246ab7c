/**
 * What the reconciliation (or an advance workflow that had to stop) can find
 * wrong with an advance. The names are the contract's `FindingKind` values
 * without their prefix (DESIGN.md §3 and §5).
 */
export const FINDING_KINDS = [
  'PAYMENTS_DO_NOT_ADD_UP',
  'LEDGER_MOVEMENT_WITHOUT_PAYMENT',
  'PAYMENT_WITHOUT_LEDGER_MOVEMENT',
  'PAYMENT_LEDGER_MISMATCH',
  'PAYMENT_STUCK',
  'ADVANCE_STUCK',
  'WORKFLOW_MISSING',
  'WORKFLOW_FAILED',
  'WORKFLOW_HALTED',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export type FindingSeverity = 'CRITICAL' | 'WARNING';

/**
 * One thing found wrong. `subject` says what within the advance ("payment 3",
 * "disbursement", "ledger <transaction id>", "workflow"): an advance has at most
 * one open finding per kind and subject, so a run that sees it again raises
 * nothing new.
 */
export interface Finding {
  advanceId: string;
  kind: FindingKind;
  subject: string;
  detail: string;
  severity: FindingSeverity;
}

/** Findings the reconciliation never resolves by not seeing them: their owner (the workflow) does. */
export const WORKFLOW_OWNED_KINDS: readonly FindingKind[] = ['WORKFLOW_HALTED'];
