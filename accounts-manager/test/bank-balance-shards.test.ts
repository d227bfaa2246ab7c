import { Direction, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { findAccount } from '../src/db/account-store.js';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { openOrm } from '../src/db/orm.js';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { createDatabaseIfMissing } from '@alfabet/service-kit/postgres';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * The bank's balance lives in 32 shard rows (Migration20261204000000_bank_balance_shards):
 * concurrent bank transactions spread over them instead of queueing on one row, the bank's
 * balance read by GetAccount is their exact sum, and ledger:verify still holds to the unit.
 * Each posting alone (ACCOUNTS_GROUP_COMMIT=off: one ledger_post() each) and in groups (on,
 * the default: one ledger_post_bank_group() per group, its bank legs on one shard).
 * A database of the test's own, so the bank's balance is this test's alone.
 */
const CALLERS = 48;
const CALLS_PER_CALLER = 15;

let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;

describe.each(['off', 'on'])('ACCOUNTS_GROUP_COMMIT=%s', (groupCommit) => {
  const databaseUrl = testDatabaseUrl(`${TEST_DATABASES.accounts}_shards_${groupCommit}`);
  beforeAll(async () => {
    await dropTestDatabase(`${TEST_DATABASES.accounts}_shards_${groupCommit}`);
    ledger = await startTestLedger({
      ACCOUNTS_DATABASE_URL: databaseUrl,
      ACCOUNTS_DB_POOL_SIZE: '16',
      ACCOUNTS_GROUP_COMMIT: groupCommit,
    });
    api = ledgerApi(ledger.client);
    pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  });
  afterAll(async () => {
    await pool.end();
    await ledger.stop();
  });
  it(
    `keeps the bank's balance exact under ${CALLERS} concurrent bank transactions, spread over its shards`,
    () => concurrentBankTransactions(groupCommit === 'off'),
    120_000,
  );
  it("never locks the bank's row, passes over shards other transactions hold, and waits only when all are held", () =>
    shardLocks());
});

interface Sent {
  requestId: string;
  credit: boolean;
  request: { dstAccountId: string; amount: bigint; direction: Direction };
}

const shardBalances = async () =>
  (
    await pool.query<{ shard: number; balance: string }>(
      'SELECT shard, balance FROM bank_balance_shards ORDER BY shard',
    )
  ).rows;

/** Alone, each call picks its connection's shard, so they spread; a group puts its bank legs on one. */
async function concurrentBankTransactions(spreadOverShards: boolean): Promise<void> {
  const accounts: string[] = [];
  for (let i = 0; i < 8; i++) accounts.push(await api.fundedAccount(500n, `shards ${i}`));
  const bankBefore = (await api.getAccount(BANK_ACCOUNT_ID)).balance;
  expect(bankBefore).toBe(-4_000n);

  // Every request id's first answer; a replay (10 %) must return it and move nothing.
  const firstAnswers = new Map<string, { transaction: Transaction; credit: boolean }>();
  const replayMismatches: string[] = [];
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      let previous: Sent | null = null;
      for (let call = 0; call < CALLS_PER_CALLER; call++) {
        const credit = Math.random() < 0.5;
        const sent: Sent =
          previous !== null && Math.random() < 0.1
            ? previous
            : {
                requestId: randomUUID(),
                credit,
                request: {
                  dstAccountId: accounts[(caller + call) % accounts.length]!,
                  amount: BigInt(1 + Math.floor(Math.random() * 200)),
                  direction: credit ? Direction.DIRECTION_CREDIT : Direction.DIRECTION_DEBIT,
                },
              };
        const transaction = await api.bankTransaction({ ...sent.request, requestId: sent.requestId });
        const first = firstAnswers.get(sent.requestId);
        if (first && first.transaction.transactionId !== transaction.transactionId)
          replayMismatches.push(sent.requestId);
        if (!first) firstAnswers.set(sent.requestId, { transaction, credit: sent.credit });
        previous = sent;
      }
    }),
  );

  expect(replayMismatches).toEqual([]);
  // What the acknowledged answers say the bank lent (credits) and took back (debits), each request once.
  let expected = bankBefore;
  for (const { transaction, credit } of firstAnswers.values()) {
    if (transaction.status !== TransactionStatus.TRANSACTION_STATUS_SUCCESS) continue;
    expected += credit ? -transaction.amount : transaction.amount;
  }
  const bank = await api.getAccount(BANK_ACCOUNT_ID);
  expect(bank.balance).toBe(expected);
  const customers = await Promise.all(accounts.map((id) => api.getAccount(id)));
  expect(customers.reduce((sum, account) => sum + account.balance, 0n)).toBe(-expected);

  // The bank's row no longer moves; its money sits in more than one shard.
  const row = await pool.query<{ balance: string }>('SELECT balance FROM accounts WHERE account_id = $1', [
    BANK_ACCOUNT_ID,
  ]);
  expect(row.rows[0]!.balance).toBe('0');
  const shards = await shardBalances();
  expect(shards).toHaveLength(32);
  expect(shards.reduce((sum, shard) => sum + BigInt(shard.balance), 0n)).toBe(expected);
  if (spreadOverShards) expect(shards.filter((shard) => shard.balance !== '0').length).toBeGreaterThan(1);

  expect(await verifyLedger(pool)).toMatchObject({
    ok: true,
    balanceSumMinor: 0n,
    bankBalanceMinor: expected,
    mismatchedAccounts: [],
    negativeAccounts: [],
  });
}

