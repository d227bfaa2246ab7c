import { Direction, TransactionKind, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';
import type { LedgerMovement } from '../reconciliation/reconcile-advance.js';

/**
 * How a ledger transaction made by this service names its advance. The
 * description is what makes our movements recognisable from the ledger's side
 * alone (DESIGN.md §5): the reconciliation finds every movement that claims to
 * be an advance's, including strays and duplicates a payment here does not
 * account for.
 */
export const disbursementDescription = (advanceId: string) => `advance ${advanceId}: disbursement`;
export const paymentDescription = (advanceId: string, number: number) => `advance ${advanceId}: payment ${number}`;

/**
 * How ops reverse a stray movement the reconciliation found: a bank transaction
 * the other way, same account and amount, described with this (see docs). The
 * reconciliation then counts the stray as settled.
 */
export const reversalDescription = (advanceId: string, transactionId: string) =>
  `advance ${advanceId}: reversal of ${transactionId}`;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const ADVANCE_MOVEMENT = new RegExp(`^advance (${UUID}): (?:disbursement|payment \\d+|reversal of ${UUID})$`);

/** The advance a ledger transaction's description names, or null when it is not one of ours. */
export function advanceNamedBy(transaction: Transaction): string | null {
  if (transaction.kind !== TransactionKind.TRANSACTION_KIND_BANK) return null;
  return ADVANCE_MOVEMENT.exec(transaction.description)?.[1] ?? null;
}

/** The ledger's transaction as the reconciliation compares it, attributed to `advanceId`. */
export function toLedgerMovement(transaction: Transaction, advanceId: string): LedgerMovement {
  return {
    transactionId: transaction.transactionId,
    requestId: transaction.requestId || null,
    advanceId,
    accountId: transaction.dstAccountId,
    direction: transaction.direction === Direction.DIRECTION_CREDIT ? 'CREDIT' : 'DEBIT',
    amount: transaction.amount,
    status: transaction.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS ? 'SUCCESS' : 'FAILED',
    description: transaction.description,
    createTime: transaction.createTime ? dateOfTimestamp(transaction.createTime) : new Date(0),
  };
}
