import pg from 'pg';
import { TEST_ACCOUNTS_DATABASE_URL } from '../../../accounts-manager/test/support/ledger-harness.js';
import { verifyLedger } from '../../../accounts-manager/src/ledger/verify.js';

/** What the ledger itself recorded for one account: the ground truth the advance is checked against. */
export interface BankLegs {
  credits: Array<{ amount: bigint; requestId: string | null; status: string }>;
  debits: Array<{ amount: bigint; requestId: string | null; status: string }>;
  balance: bigint;
}

export function ledgerPool(): pg.Pool {
  return new pg.Pool({ connectionString: TEST_ACCOUNTS_DATABASE_URL, max: 2 });
}

/** Every bank transaction that touched `accountId`, successful or not, by direction. */
export async function bankLegsOf(pool: pg.Pool, accountId: string): Promise<BankLegs> {
  const rows = await pool.query<{ direction: string; amount: string; request_id: string | null; status: string }>(
    `SELECT direction, amount::text, request_id, status FROM transactions
     WHERE kind = 'bank' AND dst_account_id = $1 ORDER BY create_time, transaction_id`, [accountId]);
  const balance = await pool.query<{ balance: string }>('SELECT balance::text FROM accounts WHERE account_id = $1', [accountId]);
  const legs = (direction: string) => rows.rows.filter((r) => r.direction === direction)
    .map((r) => ({ amount: BigInt(r.amount), requestId: r.request_id, status: r.status }));
  return { credits: legs('credit'), debits: legs('debit'), balance: BigInt(balance.rows[0]!.balance) };
}

/** The successful bank debits of an account, summed. */
export const sumSuccessful = (legs: BankLegs['debits']) =>
  legs.filter((l) => l.status === 'success').reduce((sum, l) => sum + l.amount, 0n);

export async function assertLedgerVerifies(pool: pg.Pool): Promise<void> {
  const verification = await verifyLedger(pool);
  if (!verification.ok) throw new Error(`ledger:verify failed: ${JSON.stringify(verification, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
}
