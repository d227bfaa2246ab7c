import type pg from 'pg';
import { ARCHIVE_LOCK_KEY } from './archive.sql.js';

export interface LedgerVerification {
  accountsChecked: number;
  transactionsChecked: number;
  /** Sum of every balance, the bank's included: must be 0. */
  balanceSumMinor: bigint;
  /** Accounts whose balance differs from the sum of their successful legs (plus their opening balance). */
  mismatchedAccounts: { accountId: string; balanceMinor: bigint; legsSumMinor: bigint }[];
  /** Customer accounts below zero (the schema forbids it; checked anyway). */
  negativeAccounts: string[];
  ok: boolean;
}

/**
 * Raw SQL, on purpose: aggregates over every transaction ever recorded (the
 * hand-written view ledger_transactions_all, hot and archived) and every
 * account, in one REPEATABLE READ snapshot — three statements for the whole
 * ledger, however large, where loading entities would read it row by row.
 * Not a service path: `npm run ledger:verify` and the tests run it.
 *
 * Checks the double-entry invariants over the whole ledger, in one repeatable
 * snapshot so concurrent transfers cannot make it see half of one:
 * the balances sum to zero, and each balance equals credits minus debits of
 * its successful transactions — those kept, plus the net of the days dropped
 * past retention (archive.opening_balances, see db/retention.sql.ts). It waits
 * while a day of transactions is being moved to the archive or dropped (see
 * db/archive.sql.ts), when it would look missing or counted twice.
 */
export async function verifyLedger(pool: pg.Pool): Promise<LedgerVerification> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock_shared($1)', [ARCHIVE_LOCK_KEY]);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const totals = await client.query<{ accounts: string; balance_sum: string; transactions: string }>(`
      SELECT (SELECT count(*) FROM accounts) AS accounts,
             (SELECT coalesce(sum(balance), 0) FROM accounts) AS balance_sum,
             (SELECT count(*) FROM ledger_transactions_all) AS transactions`);
    const mismatches = await client.query<{ account_id: string; balance: string; legs_sum: string }>(`
      WITH legs AS (
        SELECT to_account_id AS account_id, amount FROM ledger_transactions_all WHERE status = 'success'
        UNION ALL
        SELECT from_account_id, -amount FROM ledger_transactions_all WHERE status = 'success'
        UNION ALL
        -- the net of the days dropped past retention, carried in the drop's transaction (retention.sql.ts)
        SELECT account_id, balance FROM archive.opening_balances
      ), sums AS (SELECT account_id, sum(amount) AS legs_sum FROM legs GROUP BY account_id)
      SELECT a.account_id, a.balance, coalesce(s.legs_sum, 0) AS legs_sum
      FROM accounts a LEFT JOIN sums s USING (account_id)
      WHERE a.balance <> coalesce(s.legs_sum, 0)
      UNION ALL
      -- legs pointing at accounts that do not exist are mismatches too
      SELECT s.account_id, 0, s.legs_sum FROM sums s
      WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = s.account_id)`);
    const negatives = await client.query<{ account_id: string }>(
      'SELECT account_id FROM accounts WHERE NOT is_system AND balance < 0',
    );
    await client.query('COMMIT');

    const row = totals.rows[0]!;
    const balanceSumMinor = BigInt(row.balance_sum);
    const mismatchedAccounts = mismatches.rows.map((m) => ({
      accountId: m.account_id,
      balanceMinor: BigInt(m.balance),
      legsSumMinor: BigInt(m.legs_sum),
    }));
    const negativeAccounts = negatives.rows.map((n) => n.account_id);
    return {
      accountsChecked: Number(row.accounts),
      transactionsChecked: Number(row.transactions),
      balanceSumMinor,
      mismatchedAccounts,
      negativeAccounts,
      ok: balanceSumMinor === 0n && mismatchedAccounts.length === 0 && negativeAccounts.length === 0,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.query('SELECT pg_advisory_unlock_shared($1)', [ARCHIVE_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
