/**
 * npm run ledger:verify -w accounts-manager
 * Checks the ledger's invariants and exits non-zero on any violation.
 */
import pg from 'pg';
import { loadAccountsConfig } from '../config.js';
import { verifyLedger } from '../db/ledger-verify.sql.js';
import { verifyReportCounts } from '../db/report-counts-verify.sql.js';

const config = loadAccountsConfig();
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
try {
  const result = await verifyLedger(pool);
  const line = (ok: boolean, text: string) => console.log(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
  console.log(
    `ledger:verify on ${new URL(config.databaseUrl).pathname.slice(1)}: ${result.accountsChecked} accounts, ${result.transactionsChecked} transactions`,
  );
  line(
    result.balanceSumMinor === 0n,
    `sum of all balances (bank included: ${result.bankBalanceMinor}, its row and 32 shards) = ${result.balanceSumMinor} (must be 0)`,
  );
  line(
    result.mismatchedAccounts.length === 0,
    `every balance equals the sum of its successful legs, plus its opening balance from days past retention (${result.mismatchedAccounts.length} differ)`,
  );
  for (const m of result.mismatchedAccounts.slice(0, 20)) {
    console.log(`     account ${m.accountId}: balance ${m.balanceMinor}, legs sum ${m.legsSumMinor}`);
  }
  line(result.negativeAccounts.length === 0, `no customer balance below zero (${result.negativeAccounts.length} are)`);
  const counts = await verifyReportCounts(pool);
  line(
    counts.miscounted.length === 0,
    `the report's minute counts equal their rows (${counts.minutesChecked} minutes, ${counts.miscounted.length} differ)`,
  );
  for (const m of counts.miscounted.slice(0, 20)) {
    console.log(`     minute ${m.bucketStart.toISOString()}: ${m.rows} rows, counted ${m.counted}`);
  }
  const ok = result.ok && counts.miscounted.length === 0;
  console.log(ok ? 'ledger OK' : 'ledger INVALID');
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  console.error(`ledger:verify could not run: ${(error as Error).message}`);
  process.exitCode = 2;
} finally {
  await pool.end();
}
