import { FailureReason } from '@alfabet/proto/accounts/v1';
import {
  AdvanceStatus,
  FindingKind,
  FindingSeverity,
  PaymentStatus,
  type Advance,
  type Finding,
  type Payment,
} from '@alfabet/proto/advances/v1';
import type { AdvanceStatusName } from '../domain/advance-types.js';
import type { StoredAdvance, StoredPayment } from '../db/advance-store.js';
import type { StoredFinding } from '../db/findings-store.js';
import type { FindingSeverity as FindingSeverityName } from '../reconciliation/findings.js';
import { workflowIdOf } from '../temporal/workflow-ids.js';
import { timestampOfDate, timestampOfExactText } from '@alfabet/service-kit/timestamps';

export const ADVANCE_STATUS_BY_NAME: Record<AdvanceStatusName, AdvanceStatus> = {
  DISBURSING: AdvanceStatus.ADVANCE_STATUS_DISBURSING,
  ACTIVE: AdvanceStatus.ADVANCE_STATUS_ACTIVE,
  OVERDUE: AdvanceStatus.ADVANCE_STATUS_OVERDUE,
  REPAID: AdvanceStatus.ADVANCE_STATUS_REPAID,
  DISBURSEMENT_FAILED: AdvanceStatus.ADVANCE_STATUS_DISBURSEMENT_FAILED,
};

export const ADVANCE_STATUS_NAME_BY_VALUE = new Map<AdvanceStatus, AdvanceStatusName>(
  Object.entries(ADVANCE_STATUS_BY_NAME).map(([name, value]) => [value, name as AdvanceStatusName]),
);

const PAYMENT_STATUS_BY_NAME = {
  SCHEDULED: PaymentStatus.PAYMENT_STATUS_SCHEDULED,
  PROCESSING: PaymentStatus.PAYMENT_STATUS_PROCESSING,
  PAID: PaymentStatus.PAYMENT_STATUS_PAID,
  FAILED: PaymentStatus.PAYMENT_STATUS_FAILED,
} as const;

function toPayment(payment: StoredPayment): Payment {
  const reason = payment.failureReason
    ? (FailureReason[`FAILURE_REASON_${payment.failureReason}` as keyof typeof FailureReason] ??
      FailureReason.UNRECOGNIZED)
    : FailureReason.FAILURE_REASON_UNSPECIFIED;
  return {
    number: payment.number,
    dueTime: timestampOfDate(payment.dueTime),
    amount: payment.amount,
    status: PAYMENT_STATUS_BY_NAME[payment.status],
    transactionId: payment.transactionId ?? '',
    failureReason: reason,
    rolledInto: payment.rolledInto ?? 0,
  };
}

/** The stored advance as the API shows it, with paid and outstanding amounts. */
export function toAdvance(advance: StoredAdvance): Advance {
  const payments = advance.payments.getItems();
  const paid = payments.filter((p) => p.status === 'PAID').reduce((sum, p) => sum + p.amount, 0n);
  const disbursed = advance.disbursementTransactionId !== null;
  return {
    advanceId: advance.advanceId,
    accountId: advance.accountId,
    amount: advance.amount,
    status: ADVANCE_STATUS_BY_NAME[advance.status],
    createTime: timestampOfExactText(advance.createTimeExact),
    disbursementTransactionId: advance.disbursementTransactionId ?? '',
    paidAmount: paid,
    outstandingAmount: disbursed ? advance.amount - paid : 0n,
    payments: payments.map(toPayment),
    workflowId: workflowIdOf(advance.advanceId),
    failureMessage: advance.failureMessage ?? '',
  };
}

/** A stored finding as the API shows it. */
export function toFinding(finding: StoredFinding): Finding {
  const severity: FindingSeverityName = finding.severity;
  return {
    findingId: finding.findingId,
    advanceId: finding.advanceId,
    kind: FindingKind[`FINDING_KIND_${finding.kind}`],
    detail: finding.detail,
    severity: FindingSeverity[`FINDING_SEVERITY_${severity}`],
    createTime: timestampOfExactText(finding.createTimeExact),
    resolveTime: finding.resolveTime ? timestampOfDate(finding.resolveTime) : undefined,
  };
}
