import { Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  Direction,
  TransactionStatus,
  type AccountsServiceClient,
  type ListTransactionsResponse,
  type Transaction,
} from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { createLogger } from '../src/logger.js';
import { testPool } from './support/db.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { listRequest } from './support/report-client.js';

/**
 * Who made each transaction (DESIGN.md §3, `initiated_by`): the identity
 * authorization established for the call is stored with the row, returned by
 * every RPC that returns a transaction — a replay included, whoever replays —
 * and is on every log line of the call. Without authorization it is empty.
 */
const OPS_TOKEN = 'ops-token-0123456789abcdef';
const SHOP_TOKEN = 'shop-token-0123456789abcdef';
let pool: pg.Pool;
const ledgers: TestLedger[] = [];

beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  for (const ledger of ledgers) await ledger.stop();
  await pool.end();
});

const asCaller = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};
function unary<Res>(client: AccountsServiceClient, method: string, request: object, token: string): Promise<Res> {
  return new Promise((resolve, reject) =>
    (
      client[method as 'getAccount'] as unknown as (
        r: object,
        m: Metadata,
        cb: (e: ServiceError | null, r: Res) => void,
      ) => void
    ).call(client, request, asCaller(token), (error, response) => (error ? reject(error) : resolve(response))),
  );
}
function listed(client: AccountsServiceClient, accountId: string, token: string): Promise<Transaction[]> {
  return new Promise((resolve, reject) => {
    const rows: Transaction[] = [];
    client
      .listTransactions(listRequest({ accountId }), asCaller(token))
      .on('data', (page: ListTransactionsResponse) => rows.push(...page.transactions))
      .on('error', reject)
      .on('end', () => resolve(rows));
  });
}
const storedInitiator = async (transactionId: string) =>
  (await pool.query('SELECT initiated_by FROM transactions WHERE transaction_id = $1', [transactionId])).rows[0]
    ?.initiated_by;

describe('with authorization on', () => {
  let ledger: TestLedger;
  let logged = '';
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += String(chunk);
        done();
      },
    });
    ledger = await startTestLedger(
      { ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTH_TOKENS: `ops:${OPS_TOKEN}, shop:${SHOP_TOKEN}`, LOG_LEVEL: 'debug' },
      createLogger('debug', sink),
    );
    ledgers.push(ledger);
  });

  it('stores the caller with each transaction and returns it from every RPC, a replay included', async () => {
    const client = ledger.client;
    const open = async (name: string) =>
      (
        await unary<{ account: { accountId: string } }>(
          client,
          'createAccount',
          { requestId: '', displayName: name },
          SHOP_TOKEN,
        )
      ).account.accountId;
    const [alice, bob] = [await open('Alice'), await open('Bob')];
    const credit = {
      requestId: randomUUID(),
      dstAccountId: alice,
      amount: 1_000n,
      direction: Direction.DIRECTION_CREDIT,
      description: 'by ops',
    };
    const banked = (await unary<{ transaction: Transaction }>(client, 'bankTransaction', credit, OPS_TOKEN))
      .transaction;
    expect(banked.initiatedBy).toBe('ops');
    const move = {
      requestId: randomUUID(),
      srcAccountId: alice,
      dstAccountId: bob,
      amount: 400n,
      direction: Direction.DIRECTION_DEBIT,
    };
    const moved = (await unary<{ transaction: Transaction }>(client, 'transfer', move, SHOP_TOKEN)).transaction;
    expect(moved.initiatedBy).toBe('shop');
    // A refused transfer (not enough funds) is stored, with who asked for it.
    const refused = (
      await unary<{ transaction: Transaction }>(
        client,
        'transfer',
        { ...move, requestId: randomUUID(), amount: 10_000n },
        SHOP_TOKEN,
      )
    ).transaction;
    expect(refused).toMatchObject({ status: TransactionStatus.TRANSACTION_STATUS_FAILED, initiatedBy: 'shop' });

    expect(await storedInitiator(banked.transactionId)).toBe('ops');
    expect(await storedInitiator(moved.transactionId)).toBe('shop');
    expect(await storedInitiator(refused.transactionId)).toBe('shop');
    for (const [lookup, initiator] of [
      [{ transactionId: banked.transactionId }, 'ops'],
      [{ requestId: credit.requestId }, 'ops'],
      [{ transactionId: moved.transactionId }, 'shop'],
    ] as const) {
      const found = (await unary<{ transaction: Transaction }>(client, 'getTransaction', lookup, SHOP_TOKEN))
        .transaction;
      expect({ lookup, initiatedBy: found.initiatedBy }).toEqual({ lookup, initiatedBy: initiator });
    }
    const rows = await listed(client, alice, SHOP_TOKEN);
    expect(Object.fromEntries(rows.map((row) => [row.transactionId, row.initiatedBy]))).toEqual({
      [banked.transactionId]: 'ops',
      [moved.transactionId]: 'shop',
      [refused.transactionId]: 'shop',
    });

    // Replayed by someone else: the very same transaction, with its original initiator.
    const replayed = (await unary<{ transaction: Transaction }>(client, 'transfer', move, OPS_TOKEN)).transaction;
    expect(replayed).toEqual(moved);
    expect(await storedInitiator(moved.transactionId)).toBe('shop');
  });

  it('puts the identity on every log line of a call', async () => {
    const correlationId = `initiated-by-${randomUUID()}`;
    const metadata = asCaller(OPS_TOKEN);
    metadata.set('x-correlation-id', correlationId);
    const account = await ledgerApi(ledger.client)
      .createAccount('logged')
      .catch(() => null); // refused: no identity
    expect(account).toBeNull();
    const opened = await unary<{ account: { accountId: string } }>(
      ledger.client,
      'createAccount',
      { requestId: '', displayName: 'logged' },
      OPS_TOKEN,
    );
    await new Promise<void>((resolve, reject) =>
      ledger.client.bankTransaction(
        {
          requestId: randomUUID(),
          dstAccountId: opened.account.accountId,
          amount: 5n,
          direction: Direction.DIRECTION_CREDIT,
          description: '',
        },
        metadata,
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    const lines = logged
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.correlationId === correlationId);
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['transaction posted', 'rpc ok']));
    expect(lines.map((line) => line.identity)).toEqual(lines.map(() => 'ops'));
    // And the report stream's access line.
    await listed(ledger.client, opened.account.accountId, SHOP_TOKEN);
    const listing = logged
      .split('\n')
      .filter((line) => line.includes('"method":"ListTransactions"') && line.includes('"msg":"rpc ok"'));
    expect(listing.length).toBeGreaterThan(0);
    expect(listing.every((line) => line.includes('"identity":"shop"'))).toBe(true);
  });
});

it('is empty when authorization is off', async () => {
  const ledger = await startTestLedger();
  ledgers.push(ledger);
  const api = ledgerApi(ledger.client);
  const accountId = await api.fundedAccount(100n);
  const transaction = await api.transfer({
    srcAccountId: accountId,
    dstAccountId: await api.fundedAccount(0n),
    amount: 1n,
  });
  expect(transaction.initiatedBy).toBe('');
  expect(await storedInitiator(transaction.transactionId)).toBe('');
});
