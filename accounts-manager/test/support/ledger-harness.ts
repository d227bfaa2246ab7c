import { credentials, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceClient, Direction, type Account, type Transaction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { startAccountsApp, type AccountsApp } from '../../src/app.js';
import { loadAccountsConfig, type AccountsConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../../test-support/test-databases.js';

export const TEST_ACCOUNTS_DATABASE_URL = testDatabaseUrl(TEST_DATABASES.accounts);

export interface TestLedger {
  app: AccountsApp;
  client: AccountsServiceClient;
  config: AccountsConfig;
  address: string;
  stop(): Promise<void>;
}

/** Starts a real accounts-manager (real PostgreSQL, real gRPC on a free port) and a generated client. */
export async function startTestLedger(env: Record<string, string> = {}, log?: Logger): Promise<TestLedger> {
  const config = loadAccountsConfig({
    ACCOUNTS_GRPC_ADDR: '127.0.0.1:0',
    ACCOUNTS_METRICS_ADDR: '127.0.0.1:0',
    ACCOUNTS_DATABASE_URL: TEST_ACCOUNTS_DATABASE_URL,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SHUTDOWN_GRACE: '2s',
    ...env,
  });
  const app = await startAccountsApp(config, log ?? createLogger(config.logLevel));
  const address = `127.0.0.1:${app.grpc.port}`;
  const client = new AccountsServiceClient(address, credentials.createInsecure());
  return {
    app,
    client,
    config,
    address,
    async stop() {
      client.close();
      await app.stop();
    },
  };
}

/** Calls a unary method of a generated client and resolves with its response (or rejects with the ServiceError). */
export function call<Req, Res>(
  client: AccountsServiceClient,
  method: keyof AccountsServiceClient,
  request: Req,
): Promise<Res> {
  const fn = (client[method] as unknown as (...args: unknown[]) => unknown).bind(client) as unknown as (
    request: Req,
    callback: (error: ServiceError | null, response: Res) => void,
  ) => unknown;
  return new Promise((resolve, reject) => {
    fn(request, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** One item of a BatchTransfer, as the tests write it. */
export interface BatchItemRequest {
  srcAccountId: string;
  dstAccountId: string;
  amount: bigint;
  direction?: Direction;
  requestId?: string;
}

/** A typed facade over the client for the tests' common calls. */
export function ledgerApi(client: AccountsServiceClient) {
  return {
    createAccount: (displayName = 'Test account', requestId = '') =>
      call<object, { account: Account }>(client, 'createAccount', { displayName, requestId }).then((r) => r.account),
    getAccount: (accountId: string) =>
      call<object, { account: Account }>(client, 'getAccount', { accountId }).then((r) => r.account),
    transfer: (request: {
      srcAccountId: string;
      dstAccountId: string;
      amount: bigint;
      direction?: Direction;
      requestId?: string;
    }) =>
      call<object, { transaction: Transaction }>(client, 'transfer', {
        requestId: '',
        direction: Direction.DIRECTION_DEBIT,
        ...request,
      }).then((r) => r.transaction),
    bankTransaction: (request: {
      dstAccountId: string;
      amount: bigint;
      direction: Direction;
      requestId?: string;
      description?: string;
    }) =>
      call<object, { transaction: Transaction }>(client, 'bankTransaction', {
        requestId: '',
        description: '',
        ...request,
      }).then((r) => r.transaction),
    /** A BatchTransfer; each item's direction defaults to DEBIT and its request_id to none. */
    batchTransfer: (request: { requestId?: string; atomic?: boolean; transfers: BatchItemRequest[] }) =>
      call<object, { transactions: Transaction[] }>(client, 'batchTransfer', {
        requestId: request.requestId ?? '',
        atomic: request.atomic ?? false,
        transfers: request.transfers.map((item) => ({ requestId: '', direction: Direction.DIRECTION_DEBIT, ...item })),
      }).then((r) => r.transactions),
    getTransaction: (lookup: { transactionId?: string; requestId?: string }) =>
      call<object, { transaction: Transaction }>(client, 'getTransaction', lookup).then((r) => r.transaction),
    /** Opens an account and funds it from the bank. */
    fundedAccount: async (amount: bigint, displayName = 'Funded account') => {
      const account = await call<object, { account: Account }>(client, 'createAccount', { displayName, requestId: '' });
      if (amount > 0n) {
        await call(client, 'bankTransaction', {
          requestId: randomUUID(),
          dstAccountId: account.account.accountId,
          amount,
          direction: Direction.DIRECTION_CREDIT,
          description: 'test funding',
        });
      }
      return account.account.accountId;
    },
  };
}
