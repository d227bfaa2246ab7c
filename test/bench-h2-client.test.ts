import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { AccountsServiceService, Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { H2FramesLedgerClient } from '../bench/h2-frames.mjs';
import { H2LedgerClient } from '../bench/h2-unary.mjs';
import { call, ledgerApi, startTestLedger, type TestLedger } from '../accounts-manager/test/support/ledger-harness.js';
import { expectSameInvalidArgument } from '../test-support/lean-client-errors.js';

/**
 * The bench's lean load clients (bench/h2-frames.mjs, the default, and
 * bench/h2-unary.mjs) must be gRPC clients in full, or the throughput they
 * measure is not the service's: the server answers them exactly as it answers
 * the generated grpc-js client — the same transaction for the same request id,
 * the same status code and message for a bad field, a FAILED transfer as a
 * response — their callers share connections, and messages larger than
 * HTTP/2's flow-control windows go through whole.
 */
interface LeanClient {
  call(method: string, request: object, deadlineMs: number): Promise<any>;
  close(): void;
}
const LEAN_CLIENTS: [string, new (address: string) => LeanClient][] = [
  ['h2-frames', H2FramesLedgerClient],
  ['h2-unary', H2LedgerClient],
];
let ledger: TestLedger;
let rich: string;
let poor: string;

beforeAll(async () => {
  ledger = await startTestLedger();
  const api = ledgerApi(ledger.client);
  rich = await api.fundedAccount(10_000n, 'lean client rich');
  poor = await api.fundedAccount(0n, 'lean client poor');
});
afterAll(async () => {
  await ledger?.stop();
});

const transfer = (fields: object) => ({
  requestId: randomUUID(),
  srcAccountId: rich,
  dstAccountId: poor,
  amount: 5n,
  direction: Direction.DIRECTION_DEBIT,
  ...fields,
});

describe.each(LEAN_CLIENTS)('%s', (_name, LeanClientClass) => {
  let lean: LeanClient;
  beforeAll(() => {
    lean = new LeanClientClass(ledger.address);
  });
  afterAll(() => lean?.close());

  test('a transfer through the lean client is the one grpc-js gets back for the same request id', async () => {
    const request = transfer({});
    const leanAnswer = await lean.call('transfer', request, 10_000);
    const grpcJsAnswer = await call<object, { transaction: { transactionId: string } }>(
      ledger.client,
      'transfer',
      request,
    );
    expect(leanAnswer.transaction.status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
    expect(leanAnswer.transaction.amount).toBe(5n);
    expect(grpcJsAnswer).toEqual(leanAnswer);
  });

  test('a FAILED transfer is an answer, not an error', async () => {
    const answer = await lean.call(
      'transfer',
      transfer({ srcAccountId: poor, dstAccountId: rich, amount: 1_000_000n }),
      10_000,
    );
    expect(answer.transaction.status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
  });

  test('a bad field is the same INVALID_ARGUMENT, with the same message, as grpc-js reports', async () => {
    const request = transfer({ srcAccountId: 'not-a-uuid' });
    await expectSameInvalidArgument(
      lean.call('transfer', request, 10_000),
      call(ledger.client, 'transfer', request),
      'src_account_id',
    );
  });

  test('concurrent calls on one session each get their own answer', async () => {
    const requests = Array.from({ length: 50 }, () => transfer({ amount: 1n }));
    const answers = await Promise.all(requests.map((request) => lean.call('transfer', request, 10_000)));
    expect(answers.map((a) => a.transaction.requestId)).toEqual(requests.map((r) => r.requestId));
  });

  // The server's windows are 64 KiB: the request waits for its WINDOW_UPDATEs on the way. (Node's server
  // does not refuse a client that overruns them, so this shows the waiting completes, not that it is needed.)
  test("a batch of 1 000 (a request and an answer several times HTTP/2's 64 KiB windows) is answered whole", async () => {
    const request = {
      requestId: randomUUID(),
      atomic: false,
      transfers: Array.from({ length: 1_000 }, () => transfer({ amount: 1n })),
    };
    const answer = await lean.call('batchTransfer', request, 30_000);
    expect(answer.transactions.map((t: { requestId: string }) => t.requestId)).toEqual(
      request.transfers.map((t) => t.requestId),
    );
    expect(await call(ledger.client, 'batchTransfer', request)).toEqual(answer);
  });
});

describe('h2-frames against the connection, not the calls', () => {
  test("keeps within the server's stream limit: calls beyond it wait for a free stream", async () => {
    let inFlight = 0;
    let most = 0;
    const server = new Server({ 'grpc.max_concurrent_streams': 2 });
    server.addService(AccountsServiceService, {
      getAccount: (
        { request }: { request: { accountId: string } },
        answer: (error: null, response: object) => void,
      ) => {
        most = Math.max(most, ++inFlight);
        setTimeout(() => {
          inFlight -= 1;
          answer(null, { account: { accountId: request.accountId, displayName: 'echo', balance: 0n } });
        }, 30);
      },
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const lean = new H2FramesLedgerClient(`127.0.0.1:${port}`);
    try {
      const ids = Array.from({ length: 8 }, () => randomUUID());
      const answers = await Promise.all(ids.map((accountId) => lean.call('getAccount', { accountId }, 10_000)));
      expect(answers.map((a) => a.account.accountId)).toEqual(ids);
      expect(most).toBe(2);
    } finally {
      lean.close();
      server.forceShutdown();
    }
  });

  test('a connection refused, or closed by the server, fails its calls UNAVAILABLE instead of leaving them waiting', async () => {
    const refused = new H2FramesLedgerClient('127.0.0.1:1');
    await expect(refused.call('getAccount', { accountId: rich }, 10_000)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    refused.close();

    const other = await startTestLedger();
    const lean = new H2FramesLedgerClient(other.address);
    await expect(lean.call('getAccount', { accountId: rich }, 10_000)).resolves.toBeDefined();
    await other.stop();
    await expect(lean.call('getAccount', { accountId: rich }, 10_000)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    lean.close();
  });
});
