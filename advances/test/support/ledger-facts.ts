import pg from 'pg';
import { TEST_ACCOUNTS_DATABASE_URL } from '../../../accounts-manager/test/support/ledger-harness.js';
import { verifyLedger } from '../../../accounts-manager/src/db/ledger-verify.sql.js';

/** What the ledger itself recorded for one account: the ground truth the advance is checked against. */
export interface BankLegs {
  credits: Array<{ amount: bigint; requestId: string | null; status: string }>;
  debits: Array<{ amount: bigint; requestId: string | null; status: string }>;
  balance: bigint;
}

export function ledgerPool(url = TEST_ACCOUNTS_DATABASE_URL): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 2 });
}

/** Every bank transaction that touched `accountId`, successful or not, by direction. */
export async function bankLegsOf(pool: pg.Pool, accountId: string): Promise<BankLegs> {
  const rows = await pool.query<{ direction: string; amount: string; request_id: string | null; status: string }>(
    `SELECT direction, amount::text, request_id, status FROM transactions
     WHERE kind = 'bank' AND dst_account_id = $1 ORDER BY create_time, transaction_id`,
    [accountId],
  );
  const balance = await pool.query<{ balance: string }>('SELECT balance::text FROM accounts WHERE account_id = $1', [
    accountId,
  ]);
  const legs = (direction: string) =>
    rows.rows
      .filter((r) => r.direction === direction)
      .map((r) => ({ amount: BigInt(r.amount), requestId: r.request_id, status: r.status }));
  return { credits: legs('credit'), debits: legs('debit'), balance: BigInt(balance.rows[0]!.balance) };
}

/** The successful bank debits of an account, summed. */
export const sumSuccessful = (legs: BankLegs['debits']) =>
  legs.filter((l) => l.status === 'success').reduce((sum, l) => sum + l.amount, 0n);

export async function assertLedgerVerifies(pool: pg.Pool): Promise<void> {
  const verification = await verifyLedger(pool);
  if (!verification.ok)
    throw new Error(
      `ledger:verify failed: ${JSON.stringify(verification, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`,
    );
}

/**
 * Holds `accountId`'s row in the ledger (an open transaction with the row
 * locked) until a payment's debit is waiting on it: the ledger will apply that
 * debit the moment the caller COMMITs on `lockHolder`, whoever is then alive to
 * hear the reply.
 */
export async function holdRowUntilADebitWaits(lockHolder: pg.Client, accountId: string): Promise<void> {
  await lockHolder.query('BEGIN');
  await lockHolder.query('SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE', [accountId]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const waiting = await lockHolder.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (waiting.rowCount! > 0) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for a payment debit to wait on the row lock');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
