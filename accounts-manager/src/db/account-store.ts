import type { EntityManager } from '@mikro-orm/postgresql';
import { newId } from './new-ids.js';
import type { LedgerAccount } from '../ledger/types.js';
import { type Account, AccountSchema } from './entities/account.entity.js';

/**
 * Accounts opened and read through the EntityManager: CreateAccount and
 * GetAccount are not the posting path (docs/schema.md has what the
 * EntityManager costs here). Each call works in its own fork, so no identity
 * map outlives a request and a balance is always read fresh from the row.
 */

/** Inserts a new account; null when `requestId` already opened one (the unique index decides). */
export async function insertAccount(
  em: EntityManager,
  requestId: string | null,
  displayName: string,
): Promise<LedgerAccount | null> {
  const accountId = newId();
  const fork = em.fork();
  const inserted = await fork
    .createQueryBuilder(AccountSchema)
    .insert({ accountId, displayName, requestId })
    .onConflict('requestId')
    .ignore()
    .execute('run');
  if (inserted.affectedRows !== 1) return null;
  return findAccount(fork, accountId);
}

/** The account `requestId` opened, if any. */
export async function findAccountByRequestId(em: EntityManager, requestId: string): Promise<LedgerAccount | null> {
  const account = await em.fork().findOne(AccountSchema, { requestId });
  return account ? toLedgerAccount(account) : null;
}

export async function findAccount(em: EntityManager, accountId: string): Promise<LedgerAccount | null> {
  const account = await em.fork().findOne(AccountSchema, accountId);
  return account ? toLedgerAccount(account) : null;
}

function toLedgerAccount(account: Account): LedgerAccount {
  return {
    accountId: account.accountId,
    displayName: account.displayName,
    balanceMinor: BigInt(account.balanceWithShards),
    createTimeUs: BigInt(account.createTimeUs),
    updateTimeUs: BigInt(account.updateTimeUs),
  };
}
