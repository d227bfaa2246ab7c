import pg from 'pg';
import { TEST_ACCOUNTS_DATABASE_URL } from './ledger-harness.js';

/** A direct connection to the test database, for checking what was (not) stored. */
export function testPool(max = 4): pg.Pool {
  return new pg.Pool({ connectionString: TEST_ACCOUNTS_DATABASE_URL, max });
}

/** How many transactions touch any of these accounts, and how many rows hold this request id. */
export async function storedFootprint(pool: pg.Pool, accountIds: string[], requestId?: string) {
  const transactions = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM transactions WHERE from_account_id = ANY($1::uuid[]) OR to_account_id = ANY($1::uuid[])',
    [accountIds],
  );
  const requests = requestId
    ? await pool.query<{ n: string }>(
        // Compared as text: a malformed id must simply match nothing.
        `SELECT (SELECT count(*) FROM transaction_requests WHERE request_id::text = $1)
            + (SELECT count(*) FROM accounts WHERE request_id::text = $1) AS n`,
        [requestId],
      )
    : { rows: [{ n: '0' }] };
  return { transactions: Number(transactions.rows[0]!.n), requestRows: Number(requests.rows[0]!.n) };
}
