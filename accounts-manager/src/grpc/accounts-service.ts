import type { ServerWritableStream } from '@grpc/grpc-js';
import type {
  AccountsServiceServer,
  ListTransactionsRequest,
  ListTransactionsResponse,
} from '@alfabet/proto/accounts/v1';
import type pg from 'pg';
import { createAccount, getAccount } from '../ledger/accounts.js';
import { invalidArgument } from '@alfabet/service-kit/field-error';
import { bankTransaction, transfer, type Posted } from '../ledger/post-transaction.js';
import { getTransaction } from '../ledger/transactions.js';
import type { Logger } from '../logger.js';
import type { AccountsMetrics } from '../metrics.js';
import { toServiceError, unary as unaryHandler } from '@alfabet/service-kit/service-errors';
import { accountToProto, DIRECTION_FROM_PROTO, DIRECTION_NAMES, transactionToProto } from './mapping.js';
import { optionalUuid, requireEnum, requireUuid } from '@alfabet/service-kit/field-validation';
import { callIdentity } from '@alfabet/service-kit/request-context';

export interface AccountsServiceDeps {
  pool: pg.Pool;
  maxAmountMinor: bigint;
  log: Logger;
  metrics: Pick<AccountsMetrics, 'transactions'>;
  /** Streams ListTransactions; see ./list-transactions.ts. */
  listTransactions: (call: ServerWritableStream<ListTransactionsRequest, ListTransactionsResponse>) => Promise<void>;
}

/**
 * The gRPC transport: decode and validate each request, call the ledger, map
 * the answer or the error. No SQL and no business rules live here.
 */
export function accountsService(deps: AccountsServiceDeps): AccountsServiceServer {
  const ledger = { pool: deps.pool, maxAmountMinor: deps.maxAmountMinor };
  const unary = <Req, Res>(method: string, handle: (request: Req) => Promise<Res>) =>
    unaryHandler(deps.log, method, 'the ledger', handle);

  return {
    createAccount: unary('CreateAccount', async (request) => {
      const requestId = optionalUuid('request_id', request.requestId);
      const account = await createAccount(deps.pool, requestId, request.displayName);
      deps.log.info({ method: 'CreateAccount', accountId: account.accountId, requestId }, 'account opened');
      return { account: accountToProto(account) };
    }),

    getAccount: unary('GetAccount', async (request) => {
      const account = await getAccount(deps.pool, requireUuid('account_id', request.accountId));
      return { account: accountToProto(account) };
    }),

    transfer: unary('Transfer', async (request) => {
      const posted = await transfer(ledger, {
        requestId: optionalUuid('request_id', request.requestId),
        initiatedBy: callIdentity(),
        srcAccountId: requireUuid('src_account_id', request.srcAccountId),
        dstAccountId: requireUuid('dst_account_id', request.dstAccountId),
        amountMinor: request.amount,
        direction: requireEnum('direction', request.direction, DIRECTION_FROM_PROTO, DIRECTION_NAMES),
      });
      recordTransaction(deps, posted);
      return { transaction: transactionToProto(posted.transaction) };
    }),

    bankTransaction: unary('BankTransaction', async (request) => {
      const posted = await bankTransaction(ledger, {
        requestId: optionalUuid('request_id', request.requestId),
        initiatedBy: callIdentity(),
        dstAccountId: requireUuid('dst_account_id', request.dstAccountId),
        amountMinor: request.amount,
        direction: requireEnum('direction', request.direction, DIRECTION_FROM_PROTO, DIRECTION_NAMES),
        description: request.description,
      });
      recordTransaction(deps, posted);
      return { transaction: transactionToProto(posted.transaction) };
    }),

    getTransaction: unary('GetTransaction', async (request) => {
      if (request.transactionId !== undefined && request.transactionId !== '') {
        const transactionId = requireUuid('transaction_id', request.transactionId);
        return { transaction: transactionToProto(await getTransaction(deps.pool, { transactionId })) };
      }
      if (request.requestId !== undefined && request.requestId !== '') {
        const requestId = requireUuid('request_id', request.requestId);
        return { transaction: transactionToProto(await getTransaction(deps.pool, { requestId })) };
      }
      throw invalidArgument('transaction_id', 'either transaction_id or request_id is required');
    }),

    listTransactions: (call) => {
      deps
        .listTransactions(call)
        .catch((error: unknown) =>
          call.emit('error', toServiceError(error, deps.log, 'ListTransactions', 'the ledger')),
        );
    },
  };
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
