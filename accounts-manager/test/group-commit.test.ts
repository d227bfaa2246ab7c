import { status, type ServiceError } from '@grpc/grpc-js';
import { Direction, FailureReason, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { GroupCommit } from '../src/ledger/group-commit.js';
import { groupCommits, postBankGroup, postTransferGroup } from '../src/ledger/group-posting.js';
import { bankPosting, transferPosting, type Posted } from '../src/ledger/post-transaction.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * The group commit (ACCOUNTS_GROUP_COMMIT, on by default; ledger/group-commit.ts): lone
 * transfers arriving together are posted as one statement, and each caller
 * gets exactly its own answer — one transfer's failure, unknown account or
 * reused key never touches another's. (ledger-interleavings.test.ts runs the
 * whole property test through it as well.)
 *
 * On a database of its own: one test sets every bank shard near its floor, and
 * another checks the bank's balance moved by exactly its own postings — neither
 * may share the bank with the other test files' fundings running alongside.
 */
const DATABASE = `${TEST_DATABASES.accounts}_group_commit`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const poolOf = (max: number, options?: string) => new pg.Pool({ connectionString: DATABASE_URL, max, options });
let ledger: TestLedger;
let api: ReturnType<typeof ledgerApi>;
let pool: pg.Pool;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL, ACCOUNTS_GROUP_COMMIT: 'on' });
  api = ledgerApi(ledger.client);
  pool = poolOf(4);
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

const MAX_AMOUNT = 1_000_000_000_000n;
const transferGroups = () =>
  new GroupCommit(1000, (postings) => postTransferGroup({ pool, maxAmountMinor: MAX_AMOUNT }, postings));
const bankGroups = () =>
  new GroupCommit(1000, (postings) => postBankGroup({ pool, maxAmountMinor: MAX_AMOUNT }, postings));
const transferOf = (src: string, dst: string, amount: bigint, requestId: string | null = randomUUID()) =>
  transferPosting(
    {
      requestId,
      initiatedBy: 'group-test',
      srcAccountId: src,
      dstAccountId: dst,
      amountMinor: amount,
      direction: 'debit',
    },
    MAX_AMOUNT,
  );
const bankOf = (
  account: string,
  direction: 'credit' | 'debit',
  amount: bigint,
  requestId: string | null = randomUUID(),
  description = 'group test',
) =>
  bankPosting(
    { requestId, initiatedBy: 'group-test', dstAccountId: account, amountMinor: amount, direction, description },
    MAX_AMOUNT,
  );
const settle = (promise: Promise<Posted>) =>
  promise.then(
    (posted) => ({ posted, error: null }),
    (error: Error) => ({ posted: null, error }),
  );
/** An item refused for its unknown account left no row naming that account. */
async function expectNoRowNaming(accountId: string): Promise<void> {
  const rows = await pool.query('SELECT 1 FROM transactions WHERE from_account_id = $1 OR to_account_id = $1', [
    accountId,
  ]);
  expect(rows.rowCount).toBe(0);
}
/** The transaction is stored FAILED for want of funds, as its caller was answered. */
async function expectStoredFailed(transactionId: string): Promise<void> {
  expect(await api.getTransaction({ transactionId })).toMatchObject({
    status: TransactionStatus.TRANSACTION_STATUS_FAILED,
    failureReason: FailureReason.FAILURE_REASON_INSUFFICIENT_FUNDS,
  });
}
const xidsOf = async (transactionIds: string[]) =>
  (
    await pool.query<{ xid: string }>(
      'SELECT DISTINCT xmin::text AS xid FROM transactions WHERE transaction_id = ANY($1)',
      [transactionIds],
    )
  ).rows.map((row) => row.xid);

it("answers each transfer of one group with its own outcome, whatever the others' faults", async () => {
  const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
  const [used, repeated] = [randomUUID(), randomUUID()];
  const clashing = await api.transfer({ requestId: used, srcAccountId: a, dstAccountId: b, amount: 5n });
  const earlier = await api.transfer({ requestId: repeated, srcAccountId: a, dstAccountId: b, amount: 5n });
  const group = transferGroups();

  const postings = [
    transferOf(a, b, 20n), // posted
    transferOf(a, randomUUID(), 5n), // unknown account: NOT_FOUND, nothing stored
    transferOf(a, b, 11n, used), // its key holds another amount: ALREADY_EXISTS
    transferOf(b, a, 500n), // not enough money: FAILED, stored
    transferOf(a, b, 5n, repeated), // the same request again: replayed
    transferOf(b, a, 25n), // b holds 30 by now: posted
  ];
  // Submitted in one tick: one group, one statement.
  const answers = await Promise.all(postings.map((posting) => settle(group.submit(posting))));

  expect(answers[0]!.posted).toMatchObject({ replayed: false, transaction: { status: 'success', amountMinor: 20n } });
  expect(answers[1]!.error).toMatchObject({ kind: 'not_found', field: 'dst_account_id' });
  expect(answers[2]!.error).toMatchObject({ kind: 'already_exists', field: 'request_id' });
  expect(answers[3]!.posted).toMatchObject({
    replayed: false,
    transaction: { status: 'failed', failureReason: 'insufficient_funds' },
  });
  expect(answers[4]!.posted).toMatchObject({ replayed: true, transaction: { transactionId: earlier.transactionId } });
  expect(answers[5]!.posted).toMatchObject({ replayed: false, transaction: { status: 'success', amountMinor: 25n } });
  const posted = [0, 3, 5].map((i) => answers[i]!.posted!.transaction.transactionId);
  expect(await xidsOf(posted)).toHaveLength(1);
  expect([(await api.getAccount(a)).balance, (await api.getAccount(b)).balance]).toEqual([95n, 5n]);
  // The refused ones stored nothing: no row under the unknown account's key, the reused key still the earlier's.
  await expect(api.getTransaction({ requestId: postings[1]!.requestId! })).rejects.toMatchObject({
    code: status.NOT_FOUND,
  });
  // Nor a row: a transfer group inserts its rows before it locks the accounts, and that one went with its key.
  await expectNoRowNaming(postings[1]!.toAccountId);
  // The failed one is stored as answered (its row was inserted successful, then marked).
  await expectStoredFailed(answers[3]!.posted!.transaction.transactionId);
  expect(await api.getTransaction({ requestId: used })).toEqual(clashing);
});