async function shardLocks(): Promise<void> {
  const account = await api.fundedAccount(1_000n, 'shards locks');
  const holder = await pool.connect();
  try {
    await holder.query('BEGIN');
    // The bank's own row, locked by someone else: bank transactions do not care.
    await holder.query('SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE', [BANK_ACCOUNT_ID]);
    // Every shard but 5: the transaction must land on 5, without waiting.
    await holder.query('SELECT 1 FROM bank_balance_shards WHERE shard <> 5 FOR UPDATE');
    const before = await shardBalances();
    const credited = await api.bankTransaction({
      dstAccountId: account,
      amount: 7n,
      direction: Direction.DIRECTION_CREDIT,
      requestId: randomUUID(),
    });
    expect(credited.status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
    const after = await shardBalances();
    expect(after.filter((s, i) => s.balance !== before[i]!.balance)).toEqual([
      { shard: 5, balance: String(BigInt(before[5]!.balance) - 7n) },
    ]);

    // Now every shard is held: the next one waits (on a shard lock) until they are released.
    await holder.query('SELECT 1 FROM bank_balance_shards WHERE shard = 5 FOR UPDATE');
    const waiting = api.bankTransaction({
      dstAccountId: account,
      amount: 3n,
      direction: Direction.DIRECTION_DEBIT,
      requestId: randomUUID(),
    });
    await untilWaitingOnALock();
    await holder.query('COMMIT');
    expect((await waiting).status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
  }
  expect((await api.getAccount(account)).balance).toBe(1_004n);
  expect((await verifyLedger(pool)).ok).toBe(true);
}

/** Resolves once some backend of the test's database waits for a row lock (the bank transaction). */
async function untilWaitingOnALock(): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ledger_post%'`,
    );
    if (rows[0]!.n !== '0') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('no bank transaction ever waited for a shard');
}

it('moves a bank balance made before the shards into them exactly (the migration)', async () => {
  const name = `${TEST_DATABASES.accounts}_shards_migration`;
  const url = testDatabaseUrl(name);
  await dropTestDatabase(name);
  await createDatabaseIfMissing(url);
  const orm = await openOrm({ databaseUrl: url, poolSize: 2, statementTimeoutMs: 10_000 });
  try {
    await orm.migrator.up({ to: 'Migration20261128120000_report_horizon' });
    const db = new pg.Pool({ connectionString: url, max: 1 });
    try {
      // The previous ledger_post(), on the bank's one row: lend 1 000, take 37 back → the bank holds -963.
      const { rows } = await db.query<{ account_id: string }>(
        `INSERT INTO accounts (account_id, display_name) VALUES (gen_random_uuid(), 'before shards') RETURNING account_id`,
      );
      const customer = rows[0]!.account_id;
      await db.query(`SELECT ensure_transaction_partitions(current_date - 1, current_date + 1)`);
      for (const [amount, direction, from, to] of [
        [1_000, 'credit', BANK_ACCOUNT_ID, customer],
        [37, 'debit', customer, BANK_ACCOUNT_ID],
      ] as const)
        await db.query(`SELECT * FROM ledger_post(gen_random_uuid(), NULL, 'bank', NULL, $1, $2, $3, '', $4, $5)`, [
          customer,
          amount,
          direction,
          from,
          to,
        ]);
      const row = await db.query('SELECT balance FROM accounts WHERE account_id = $1', [BANK_ACCOUNT_ID]);
      expect(row.rows).toEqual([{ balance: '-963' }]);

      await orm.migrator.up();

      const shards = await db.query<{ shard: number; balance: string }>(
        'SELECT shard, balance FROM bank_balance_shards ORDER BY shard',
      );
      // -963 = 32 × -30 - 3: -33 on shard 0, -30 on the other 31.
      expect(shards.rows.map((s) => Number(s.balance))).toEqual([-33, ...Array<number>(31).fill(-30)]);
      expect((await findAccount(orm.em, BANK_ACCOUNT_ID))!.balanceMinor).toBe(-963n);
      expect(await verifyLedger(db)).toMatchObject({ ok: true, balanceSumMinor: 0n, bankBalanceMinor: -963n });
    } finally {
      await db.end();
    }
  } finally {
    await orm.close(true);
    await dropTestDatabase(name);
  }
});
