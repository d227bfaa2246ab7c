import { status, type ServiceError } from '@grpc/grpc-js';
import { Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { H2LedgerClient } from '../bench/h2-unary.mjs';
import { call, ledgerApi, startTestLedger, type TestLedger } from '../accounts-manager/test/support/ledger-harness.js';

/**
 * The bench's lean load client (bench/h2-unary.mjs) must be a gRPC client in
 * full, or the throughput it measures is not the service's: the server answers
 * it exactly as it answers the generated grpc-js client — the same
 * transaction for the same request id, the same status code and message for a
 * bad field, a FAILED transfer as a response — and its callers share sessions.
 */
interface LeanClient {
  call(method: string, request: object, deadlineMs: number): Promise<any>;
  close(): void;
}
let ledger: TestLedger;
let lean: LeanClient;
let rich: string;
let poor: string;

beforeAll(async () => {
  ledger = await startTestLedger();
  lean = new H2LedgerClient(ledger.address) as LeanClient;
  const api = ledgerApi(ledger.client);
  rich = await api.fundedAccount(1_000n, 'lean client rich');
  poor = await api.fundedAccount(0n, 'lean client poor');
});
afterAll(async () => {
  lean?.close();
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
  const leanError = await lean.call('transfer', request, 10_000).then(
    () => null,
    (error: { code: number; message: string }) => error,
  );
  const grpcJsError = await call(ledger.client, 'transfer', request).then(
    () => null,
    (error: ServiceError) => error,
  );
  expect(leanError?.code).toBe(status.INVALID_ARGUMENT);
  expect(leanError?.message).toContain('src_account_id');
  expect(grpcJsError?.code).toBe(leanError?.code);
  expect(grpcJsError?.details).toBe(leanError?.message);
});

test('concurrent calls on one session each get their own answer', async () => {
  const requests = Array.from({ length: 50 }, () => transfer({ amount: 1n }));
  const answers = await Promise.all(requests.map((request) => lean.call('transfer', request, 10_000)));
  expect(answers.map((a) => a.transaction.requestId)).toEqual(requests.map((r) => r.requestId));
});
