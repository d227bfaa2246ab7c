import type {
  AccountsServiceServer,
  BankTransactionRequest,
  GetTransactionRequest,
  TransferRequest,
} from '@alfabet/proto/accounts/v1';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { createAccount, getAccount } from '../ledger/accounts.js';
import { invalidArgument } from '@alfabet/service-kit/field-error';
import {
  bankTransaction,
  transfer,
  type BankTransactionCommand,
  type LedgerDeps,
  type Posted,
  type TransferCommand,
} from '../ledger/post-transaction.js';
import { batchTransfer, checkBatchSize, withinItem, type BatchPosted } from '../ledger/batch-transfer.js';
import { getTransaction } from '../ledger/transactions.js';
import type { Logger } from '../logger.js';
import type { AccountsMetrics } from '../metrics.js';
import { toServiceError, unary as unaryHandler } from '@alfabet/service-kit/service-errors';
import { accountToProto, DIRECTION_FROM_PROTO, DIRECTION_NAMES, transactionToProto } from './mapping.js';
import { optionalUuid, requireEnum, requireUuid } from '@alfabet/service-kit/field-validation';
import { callIdentity } from '@alfabet/service-kit/request-context';
import type { ReportCall } from './list-transactions.js';

export interface AccountsServiceDeps {
  /** The posting path, transaction lookups and reports (raw SQL, *.sql.ts). */
  pool: pg.Pool;
  /** Accounts opened and read (db/account-store.ts). */
  em: EntityManager;
  maxAmountMinor: bigint;
  /** MAX_BATCH_SIZE: the most transfers one BatchTransfer may hold. */
  maxBatchSize: number;
  /** ACCOUNTS_GROUP_COMMIT=on: lone transfers and bank transactions posted in groups; null: each alone. */
  groupCommit: LedgerDeps['groupCommit'];
  log: Logger;
  metrics: Pick<AccountsMetrics, 'transactions'>;
  /** Streams ListTransactions; see ./list-transactions.ts. */
  listTransactions: (call: ReportCall) => Promise<void>;
}

/** A generated server interface's methods, without the index signature it inherits from grpc-js. */
type MethodsOf<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/** The handlers: ListTransactions writes its pages already encoded (ACCOUNTS_SERVICE_DEFINITION, ./list-transactions.ts). */
export type AccountsServiceImplementation = Omit<MethodsOf<AccountsServiceServer>, 'listTransactions'> & {
  listTransactions: (call: ReportCall) => void;
};

/**
 * The gRPC transport: decode and validate each request, call the ledger, map
 * the answer or the error. No SQL and no business rules live here.
 */
export function accountsService(deps: AccountsServiceDeps): AccountsServiceImplementation {
  const ledger = {
    pool: deps.pool,
    maxAmountMinor: deps.maxAmountMinor,
    maxBatchSize: deps.maxBatchSize,
    groupCommit: deps.groupCommit,
  };
  const unary = <Req, Res>(method: string, handle: (request: Req) => Promise<Res>) =>
    unaryHandler(deps.log, method, 'the ledger', handle);

  return {
    createAccount: unary('CreateAccount', async (request) => {
      const requestId = optionalUuid('request_id', request.requestId);
      const account = await createAccount(deps.em, requestId, request.displayName);
      deps.log.info({ method: 'CreateAccount', accountId: account.accountId, requestId }, 'account opened');
      return { account: accountToProto(account) };
    }),

    getAccount: unary('GetAccount', async (request) => {
      const account = await getAccount(deps.em, requireUuid('account_id', request.accountId));
      return { account: accountToProto(account) };
    }),

    transfer: unary('Transfer', async (request) => {
      const posted = await transfer(ledger, transferCommandOf(request, callIdentity()));
      recordTransaction(deps, posted);
      return { transaction: transactionToProto(posted.transaction) };
    }),

    batchTransfer: unary('BatchTransfer', async (request) => {
      const requestId = optionalUuid('request_id', request.requestId);
      checkBatchSize(request.transfers.length, deps.maxBatchSize);
      const initiatedBy = callIdentity();
      const transfers = request.transfers.map((item, index) =>
        withinItem(index, () => transferCommandOf(item, initiatedBy)),
      );
      const posted = await batchTransfer(ledger, { requestId, atomic: request.atomic, transfers });
      recordBatch(deps, requestId, request.atomic, posted);
      return { transactions: posted.transactions.map(transactionToProto) };
    }),

    bankTransaction: unary('BankTransaction', async (request) => {
      const posted = await bankTransaction(ledger, bankTransactionCommandOf(request, callIdentity()));
      recordTransaction(deps, posted);
      return { transaction: transactionToProto(posted.transaction) };
    }),

    getTransaction: unary('GetTransaction', async (request) => ({
      transaction: transactionToProto(await getTransaction(deps.pool, transactionKeyOf(request))),
    })),

    listTransactions: (call) => {
      deps
        .listTransactions(call)
        .catch((error: unknown) =>
          call.emit('error', toServiceError(error, deps.log, 'ListTransactions', 'the ledger')),
        );
    },
  };
}

