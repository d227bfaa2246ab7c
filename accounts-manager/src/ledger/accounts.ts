import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { alreadyExists, invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import { requirePlainText } from '@alfabet/service-kit/field-validation';
import { ACCOUNT_COLUMNS, toLedgerAccount, type AccountRecord } from '../db/transaction-rows.js';
import type { LedgerAccount } from './types.js';

export const DISPLAY_NAME_LENGTH_MAX = 200;

/**
 * Opens an account with a zero balance. With a request_id, a repeat returns the
 * account the first call opened; a racing duplicate waits on the unique index
 * and then finds it.
 */
export async function createAccount(
  pool: pg.Pool,
  requestId: string | null,
  displayName: string,
): Promise<LedgerAccount> {
  const name = requirePlainText('display_name', displayName).trim();
  if (name.length === 0) throw invalidArgument('display_name', 'must not be empty');
  if (name.length > DISPLAY_NAME_LENGTH_MAX)
    throw invalidArgument('display_name', `must be at most ${DISPLAY_NAME_LENGTH_MAX} characters`);

  const inserted = await pool.query<AccountRecord>({
    name: 'create_account',
    text: `INSERT INTO accounts (account_id, display_name, request_id) VALUES ($1, $2, $3)
           ON CONFLICT (request_id) DO NOTHING RETURNING ${ACCOUNT_COLUMNS}`,
    values: [uuidv7(), name, requestId],
  });
  if (inserted.rows[0]) return toLedgerAccount(inserted.rows[0]);

  const existing = await pool.query<AccountRecord>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE request_id = $1`, [
    requestId,
  ]);
  const account = existing.rows[0];
  if (!account) throw new Error(`request_id ${requestId} conflicted but no account holds it`);
  if (account.display_name !== name) {
    throw alreadyExists(
      'request_id',
      `was already used to open account ${account.account_id} with another display_name`,
    );
  }
  return toLedgerAccount(account);
}

export async function getAccount(pool: pg.Pool, accountId: string): Promise<LedgerAccount> {
  const result = await pool.query<AccountRecord>({
    name: 'get_account',
    text: `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1`,
    values: [accountId],
  });
  const row = result.rows[0];
  if (!row) throw notFound('account_id', `no account ${accountId}`);
  return toLedgerAccount(row);
}
