import { Direction } from '@alfabet/proto/accounts/v1';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { verifyReportCounts } from '../src/db/report-counts-verify.sql.js';
import { maintainReportCounts } from '../src/db/report-counts.sql.js';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * ledger:verify must pass on a healthy ledger and catch a corrupted one. The
 * corruption happens in a database of this test's own, so the other tests'
 * ledger checks are not disturbed.
 */
const DATABASE = `${TEST_DATABASES.accounts}_verify`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
// The built CLI, exactly what `npm run ledger:verify` runs (npm test builds before testing).
const CLI = fileURLToPath(new URL('../dist/src/cli/ledger-verify.js', import.meta.url));

let ledger: TestLedger;
let pool: pg.Pool;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL }); // creates and migrates it
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

/** Runs the real CLI and returns its exit code and output. */
function runCli(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--no-warnings', CLI],
      { env: { ...process.env, NODE_OPTIONS: '', ACCOUNTS_DATABASE_URL: DATABASE_URL } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
    );
  });
}

it('passes on a ledger that moved money every way, and says what it checked', async () => {
  const api = ledgerApi(ledger.client);
  const a = await api.fundedAccount(500n);
  const b = await api.fundedAccount(0n);
  await api.transfer({ srcAccountId: a, dstAccountId: b, amount: 200n });
  await api.transfer({ srcAccountId: a, dstAccountId: b, amount: 10_000n }); // fails: nothing moves
  await api.bankTransaction({ dstAccountId: b, amount: 50n, direction: Direction.DIRECTION_DEBIT });

  const result = await verifyLedger(pool);
  expect(result).toMatchObject({ ok: true, balanceSumMinor: 0n, mismatchedAccounts: [], negativeAccounts: [] });
  expect(result.transactionsChecked).toBe(4); // funding, two transfers (one failed), one bank debit
  // The bank's balance is its shards': it lent 500 and took 50 back.
  expect(result.bankBalanceMinor).toBe(-450n);
  expect((await api.getAccount(BANK_ACCOUNT_ID)).balance).toBe(-450n);

  const cli = await runCli();
  expect(cli.output).toMatch(/sum of all balances .* = 0/);
  expect(cli.output).toMatch(/ok {3}the report's minute counts equal their rows \(\d+ minutes, 0 differ\)/);
  expect(cli.output).toContain('ledger OK');
  expect(cli.code).toBe(0);
});

it('fails, naming the account, when a balance no longer matches its transactions', async () => {
  const api = ledgerApi(ledger.client);
  const victim = await api.fundedAccount(100n);
  await pool.query('UPDATE accounts SET balance = balance + 1 WHERE account_id = $1', [victim]);

  const result = await verifyLedger(pool);
  expect(result.ok).toBe(false);
  expect(result.balanceSumMinor).toBe(1n);
  expect(result.mismatchedAccounts).toEqual([{ accountId: victim, balanceMinor: 101n, legsSumMinor: 100n }]);

  const cli = await runCli();
  expect(cli.code).toBe(1);
  expect(cli.output).toContain(victim);
  expect(cli.output).toContain('ledger INVALID');
});

it('fails, naming the bank, when one of its balance shards is changed by hand, even when the sum stays 0', async () => {
  const before = await verifyLedger(pool); // the victim above is still off by +1
  // Take the victim's extra unit out of one bank shard: every balance sums to 0 again, but two lie.
  await pool.query('UPDATE bank_balance_shards SET balance = balance - 1 WHERE shard = 7');

  const result = await verifyLedger(pool);
  expect(result.ok).toBe(false);
  expect(result.balanceSumMinor).toBe(0n);
  expect(result.bankBalanceMinor).toBe(before.bankBalanceMinor - 1n);
  expect(result.mismatchedAccounts).toContainEqual({
    accountId: BANK_ACCOUNT_ID,
    balanceMinor: before.bankBalanceMinor - 1n,
    legsSumMinor: before.bankBalanceMinor,
  });

  const cli = await runCli();
  expect(cli.code).toBe(1);
  expect(cli.output).toContain(BANK_ACCOUNT_ID);
});

it("fails, naming the minute, when the report's count of a minute no longer matches its rows", async () => {
  // Minutes are checked from the first sealed one on: the service seals the window's empty minutes at
  // start, unless a transaction open elsewhere in the cluster holds that back a while.
  for (const deadline = Date.now() + 30_000; ; ) {
    await maintainReportCounts(pool, new Date(Date.now() - 6 * 24 * 3_600_000));
    if ((await verifyReportCounts(pool)).minutesChecked > 0) break;
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const {
    rows: [latest],
  } = await pool.query<{ bucket_start: Date }>('SELECT max(bucket_start) AS bucket_start FROM report_live_counts');
  await pool.query('UPDATE report_live_counts SET row_count = row_count + 2 WHERE bucket_start = $1', [
    latest!.bucket_start,
  ]);

  const cli = await runCli();
  expect(cli.code).toBe(1);
  expect(cli.output).toMatch(/FAIL the report's minute counts equal their rows \(\d+ minutes, 1 differ\)/);
  expect(cli.output).toContain(`minute ${latest!.bucket_start.toISOString()}: `);
}, 40_000);
