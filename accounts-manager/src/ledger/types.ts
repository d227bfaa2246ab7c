/** The ledger's own vocabulary; the gRPC layer maps it to and from the proto messages. */

export type Direction = 'debit' | 'credit';
export type TransactionKind = 'transfer' | 'bank';
export type TransactionStatus = 'success' | 'failed';
export type FailureReason = 'insufficient_funds' | 'balance_limit_exceeded' | 'batch_aborted';

export interface LedgerAccount {
  accountId: string;
  displayName: string;
  balanceMinor: bigint;
  /** Microseconds since the epoch: the database's own precision. */
  createTimeUs: bigint;
  updateTimeUs: bigint;
}

export interface LedgerTransaction {
  transactionId: string;
  requestId: string | null;
  /** Microseconds since the epoch: the database's own precision, which orders the report. */
  createTimeUs: bigint;
  kind: TransactionKind;
  /** Null for bank transactions. */
  srcAccountId: string | null;
  dstAccountId: string;
  amountMinor: bigint;
  direction: Direction;
  description: string;
  status: TransactionStatus;
  failureReason: FailureReason | null;
  failureMessage: string;
  /** The authenticated identity that asked for it; '' when authorization is off. */
  initiatedBy: string;
}
