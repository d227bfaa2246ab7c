import type {
  Direction,
  FailureReason,
  LedgerAccount,
  LedgerTransaction,
  TransactionKind,
  TransactionStatus,
} from './types.js';

/** Raw rows as node-postgres returns them (int8 as string, uuids as strings). */
export interface TransactionRecord {
  transaction_id: string;
  create_time: Date | string;
  request_id: string | null;
  kind: string;
  src_account_id: string | null;
  dst_account_id: string;
  amount: string | bigint;
  direction: string;
  description: string;
  status: string;
  failure_reason: string | null;
  failure_message: string;
  initiated_by: string;
}

export interface AccountRecord {
  account_id: string;
  display_name: string;
  balance: string | bigint;
  create_time: Date | string;
  update_time: Date | string;
}

export function toLedgerTransaction(row: TransactionRecord): LedgerTransaction {
  return {
    transactionId: row.transaction_id,
    requestId: row.request_id,
    createTime: new Date(row.create_time),
    kind: row.kind as TransactionKind,
    srcAccountId: row.src_account_id,
    dstAccountId: row.dst_account_id,
    amountMinor: BigInt(row.amount),
    direction: row.direction as Direction,
    description: row.description,
    status: row.status as TransactionStatus,
    failureReason: row.failure_reason as FailureReason | null,
    failureMessage: row.failure_message,
    initiatedBy: row.initiated_by,
  };
}

export function toLedgerAccount(row: AccountRecord): LedgerAccount {
  return {
    accountId: row.account_id,
    displayName: row.display_name,
    balanceMinor: BigInt(row.balance),
    createTime: new Date(row.create_time),
    updateTime: new Date(row.update_time),
  };
}

export const TRANSACTION_COLUMNS = `transaction_id, create_time, request_id, kind, src_account_id, dst_account_id,
  amount, direction, description, status, failure_reason, failure_message, initiated_by`;
export const ACCOUNT_COLUMNS = 'account_id, display_name, balance, create_time, update_time';
