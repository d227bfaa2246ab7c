import {
  Direction as ProtoDirection,
  FailureReason as ProtoFailureReason,
  TransactionKind as ProtoKind,
  TransactionStatus as ProtoStatus,
  type Account,
  type Transaction,
} from '@alfabet/proto/accounts/v1';
import type {
  Direction,
  FailureReason,
  LedgerAccount,
  LedgerTransaction,
  TransactionKind,
  TransactionStatus,
} from '../ledger/types.js';
import { timestampOfMicros } from '@alfabet/service-kit/timestamps';

/** The directions a request may carry; UNSPECIFIED and unknown numbers are rejected. */
export const DIRECTION_FROM_PROTO: ReadonlyMap<ProtoDirection, Direction> = new Map([
  [ProtoDirection.DIRECTION_DEBIT, 'debit'],
  [ProtoDirection.DIRECTION_CREDIT, 'credit'],
]);
export const DIRECTION_NAMES = 'DIRECTION_DEBIT, DIRECTION_CREDIT';

/** The ledger's values as proto enum numbers; ./report-page-wire.ts writes the same from database rows. */
export const DIRECTION_TO_PROTO: Record<Direction, ProtoDirection> = {
  debit: ProtoDirection.DIRECTION_DEBIT,
  credit: ProtoDirection.DIRECTION_CREDIT,
};
export const KIND_TO_PROTO: Record<TransactionKind, ProtoKind> = {
  transfer: ProtoKind.TRANSACTION_KIND_TRANSFER,
  bank: ProtoKind.TRANSACTION_KIND_BANK,
};
export const STATUS_TO_PROTO: Record<TransactionStatus, ProtoStatus> = {
  success: ProtoStatus.TRANSACTION_STATUS_SUCCESS,
  failed: ProtoStatus.TRANSACTION_STATUS_FAILED,
};
export const REASON_TO_PROTO: Record<FailureReason, ProtoFailureReason> = {
  insufficient_funds: ProtoFailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS,
  balance_limit_exceeded: ProtoFailureReason.FAILURE_REASON_BALANCE_LIMIT_EXCEEDED,
  batch_aborted: ProtoFailureReason.FAILURE_REASON_BATCH_ABORTED,
};

export function accountToProto(account: LedgerAccount): Account {
  return {
    accountId: account.accountId,
    displayName: account.displayName,
    balance: account.balanceMinor,
    createTime: timestampOfMicros(account.createTimeUs),
    updateTime: timestampOfMicros(account.updateTimeUs),
  };
}

export function transactionToProto(transaction: LedgerTransaction): Transaction {
  return {
    transactionId: transaction.transactionId,
    requestId: transaction.requestId ?? '',
    createTime: timestampOfMicros(transaction.createTimeUs),
    kind: KIND_TO_PROTO[transaction.kind],
    srcAccountId: transaction.srcAccountId ?? '',
    dstAccountId: transaction.dstAccountId,
    amount: transaction.amountMinor,
    direction: DIRECTION_TO_PROTO[transaction.direction],
    description: transaction.description,
    status: STATUS_TO_PROTO[transaction.status],
    failureReason: transaction.failureReason
      ? REASON_TO_PROTO[transaction.failureReason]
      : ProtoFailureReason.FAILURE_REASON_UNSPECIFIED,
    failureMessage: transaction.failureMessage,
    initiatedBy: transaction.initiatedBy,
  };
}
