/**
 * The advance's domain types: its statuses and the data that crosses between
 * the workflow and the activities. The workflow, the activities, the store
 * (db/) and the API all speak them, so they live here, below every one of
 * them; types only, so importing them brings nothing into the workflow bundle.
 * They travel as JSON in the workflow history, so amounts are decimal strings
 * of minor units (JSON has no int64) and times are ISO-8601 strings.
 */

export type AdvanceStatusName = 'DISBURSING' | 'ACTIVE' | 'OVERDUE' | 'REPAID' | 'DISBURSEMENT_FAILED';
export type PaymentStatusName = 'SCHEDULED' | 'PROCESSING' | 'PAID' | 'FAILED';

/** What the workflow is started with; fixed for the advance's whole life. */
export interface AdvanceWorkflowInput {
  advanceId: string;
  accountId: string;
  /** Minor units lent. */
  amount: string;
  installments: number;
  paymentIntervalMs: number;
}

export interface DisburseAdvanceInput {
  advanceId: string;
  accountId: string;
  amount: string;
  /** The payments the schedule opens with, in order (number 1, 2, …). */
  paymentAmounts: string[];
  paymentIntervalMs: number;
}

export type DisbursementOutcome =
  | { status: 'DISBURSED'; transactionId: string; disbursedAt: string }
  | { status: 'REFUSED'; transactionId: string; failureReason: string; failureMessage: string };

export interface CollectPaymentInput {
  advanceId: string;
  accountId: string;
  number: number;
  amount: string;
  /** Where this payment's amount goes if the ledger refuses it. */
  rollInto: { number: number; dueTime: string; isNew: boolean };
  /** True when this is the last payment owed: paying it repays the advance. */
  completesAdvance: boolean;
}

export type PaymentOutcome =
  | { status: 'PAID'; transactionId: string }
  | { status: 'FAILED'; transactionId: string; failureReason: string; failureMessage: string };

export interface ReconciliationSummary {
  runId: string;
  advancesChecked: number;
  /** Findings this run raised for the first time (each one alerted once). */
  findingsRaised: number;
  /** Open findings this run no longer saw, now resolved. */
  findingsResolved: number;
}

/** One payment as the workflow's `schedule` query shows it. */
export interface PaymentView {
  number: number;
  dueTime: string;
  amount: string;
  status: PaymentStatusName;
  transactionId: string | null;
  failureReason: string | null;
  rolledInto: number | null;
}

/** The whole advance as the workflow's `schedule` query shows it. */
export interface AdvanceView {
  advanceId: string;
  accountId: string;
  amount: string;
  status: AdvanceStatusName;
  disbursementTransactionId: string | null;
  paidAmount: string;
  outstandingAmount: string;
  payments: PaymentView[];
}
