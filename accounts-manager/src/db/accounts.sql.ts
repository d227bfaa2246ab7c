import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { LedgerAccount } from '../ledger/types.js';
import { ACCOUNT_COLUMNS, toLedgerAccount, type AccountRecord } from './transaction-rows.js';

/**
 * Raw SQL, on purpose: microsecond times. CreateAccount and GetAccount answer
 * with create_time and update_time to the microsecond, as PostgreSQL stored
 * them (DESIGN.md: Timestamps to the microsecond, accounts-manager/test/
 * timestamps.test.ts). The Account entity hydrates a timestamptz as a JS Date,
 * which keeps milliseconds, so these statements read the times as exact
 * microseconds since the epoch instead (ACCOUNT_COLUMNS: extract(epoch …) as
 * bigint). They are named prepared statements on the native pool, one round
 * trip each (docs/schema.md: the EntityManager's cost on account reads and opens).
 */

/** Inserts a new account; null when `requestId` already opened one (ON CONFLICT). */
export async function insertAccount(
  pool: pg.Pool,
  requestId: string | null,
  displayName: string,
): Promise<LedgerAccount | null> {
  const inserted = await pool.query<AccountRecord>({
    name: 'create_account',
    text: `INSERT INTO accounts (account_id, display_name, request_id) VALUES ($1, $2, $3)
           ON CONFLICT (request_id) DO NOTHING RETURNING ${ACCOUNT_COLUMNS}`,
    values: [uuidv7(), displayName, requestId],
  });
  const row = inserted.rows[0];
  return row ? toLedgerAccount(row) : null;
}

/** The account `requestId` opened, if any. */
export async function findAccountByRequestId(pool: pg.Pool, requestId: string | null): Promise<LedgerAccount | null> {
  const existing = await pool.query<AccountRecord>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE request_id = $1`, [
    requestId,
  ]);
  const row = existing.rows[0];
  return row ? toLedgerAccount(row) : null;
}

export async function findAccount(pool: pg.Pool, accountId: string): Promise<LedgerAccount | null> {
  const result = await pool.query<AccountRecord>({
    name: 'get_account',
    text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1`,
    values: [accountId],
  });
  const row = result.rows[0];
  return row ? toLedgerAccount(row) : null;
}