it('puts two transfers with one request_id in different groups: one applies, the other replays it', async () => {
  const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
  const group = transferGroups();
  const key = randomUUID();
  const [first, second] = await Promise.all([
    group.submit(transferOf(a, b, 7n, key)),
    group.submit(transferOf(a, b, 7n, key)),
  ]);
  expect(second.transaction).toEqual(first.transaction);
  // The two groups go to the database on two connections at once: whichever claims the key first
  // applies the transfer (as two racing lone calls), and the other replays it.
  expect([first.replayed, second.replayed].sort()).toEqual([false, true]);
  expect((await api.getAccount(b)).balance).toBe(7n);
});

it('coalesces concurrent Transfer calls over gRPC, each caller answered on its own', async () => {
  const accounts = await Promise.all(Array.from({ length: 8 }, () => api.fundedAccount(1_000n)));
  const unknown = randomUUID();
  const calls = Array.from({ length: 48 }, (_, i) =>
    api
      .transfer({
        requestId: randomUUID(),
        srcAccountId: accounts[i % 8]!,
        dstAccountId: i % 12 === 5 ? unknown : accounts[(i + 3) % 8]!,
        amount: BigInt(1 + (i % 40)),
      })
      .then(
        (transaction) => ({ transaction, code: null }),
        (error: ServiceError) => ({ transaction: null, code: error.code }),
      ),
  );
  const answers = await Promise.all(calls);
  expect(answers.filter((a) => a.code !== null).map((a) => a.code)).toEqual(Array(4).fill(status.NOT_FOUND));
  const ok = answers.filter((a) => a.transaction).map((a) => a.transaction!);
  expect(ok.every((t) => t.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS)).toBe(true);
  // Fewer database transactions than transfers: they were posted together.
  expect((await xidsOf(ok.map((t) => t.transactionId))).length).toBeLessThan(ok.length);
  expect(await verifyLedger(pool)).toMatchObject({ ok: true });
});

it('answers each bank transaction of one group with its own outcome, as alone, in one database transaction', async () => {
  const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
  const [used, repeated] = [randomUUID(), randomUUID()];
  const credit = { direction: Direction.DIRECTION_CREDIT, description: 'group test' };
  const clashing = await api.bankTransaction({ requestId: used, dstAccountId: a, amount: 3n, ...credit });
  const earlier = await api.bankTransaction({ requestId: repeated, dstAccountId: a, amount: 4n, ...credit });
  const bankBefore = (await api.getAccount(BANK_ACCOUNT_ID)).balance;

  const postings = [
    bankOf(a, 'debit', 50n), // posted: a pays the bank
    bankOf(randomUUID(), 'credit', 5n), // unknown account: NOT_FOUND, nothing stored
    bankOf(a, 'credit', 9n, used), // its key holds another amount: ALREADY_EXISTS
    bankOf(b, 'debit', 1n), // b holds nothing yet: FAILED, stored
    bankOf(a, 'credit', 4n, repeated), // the same request again: replayed
    bankOf(b, 'credit', 30n), // posted
    bankOf(b, 'debit', 25n), // b holds 30 by now: posted
  ];
  const group = bankGroups();
  const answers = await Promise.all(postings.map((posting) => settle(group.submit(posting))));

  const success = (amountMinor: bigint) => ({
    replayed: false,
    transaction: { kind: 'bank', status: 'success', amountMinor },
  });
  expect(answers[0]!.posted).toMatchObject(success(50n));
  expect(answers[1]!.error).toMatchObject({ kind: 'not_found', field: 'dst_account_id' });
  expect(answers[2]!.error).toMatchObject({ kind: 'already_exists', field: 'request_id' });
  expect(answers[3]!.posted).toMatchObject({
    replayed: false,
    transaction: { status: 'failed', failureReason: 'insufficient_funds' },
  });
  expect(answers[4]!.posted).toMatchObject({ replayed: true, transaction: { transactionId: earlier.transactionId } });
  expect(answers[5]!.posted).toMatchObject(success(30n));
  expect(answers[6]!.posted).toMatchObject(success(25n));
  const posted = [0, 3, 5, 6].map((i) => answers[i]!.posted!.transaction.transactionId);
  expect(await xidsOf(posted)).toHaveLength(1);
  expect([(await api.getAccount(a)).balance, (await api.getAccount(b)).balance]).toEqual([57n, 5n]);
  expect((await api.getAccount(BANK_ACCOUNT_ID)).balance).toBe(bankBefore + 50n - 30n + 25n);
  await expect(api.getTransaction({ requestId: postings[1]!.requestId! })).rejects.toMatchObject({
    code: status.NOT_FOUND,
  });
  await expectNoRowNaming(postings[1]!.toAccountId);
  await expectStoredFailed(answers[3]!.posted!.transaction.transactionId);
  expect(await api.getTransaction({ requestId: used })).toEqual(clashing);
  expect(await verifyLedger(pool)).toMatchObject({ ok: true });
});

