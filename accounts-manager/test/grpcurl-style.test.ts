import { status } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { ACCOUNTS_SERVICE_NAME } from '../src/app.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { reflectionJsonClient } from './support/reflection-json-client.js';

/** What ops do with grpcurl: discover the API by reflection and call it with JSON. */
let ledger: TestLedger;
let client: Awaited<ReturnType<typeof reflectionJsonClient>>;

beforeAll(async () => {
  ledger = await startTestLedger();
  client = await reflectionJsonClient(ledger.address, ACCOUNTS_SERVICE_NAME);
});
afterAll(async () => {
  client.close();
  await ledger.stop();
});

it('discovers every RPC of the contract', () => {
  expect(client.methods.sort()).toEqual([
    'BankTransaction',
    'BatchTransfer',
    'CreateAccount',
    'GetAccount',
    'GetTransaction',
    'ListTransactions',
    'Transfer',
  ]);
});

it('opens, funds, reads and moves money with JSON requests only', async () => {
  const alice = (await client.call('CreateAccount', { display_name: 'Alice' })).account;
  const bob = (await client.call('CreateAccount', { display_name: 'Bob' })).account;
  expect(alice).toMatchObject({ display_name: 'Alice', balance: '0' });

  const deposit = await client.call('BankTransaction', {
    request_id: randomUUID(),
    dst_account_id: alice.account_id,
    amount: '10000',
    direction: 'DIRECTION_CREDIT',
    description: 'opening deposit',
  });
  expect(deposit.transaction).toMatchObject({
    status: 'TRANSACTION_STATUS_SUCCESS',
    kind: 'TRANSACTION_KIND_BANK',
    amount: '10000',
  });

  const transfer = await client.call('Transfer', {
    request_id: randomUUID(),
    src_account_id: alice.account_id,
    dst_account_id: bob.account_id,
    amount: '2500',
    direction: 'DIRECTION_DEBIT',
  });
  expect(transfer.transaction).toMatchObject({
    status: 'TRANSACTION_STATUS_SUCCESS',
    failure_reason: 'FAILURE_REASON_UNSPECIFIED',
  });

  const tooMuch = await client.call('Transfer', {
    src_account_id: bob.account_id,
    dst_account_id: alice.account_id,
    amount: '999999',
    direction: 'DIRECTION_DEBIT',
  });
  expect(tooMuch.transaction).toMatchObject({
    status: 'TRANSACTION_STATUS_FAILED',
    failure_reason: 'FAILURE_REASON_INSUFFICIENT_FUNDS',
  });

  expect((await client.call('GetAccount', { account_id: alice.account_id })).account.balance).toBe('7500');

  const batch = await client.call('BatchTransfer', {
    request_id: randomUUID(),
    atomic: true,
    transfers: [
      { src_account_id: alice.account_id, dst_account_id: bob.account_id, amount: '500', direction: 'DIRECTION_DEBIT' },
      {
        src_account_id: bob.account_id,
        dst_account_id: alice.account_id,
        amount: '99999',
        direction: 'DIRECTION_DEBIT',
      },
    ],
  });
  expect(batch.transactions.map((t: { failure_reason: string }) => t.failure_reason)).toEqual([
    'FAILURE_REASON_BATCH_ABORTED',
    'FAILURE_REASON_INSUFFICIENT_FUNDS',
  ]);
  expect((await client.call('GetAccount', { account_id: alice.account_id })).account.balance).toBe('7500');
  const fetched = await client.call('GetTransaction', { transaction_id: transfer.transaction.transaction_id });
  expect(fetched.transaction.transaction_id).toBe(transfer.transaction.transaction_id);
  await expect(client.call('GetAccount', { account_id: 'nope' })).rejects.toMatchObject({
    code: status.INVALID_ARGUMENT,
  });
});

it('streams the report as JSON pages, like grpcurl -d \'{"page_size": 2}\'', async () => {
  const carol = (await client.call('CreateAccount', { display_name: 'Carol' })).account;
  for (const amount of ['100', '200', '300']) {
    await client.call('BankTransaction', { dst_account_id: carol.account_id, amount, direction: 'DIRECTION_CREDIT' });
  }
  const pages = await client.stream('ListTransactions', { page_size: 2, account_id: carol.account_id });
  expect(pages.map((page) => page.page)).toEqual([1, 2]);
  expect(pages[0]).toMatchObject({ page_size: 2, total_size: '3', total_pages: 2 });
  expect(pages.flatMap((page) => page.transactions.map((t: { amount: string }) => t.amount))).toEqual([
    '300',
    '200',
    '100',
  ]);
  expect(pages[1]!.next_page_token).toBe('');

  // Every account's transactions: the shared test database holds thousands (pages of 2), so read two and cancel.
  const everyone = await client.stream('ListTransactions', { page_size: 2 }, 2);
  expect(everyone.length).toBeGreaterThanOrEqual(2);
  expect(everyone[0]!.transactions).toHaveLength(2);
});

it('refuses JSON values of the wrong kind that reach the server, naming the field', async () => {
  const dave = (await client.call('CreateAccount', { display_name: 'Dave' })).account;
  const refused = (method: string, json: object) =>
    client.call(method, json).then(
      () => null,
      (error) => ({ code: error.code, field: error.details.split(':')[0] }),
    );
  // A negative JSON number where minor units belong, an enum by an unknown number, an id given as a number.
  expect(
    await refused('BankTransaction', { dst_account_id: dave.account_id, amount: -5, direction: 'DIRECTION_CREDIT' }),
  ).toEqual({ code: status.INVALID_ARGUMENT, field: 'amount' });
  expect(await refused('BankTransaction', { dst_account_id: dave.account_id, amount: '5', direction: 9 })).toEqual({
    code: status.INVALID_ARGUMENT,
    field: 'direction',
  });
  expect(await refused('GetAccount', { account_id: 12345 })).toEqual({
    code: status.INVALID_ARGUMENT,
    field: 'account_id',
  });
  await expect(client.stream('ListTransactions', { page_size: -3 })).rejects.toMatchObject({
    code: status.INVALID_ARGUMENT,
    details: expect.stringMatching(/^page_size: /),
  });
  expect((await client.call('GetAccount', { account_id: dave.account_id })).account.balance).toBe('0');
});
