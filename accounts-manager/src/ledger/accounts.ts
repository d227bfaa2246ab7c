import type { EntityManager } from '@mikro-orm/postgresql';
import { alreadyExists, invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import { requirePlainText } from '@alfabet/service-kit/field-validation';
import { findAccount, findAccountByRequestId, insertAccount } from '../db/account-store.js';
import type { LedgerAccount } from './types.js';

export const DISPLAY_NAME_LENGTH_MAX = 200;

/**
 * Opens an account with a zero balance. With a request_id, a repeat returns the
 * account the first call opened; a racing duplicate waits on the unique index
 * and then finds it.
 */
export async function createAccount(
  em: EntityManager,
  requestId: string | null,
  displayName: string,
): Promise<LedgerAccount> {
  const name = requirePlainText('display_name', displayName).trim();
  if (name.length === 0) throw invalidArgument('display_name', 'must not be empty');
  if (name.length > DISPLAY_NAME_LENGTH_MAX)
    throw invalidArgument('display_name', `must be at most ${DISPLAY_NAME_LENGTH_MAX} characters`);

  const inserted = await insertAccount(em, requestId, name);
  if (inserted) return inserted;

  // The insert found the request_id taken (a request_id is the only unique key it can hit).
  const account = requestId ? await findAccountByRequestId(em, requestId) : null;
  if (!account) throw new Error(`request_id ${requestId} conflicted but no account holds it`);
  if (account.displayName !== name) {
    throw alreadyExists(
      'request_id',
      `was already used to open account ${account.accountId} with another display_name`,
    );
  }
  return account;
}

export async function getAccount(em: EntityManager, accountId: string): Promise<LedgerAccount> {
  const account = await findAccount(em, accountId);
  if (!account) throw notFound('account_id', `no account ${accountId}`);
  return account;
}
