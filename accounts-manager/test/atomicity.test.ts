import { status } from '@grpc/grpc-js';
import { TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { storedFootprint, testPool } from './support/db.js';

/**
 * A transfer whose database connection dies between its two legs must leave
 * nothing behind. A test-only trigger stalls the second leg (the payee's
 * UPDATE) after the first leg (the payer's UPDATE) ran; the test then kills
 * the backend, as a crash or a network cut would.
 */
let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;

beforeAll(async () => {
  ledger = await startTestLedger();
  api = ledgerApi(ledger.client);
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

async function stallUpdatesOf(accountId: string, seconds: number): Promise<() => Promise<void>> {
  const name = `stall_${accountId.replace(/-/g, '')}`;
  await pool.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${seconds}); RETURN NEW; END $$`);
  await pool.query(`CREATE TRIGGER ${name} BEFORE UPDATE ON accounts FOR EACH ROW
    WHEN (NEW.account_id = '${accountId}'::uuid) EXECUTE FUNCTION ${name}()`);
  return async () => {
    await pool.query(`DROP TRIGGER IF EXISTS ${name} ON accounts`);
    await pool.query(`DROP FUNCTION IF EXISTS ${name}()`);
  };
}

async function waitForStalledBackend(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rows } = await pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%ledger_post%'`,
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the transfer never reached its second leg');
}

it('a connection killed between the two legs of a transfer leaves balances and records unchanged', async () => {
  const payer = await api.fundedAccount(1_000n, 'payer');
  const payee = await api.fundedAccount(0n, 'payee');
  const requestId = randomUUID();
  const before = await storedFootprint(pool, [payer, payee]);
  const removeStall = await stallUpdatesOf(payee, 30);
  try {
    const transfer = api.transfer({ requestId, srcAccountId: payer, dstAccountId: payee, amount: 400n });
    const pid = await waitForStalledBackend();

    // The first leg has run inside the open transaction, yet nobody else can see it.
    expect((await api.getAccount(payer)).balance).toBe(1_000n);

    await pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await expect(transfer).rejects.toMatchObject({ code: status.UNAVAILABLE });
  } finally {
    await removeStall();
  }

  expect((await api.getAccount(payer)).balance).toBe(1_000n);
  expect((await api.getAccount(payee)).balance).toBe(0n);
  expect(await storedFootprint(pool, [payer, payee], requestId)).toEqual({ ...before, requestRows: 0 });

  // The caller retries with the same request_id and the transfer applies exactly once.
  const retried = await api.transfer({ requestId, srcAccountId: payer, dstAccountId: payee, amount: 400n });
  expect(retried.status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
  expect((await api.getAccount(payer)).balance).toBe(600n);
  expect((await api.getAccount(payee)).balance).toBe(400n);
});
