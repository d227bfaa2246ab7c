import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { channelCredentials, type ClientTls } from '@alfabet/service-kit/tls';
import {
  AccountsServiceClient,
  type Account,
  type BankTransactionRequest,
  type ListTransactionsResponse,
  type Transaction,
} from '@alfabet/proto/accounts/v1';
import { CORRELATION_ID_METADATA_KEY } from '@alfabet/service-kit/request-context';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import type { AdvancesConfig } from '../config.js';

/**
 * What advances needs from accounts-manager, over its generated gRPC client.
 * Every call carries a deadline (a hung ledger must not hang an activity or
 * an API call forever) and a correlation id, so one payment can be followed
 * through both services' logs.
 */
export interface LedgerClient {
  getAccount(accountId: string, correlationId: string): Promise<Account>;
  bankTransaction(request: BankTransactionRequest, correlationId: string): Promise<Transaction>;
  /** The transaction created with `requestId`, or null if the ledger has none. */
  findTransactionByRequestId(requestId: string, correlationId: string): Promise<Transaction | null>;
  getTransaction(transactionId: string, correlationId: string): Promise<Transaction | null>;
  /**
   * Reads every transaction created in [startTime, endTime), page by page from
   * one snapshot of the ledger's report stream; `onPage` is awaited before the
   * next page is read (flow control).
   */
  scanTransactions(
    window: { startTime: Date; endTime: Date },
    correlationId: string,
    onPage: (transactions: Transaction[]) => Promise<void>,
  ): Promise<void>;
  close(): void;
}

export interface LedgerConnection {
  address: string;
  callTimeoutMs: number;
  /** TLS to verify accounts-manager (and present our certificate); null: plaintext. */
  tls: ClientTls | null;
  /** Sent as `authorization: Bearer …` when the ledger checks callers by token. */
  authToken: string | null;
}

/** How the advances processes reach the ledger, from their configuration. */
export const ledgerConnectionOf = (
  config: Pick<AdvancesConfig, 'accountsAddress' | 'ledgerCallTimeoutMs' | 'ledgerTls' | 'ledgerAuthToken'>,
): LedgerConnection => ({
  address: config.accountsAddress,
  callTimeoutMs: config.ledgerCallTimeoutMs,
  tls: config.ledgerTls,
  authToken: config.ledgerAuthToken,
});

/** The report stream's largest page: the fewest round trips per row. */
const SCAN_PAGE_SIZE = 1000;
const SCAN_REQUEST = { pageSize: SCAN_PAGE_SIZE, pageToken: '', snapshotToken: '', page: 0, accountId: '' } as const;
/** A scan reads many pages; each page (not the whole stream) gets the call deadline. */
const SCAN_DEADLINE_PAGES = 1000;

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** How every call reaches the ledger: its metadata (correlation id, bearer token) and its deadline. */
function callsOf(client: AccountsServiceClient, { callTimeoutMs, authToken }: LedgerConnection) {
  function metadataFor(correlationId: string): Metadata {
    const metadata = new Metadata();
    metadata.set(CORRELATION_ID_METADATA_KEY, correlationId);
    if (authToken) metadata.set('authorization', `Bearer ${authToken}`);
    return metadata;
  }

  function unary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, correlationId: string): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(
        client,
        request,
        metadataFor(correlationId),
        { deadline: new Date(Date.now() + callTimeoutMs) },
        (error, response) => {
          if (error) reject(error);
          else resolve(response);
        },
      );
    });
  }

  return { metadataFor, unary };
}

export function createLedgerClient(connection: LedgerConnection): LedgerClient {
  const { address, callTimeoutMs, tls } = connection;
  const client = new AccountsServiceClient(address, channelCredentials(tls));
  const { metadataFor, unary } = callsOf(client, connection);

  const orNullWhenNotFound = <T>(call: Promise<T>) =>
    call.catch((error: ServiceError) => {
      if (error.code === status.NOT_FOUND) return null;
      throw error;
    });

  return {
    async getAccount(accountId, correlationId) {
      const response = await unary(client.getAccount, { accountId }, correlationId);
      return response.account!;
    },
    async bankTransaction(request, correlationId) {
      const response = await unary(client.bankTransaction, request, correlationId);
      return response.transaction!;
    },
    async findTransactionByRequestId(requestId, correlationId) {
      const response = await orNullWhenNotFound(unary(client.getTransaction, { requestId }, correlationId));
      return response?.transaction ?? null;
    },
    async getTransaction(transactionId, correlationId) {
      const response = await orNullWhenNotFound(unary(client.getTransaction, { transactionId }, correlationId));
      return response?.transaction ?? null;
    },
    async scanTransactions({ startTime, endTime }, correlationId, onPage) {
      const stream = client.listTransactions(
        { ...SCAN_REQUEST, startTime: timestampOfDate(startTime), endTime: timestampOfDate(endTime) },
        metadataFor(correlationId),
        { deadline: new Date(Date.now() + callTimeoutMs * SCAN_DEADLINE_PAGES) },
      );
      try {
        for await (const page of stream as AsyncIterable<ListTransactionsResponse>) await onPage(page.transactions);
      } finally {
        stream.cancel();
      }
    },
    close: () => client.close(),
  };
}

/** True for a gRPC error the ledger answered because of the request itself (retrying cannot help). */
export function isLedgerRejection(error: unknown): error is ServiceError {
  const code = (error as ServiceError)?.code;
  return code === status.INVALID_ARGUMENT || code === status.ALREADY_EXISTS || code === status.NOT_FOUND;
}