it("posts a bank group's items one by one when its bank legs do not fit one shard", async () => {
  const a = await api.fundedAccount(0n);
  const floor = -125_000_000_000_000_000n;
  const before = (
    await pool.query<{ shard: number; balance: string }>('SELECT shard, balance::text FROM bank_balance_shards')
  ).rows;
  // Every shard 5 above its floor: a credit of 3 fits any shard, two of them fit no single one.
  const set = floor + 5n;
  await pool.query('UPDATE bank_balance_shards SET balance = $1', [set.toString()]);
  try {
    const group = bankGroups();
    const answers = await Promise.all([group.submit(bankOf(a, 'credit', 3n)), group.submit(bankOf(a, 'credit', 3n))]);
    expect(answers.map((answer) => answer.transaction.status)).toEqual(['success', 'success']);
    // Two database transactions: the group's statement stored nothing, each item went alone to a shard with room.
    expect(await xidsOf(answers.map((answer) => answer.transaction.transactionId))).toHaveLength(2);
    expect((await api.getAccount(a)).balance).toBe(6n);
  } finally {
    // Each shard back to what it held, less what the credits took from it.
    await pool.query(
      `UPDATE bank_balance_shards s SET balance = s.balance - $3::bigint + o.balance
         FROM unnest($1::smallint[], $2::bigint[]) o(shard, balance) WHERE s.shard = o.shard`,
      [before.map((row) => row.shard), before.map((row) => row.balance), set.toString()],
    );
  }
  expect(await verifyLedger(pool)).toMatchObject({ ok: true });
});

it('posts a group of one alone (ledger_post()), and a group of more as one group call', async () => {
  // Function calls counted for this pool's one session only (track_functions), read after its stats are flushed.
  const counted = poolOf(1, '-c track_functions=pl');
  const callsOf = async () => {
    await counted.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await counted.query<{ funcname: string; calls: string }>(
      `SELECT funcname, calls::text FROM pg_stat_user_functions
        WHERE funcname IN ('ledger_post', 'ledger_post_batch', 'ledger_post_bank_group')`,
    );
    return (name: string) => Number(rows.find((row) => row.funcname === name)?.calls ?? 0);
  };
  try {
    const commits = groupCommits({ pool: counted, maxAmountMinor: MAX_AMOUNT }, 1000);
    const [a, b] = [await api.fundedAccount(100n), await api.fundedAccount(0n)];
    const before = await callsOf();
    const alone = await commits.transfers.submit(transferOf(a, b, 1n));
    const bankAlone = await commits.bank.submit(bankOf(a, 'credit', 1n));
    const afterOne = await callsOf();
    expect(afterOne('ledger_post') - before('ledger_post')).toBe(2);
    expect(afterOne('ledger_post_batch') - before('ledger_post_batch')).toBe(0);
    expect(afterOne('ledger_post_bank_group') - before('ledger_post_bank_group')).toBe(0);

    // Submitted in one tick: one group each, one call each.
    const together = await Promise.all([
      commits.transfers.submit(transferOf(a, b, 1n)),
      commits.transfers.submit(transferOf(a, b, 1n)),
      commits.bank.submit(bankOf(a, 'credit', 1n)),
      commits.bank.submit(bankOf(a, 'credit', 1n)),
    ]);
    const afterMore = await callsOf();
    expect(afterMore('ledger_post') - afterOne('ledger_post')).toBe(0);
    expect(afterMore('ledger_post_batch') - afterOne('ledger_post_batch')).toBe(1);
    expect(afterMore('ledger_post_bank_group') - afterOne('ledger_post_bank_group')).toBe(1);
    expect([alone, bankAlone, ...together].map((posted) => posted.transaction.status)).toEqual(
      Array(6).fill('success'),
    );
  } finally {
    await counted.end();
  }
});