function bankTransactionCommandOf(request: BankTransactionRequest, initiatedBy: string): BankTransactionCommand {
  return {
    requestId: optionalUuid('request_id', request.requestId),
    initiatedBy,
    dstAccountId: requireUuid('dst_account_id', request.dstAccountId),
    amountMinor: request.amount,
    direction: requireEnum('direction', request.direction, DIRECTION_FROM_PROTO, DIRECTION_NAMES),
    description: request.description,
  };
}

/** GetTransaction's key: the transaction_id, or else the request_id (a oneof; one is required). */
function transactionKeyOf(request: GetTransactionRequest): { transactionId: string } | { requestId: string } {
  if (request.transactionId !== undefined && request.transactionId !== '')
    return { transactionId: requireUuid('transaction_id', request.transactionId) };
  if (request.requestId !== undefined && request.requestId !== '')
    return { requestId: requireUuid('request_id', request.requestId) };
  throw invalidArgument('transaction_id', 'either transaction_id or request_id is required');
}

/** A Transfer's fields, or a BatchTransfer item's, checked and decoded (names are the request's own). */
function transferCommandOf(request: TransferRequest, initiatedBy: string): TransferCommand {
  return {
    requestId: optionalUuid('request_id', request.requestId),
    initiatedBy,
    srcAccountId: requireUuid('src_account_id', request.srcAccountId),
    dstAccountId: requireUuid('dst_account_id', request.dstAccountId),
    amountMinor: request.amount,
    direction: requireEnum('direction', request.direction, DIRECTION_FROM_PROTO, DIRECTION_NAMES),
  };
}

/**
 * Counts every item's answer as a lone Transfer's is counted, and logs the batch
 * once (a line per item would be a thousand lines per call): how many items
 * succeeded, failed, or were replays of what their keys recorded earlier.
 */
function recordBatch(deps: AccountsServiceDeps, requestId: string | null, atomic: boolean, posted: BatchPosted): void {
  const counts = { succeeded: 0, failed: 0, replayed: 0 };
  posted.transactions.forEach((transaction, index) => {
    deps.metrics.transactions.inc({
      kind: transaction.kind,
      status: transaction.status,
      failure_reason: transaction.failureReason ?? '',
    });
    if (posted.replayed[index]) counts.replayed += 1;
    else if (transaction.status === 'success') counts.succeeded += 1;
    else counts.failed += 1;
  });
  const replayedWhole = counts.replayed === posted.transactions.length;
  deps.log.info(
    { method: 'BatchTransfer', requestId, atomic, items: posted.transactions.length, ...counts },
    replayedWhole ? 'batch replayed' : 'batch posted',
  );
}

/**
 * Counts the answer and logs what happened: a transaction posted or failed
 * now, or a replay of one an earlier call with the same request_id recorded
 * (logged as such, so each transaction is "posted" in the log once).
 *
 * A transaction that succeeded is logged at debug, one that failed and every
 * replay at info. At info, a line per successful transfer was 10–15 % of the
 * service's CPU per call (and as much again in whatever ships the logs;
 * docs/benchmarks.md "CPU per call"), repeating what the transaction row
 * itself records — id, request id, amounts, status, who asked. Failures,
 * replays (a client retrying) and errors are what an operator looks for.
 */
function recordTransaction(deps: AccountsServiceDeps, { transaction, replayed }: Posted): void {
  deps.metrics.transactions.inc({
    kind: transaction.kind,
    status: transaction.status,
    failure_reason: transaction.failureReason ?? '',
  });
  const succeeded = transaction.status === 'success';
  const level = succeeded && !replayed ? 'debug' : 'info';
  if (!deps.log.isLevelEnabled(level)) return;
  deps.log[level](
    {
      transactionId: transaction.transactionId,
      requestId: transaction.requestId,
      status: transaction.status,
      failureReason: transaction.failureReason ?? undefined,
      amountMinor: transaction.amountMinor.toString(),
    },
    replayed ? 'transaction replayed' : succeeded ? 'transaction posted' : 'transaction failed',
  );
}
