import { Direction, TransactionKind, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { disbursementRequestId, paymentRequestId } from '../ledger/request-ids.js';

/** What the reconciliation knows of one open advance, from the projection. */
export interface AdvanceToReconcile {
  advanceId: string;
  accountId: string;
  amount: bigint;
  disbursementTransactionId: string | null;
  payments: Array<{ number: number; amount: bigint; status: string; transactionId: string | null; rolledInto: number | null }>;
}

export type FindingKind =
  | 'SCHEDULE_SUM_MISMATCH'
  | 'DISBURSEMENT_LEDGER_MISMATCH'
  | 'PAYMENT_LEDGER_MISMATCH'
  | 'ROLLOVER_MISSING';

export interface Finding {
  advanceId: string;
  kind: FindingKind;
  detail: string;
}

/** Looks a ledger transaction up by id (null when the ledger has none). */
export type TransactionLookup = (transactionId: string) => Promise<Transaction | null>;

/**
 * The checks for one advance that is not repaid:
 * - the seed rule: payments paid, scheduled or processing add up to the amount;
 * - the disbursement is a SUCCESS bank CREDIT of the amount to the account;
 * - every PAID payment is a SUCCESS bank DEBIT of its amount from the account,
 *   made with that payment's request id;
 * - every FAILED payment names an existing payment it rolled into.
 */
export async function reconcileAdvance(advance: AdvanceToReconcile, lookup: TransactionLookup): Promise<Finding[]> {
  const findings: Finding[] = [];
  const found = (kind: FindingKind, detail: string) => findings.push({ advanceId: advance.advanceId, kind, detail });

  const owed = advance.payments
    .filter((p) => p.status === 'PAID' || p.status === 'SCHEDULED' || p.status === 'PROCESSING')
    .reduce((sum, p) => sum + p.amount, 0n);
  if (owed !== advance.amount) {
    found('SCHEDULE_SUM_MISMATCH', `paid + scheduled + processing payments add up to ${owed}, the advance is ${advance.amount}`);
  }

  const disbursement = advance.disbursementTransactionId ? await lookup(advance.disbursementTransactionId) : null;
  const disbursementProblem = describeMismatch(disbursement, {
    requestId: disbursementRequestId(advance.advanceId), accountId: advance.accountId,
    amount: advance.amount, direction: Direction.DIRECTION_CREDIT,
  });
  if (disbursementProblem) found('DISBURSEMENT_LEDGER_MISMATCH', `disbursement ${advance.disbursementTransactionId ?? '(none)'}: ${disbursementProblem}`);

  const numbers = new Set(advance.payments.map((p) => p.number));
  for (const payment of advance.payments) {
    if (payment.status === 'FAILED' && (payment.rolledInto === null || !numbers.has(payment.rolledInto))) {
      found('ROLLOVER_MISSING', `payment ${payment.number} failed but rolled into ${payment.rolledInto ?? 'nothing'}`);
    }
    if (payment.status !== 'PAID') continue;
    const transaction = payment.transactionId ? await lookup(payment.transactionId) : null;
    const problem = describeMismatch(transaction, {
      requestId: paymentRequestId(advance.advanceId, payment.number), accountId: advance.accountId,
      amount: payment.amount, direction: Direction.DIRECTION_DEBIT,
    });
    if (problem) found('PAYMENT_LEDGER_MISMATCH', `payment ${payment.number} (${payment.transactionId ?? 'no transaction'}): ${problem}`);
  }
  return findings;
}

function describeMismatch(
  transaction: Transaction | null,
  expected: { requestId: string; accountId: string; amount: bigint; direction: Direction },
): string | null {
  if (!transaction) return 'not found in the ledger';
  const problems: string[] = [];
  if (transaction.status !== TransactionStatus.TRANSACTION_STATUS_SUCCESS) problems.push('not SUCCESS in the ledger');
  if (transaction.kind !== TransactionKind.TRANSACTION_KIND_BANK) problems.push('not a bank transaction');
  if (transaction.direction !== expected.direction) problems.push(`direction ${Direction[transaction.direction]}, expected ${Direction[expected.direction]}`);
  if (transaction.amount !== expected.amount) problems.push(`amount ${transaction.amount} in the ledger, ${expected.amount} here`);
  if (transaction.dstAccountId !== expected.accountId) problems.push(`account ${transaction.dstAccountId} in the ledger, ${expected.accountId} here`);
  if (transaction.requestId !== expected.requestId) problems.push('made with another request id');
  return problems.length > 0 ? problems.join('; ') : null;
}
