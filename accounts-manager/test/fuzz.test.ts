import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceClient, type Transaction } from '@alfabet/proto/accounts/v1';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { healthCheck } from './support/ops-clients.js';

/**
 * Fuzzing for a bounded time: random bytes as request messages of every
 * method, and random field values through the generated client. The service
 * must never crash or answer a client's mistake with INTERNAL/UNKNOWN, and
 * no money may move except by a request it answered OK.
 */
const FUZZ_MS = 8_000;
const WORKERS = 8;
const SERVICE = '/alfabet.accounts.v1.AccountsService/';
const UNARY = ['CreateAccount', 'GetAccount', 'Transfer', 'BankTransaction', 'BatchTransfer', 'GetTransaction'];
const SERVER_FAULTS = new Set([status.INTERNAL, status.UNKNOWN, status.DATA_LOSS, status.UNIMPLEMENTED]);

let ledger: TestLedger;
let pool: pg.Pool;
beforeAll(async () => {
  ledger = await startTestLedger();
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const pickOne = <T>(values: readonly T[]): T => values[randomInt(values.length)]!;
const randomText = () =>
  Array.from({ length: randomInt(0, 40) }, () =>
    String.fromCodePoint(pickOne([randomInt(32, 127), randomInt(0x80, 0x2fff), 0x1f600])),
  ).join('');

it(`survives ${FUZZ_MS / 1000} s of random bytes and random field values, and moves money only when it says OK`, async () => {
  const api = ledgerApi(ledger.client);
  const a = await api.fundedAccount(10_000n, 'fuzz a');
  const b = await api.fundedAccount(10_000n, 'fuzz b');
  const funding = new Set(
    (
      await pool.query<{ transaction_id: string }>(
        'SELECT transaction_id FROM transactions WHERE to_account_id = ANY($1::uuid[])',
        [[a, b]],
      )
    ).rows.map((row) => row.transaction_id),
  );
  const ids = [
    '',
    'x',
    'not-a-uuid',
    randomUUID(),
    a,
    b,
    BANK_ACCOUNT_ID,
    "'; DROP TABLE accounts; --",
    'ä'.repeat(36),
    a.toUpperCase(),
    ` ${a}`,
  ];
  const amounts = [0n, -1n, 1n, 7n, 10_001n, 2n ** 63n - 1n, -(2n ** 63n), 1_000_000_000_001n];
  const enums = [-1, 0, 1, 2, 3, 2 ** 31 - 1];

  const raw = new Client(ledger.address, credentials.createInsecure());
  const typed = new AccountsServiceClient(ledger.address, credentials.createInsecure());
  const codes = new Map<string, number>();
  const faults: string[] = [];
  const okMoney: Transaction[] = [];
  const count = (code: number) =>
    codes.set(status[code] ?? String(code), (codes.get(status[code] ?? String(code)) ?? 0) + 1);
  const settle = (what: string, error: ServiceError | null) => {
    const code = error ? error.code : status.OK;
    count(code);
    if (SERVER_FAULTS.has(code)) faults.push(`${what}: ${status[code]} ${error?.details}`);
  };

  const rawCall = (method: string) =>
    new Promise<void>((resolve) => {
      const message = randomBytes(randomInt(0, 200));
      const deadline = { deadline: Date.now() + 5_000 };
      if (method === 'ListTransactions') {
        const stream = raw.makeServerStreamRequest(
          SERVICE + method,
          (x: Buffer) => x,
          (x: Buffer) => x,
          message,
          new Metadata(),
          deadline,
        );
        stream.on('data', () => undefined);
        stream.on('error', (error: ServiceError) => {
          settle(`raw ${method} ${message.toString('hex')}`, error);
          resolve();
        });
        stream.on('end', () => {
          settle(`raw ${method}`, null);
          resolve();
        });
        return;
      }
      raw.makeUnaryRequest(
        SERVICE + method,
        (x: Buffer) => x,
        (x: Buffer) => x,
        message,
        new Metadata(),
        deadline,
        (error) => {
          settle(`raw ${method} ${message.toString('hex')}`, error ?? null);
          resolve();
        },
      );
    });

  const typedCall = () =>
    new Promise<void>((resolve) => {
      const method = pickOne([
        'transfer',
        'bankTransaction',
        'batchTransfer',
        'createAccount',
        'getAccount',
        'getTransaction',
      ] as const);
      const fields = () => ({
        requestId: pickOne(['', randomUUID(), 'bad', randomText()]),
        srcAccountId: pickOne(ids),
        dstAccountId: pickOne(ids),
        accountId: pickOne(ids),
        transactionId: pickOne(ids),
        amount: pickOne(amounts),
        direction: pickOne(enums),
        description: randomText(),
        displayName: randomText(),
      });
      const request = {
        ...fields(),
        atomic: pickOne([false, true]),
        transfers: Array.from({ length: randomInt(0, 4) }, fields),
      };
      (
        typed[method] as unknown as (
          r: object,
          o: object,
          cb: (e: ServiceError | null, r: { transaction?: Transaction; transactions?: Transaction[] }) => void,
        ) => void
      ).call(typed, request, { deadline: Date.now() + 5_000 }, (error, response) => {
        settle(`${method} ${JSON.stringify(request, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`, error);
        if (!error && (method === 'transfer' || method === 'bankTransaction')) okMoney.push(response.transaction!);
        if (!error && method === 'batchTransfer') okMoney.push(...response.transactions!);
        resolve();
      });
    });

  const until = Date.now() + FUZZ_MS;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      while (Date.now() < until) {
        if (worker % 2 === 0) await rawCall(pickOne([...UNARY, 'ListTransactions']));
        else await typedCall();
      }
    }),
  );
  raw.close();
  typed.close();

  expect(faults).toEqual([]);
  expect([...codes.keys()]).toEqual(expect.arrayContaining(['INVALID_ARGUMENT', 'OK']));
  expect(await healthCheck(ledger.address, 'alfabet.accounts.v1.AccountsService')).toBe('SERVING');

  // Money moved only by answered requests: the rows on the two accounts are their funding plus the OK answers.
  const { rows } = await pool.query<{ transaction_id: string }>(
    `SELECT transaction_id FROM transactions WHERE (from_account_id = ANY($1::uuid[]) OR to_account_id = ANY($1::uuid[]))`,
    [[a, b]],
  );
  const okIds = new Set(okMoney.map((t) => t.transactionId));
  expect(funding.size).toBe(2);
  expect(rows.filter((row) => !okIds.has(row.transaction_id) && !funding.has(row.transaction_id))).toEqual([]);
  expect(rows.length).toBe(funding.size + okIds.size);
  expect(await verifyLedger(pool)).toMatchObject({ ok: true });
}, 60_000);

it('answers bytes that are not a request message with INVALID_ARGUMENT naming `request`, not INTERNAL', async () => {
  const raw = new Client(ledger.address, credentials.createInsecure());
  try {
    // Field 1, length-delimited, claiming 255 bytes that are not there.
    const error = await new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        `${SERVICE}Transfer`,
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.from([0x0a, 0xff, 0x01]),
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (e) => resolve(e ?? null),
      ),
    );
    expect(error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^request: is not a valid Transfer request message/),
    });
    expect(error!.metadata.get('alfabet-error-field')).toEqual(['request']);
  } finally {
    raw.close();
  }
});
