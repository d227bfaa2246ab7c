import { credentials } from '@grpc/grpc-js';
import { AccountsServiceClient, Direction, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { prng } from './support/prng.js';

/**
 * Many clients hammer a handful of accounts with transfers and bank
 * transactions, some re-sending a request_id. Afterwards the ledger must hold
 * every acknowledged success exactly once, each request_id applied once, no
 * balance below zero at any moment, and the double-entry invariants.
 */
const CLIENTS = 64;
const CHANNELS = 8; // clients share a few HTTP/2 connections, as real services do
const OPERATIONS_PER_CLIENT = 25;
const ACCOUNTS = 5;
const REPEAT_PROBABILITY = 0.15;

let ledger: TestLedger;
let pool: pg.Pool;

beforeAll(async () => {
  ledger = await startTestLedger({ ACCOUNTS_DB_POOL_SIZE: '16' });
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

it(`keeps the ledger exact under ${CLIENTS} concurrent clients on ${ACCOUNTS} accounts`, async () => {
  const seed = Number(process.env.CONCURRENCY_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const api = ledgerApi(ledger.client);
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) accounts.push(await api.fundedAccount(1_000n, `hot ${i}`));

  const channels = Array.from(
    { length: CHANNELS },
    () => new AccountsServiceClient(ledger.address, credentials.createInsecure()),
  );
  const responses = new Map<string, Transaction[]>(); // request_id → every answer it got
  let sampledNegative: string | null = null;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await pool.query<{ account_id: string; balance: string }>(
        'SELECT account_id, balance FROM accounts WHERE account_id = ANY($1::uuid[])',
        [accounts],
      );
      for (const row of rows) if (BigInt(row.balance) < 0n) sampledNegative = `${row.account_id}=${row.balance}`;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();

  const pick = () => accounts[Math.floor(random() * ACCOUNTS)]!;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, clientIndex) => {
      const client = ledgerApi(channels[clientIndex % CHANNELS]!);
      let previous: (() => Promise<Transaction>) | null = null;
      for (let op = 0; op < OPERATIONS_PER_CLIENT; op++) {
        let send: () => Promise<Transaction>;
        let requestId: string;
        if (previous && random() < REPEAT_PROBABILITY) {
          send = previous; // the very same request again, as after a lost reply
          requestId = (previous as unknown as { requestId: string }).requestId;
        } else {
          requestId = randomUUID();
          const amount = BigInt(1 + Math.floor(random() * 300));
          const direction = random() < 0.5 ? Direction.DIRECTION_DEBIT : Direction.DIRECTION_CREDIT;
          if (random() < 0.75) {
            const src = pick();
            let dst = pick();
            while (dst === src) dst = pick();
            send = () => client.transfer({ requestId, srcAccountId: src, dstAccountId: dst, amount, direction });
          } else {
            const dst = pick();
            send = () =>
              client.bankTransaction({ requestId, dstAccountId: dst, amount, direction, description: 'load' });
          }
          Object.assign(send, { requestId });
        }
        const answer = await send();
        responses.set(requestId, [...(responses.get(requestId) ?? []), answer]);
        previous = send;
      }
    }),
  );
  sampling = false;
  await sampler;
  for (const channel of channels) channel.close();

  expect({ seed, sampledNegative }).toEqual({ seed, sampledNegative: null });

  // Every request_id answered with one single transaction, however often it was sent.
  const acknowledged = new Map<string, Transaction>();
  for (const [requestId, answers] of responses) {
    expect(new Set(answers.map((a) => a.transactionId)).size).toBe(1);
    acknowledged.set(requestId, answers[0]!);
  }

  // The database holds exactly the acknowledged transactions, once each.
  const { rows } = await pool.query<{
    transaction_id: string;
    request_id: string;
    status: string;
    amount: string;
    from_account_id: string;
    to_account_id: string;
  }>(
    `SELECT transaction_id, request_id, status, amount, from_account_id, to_account_id FROM transactions
     WHERE request_id = ANY($1::uuid[])`,
    [[...acknowledged.keys()]],
  );
  expect(rows).toHaveLength(acknowledged.size);
  for (const row of rows) {
    const answer = acknowledged.get(row.request_id)!;
    expect(row.transaction_id).toBe(answer.transactionId);
    expect(row.status === 'success').toBe(answer.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS);
  }

  // Replaying the acknowledged successes from the initial balances gives the final balances: no lost update.
  const expected = new Map(accounts.map((id) => [id, 1_000n]));
  for (const row of rows.filter((r) => r.status === 'success')) {
    if (expected.has(row.from_account_id))
      expected.set(row.from_account_id, expected.get(row.from_account_id)! - BigInt(row.amount));
    if (expected.has(row.to_account_id))
      expected.set(row.to_account_id, expected.get(row.to_account_id)! + BigInt(row.amount));
  }
  for (const id of accounts) {
    const balance = (await api.getAccount(id)).balance;
    expect(balance).toBeGreaterThanOrEqual(0n);
    expect(balance).toBe(expected.get(id));
  }
  // The run exercised what it claims to: successes, funds-short failures and repeats.
  expect(rows.some((r) => r.status === 'success')).toBe(true);
  expect(rows.some((r) => r.status === 'failed')).toBe(true);
  expect([...responses.values()].some((answers) => answers.length > 1)).toBe(true);

  const verification = await verifyLedger(pool);
  expect(verification).toMatchObject({ ok: true, balanceSumMinor: 0n, mismatchedAccounts: [], negativeAccounts: [] });
});
