import { raw, type EntityManager, type FilterQuery, type Loaded } from '@mikro-orm/postgresql';
import type { AdvanceStatusName } from '../domain/advance-types.js';
import { AdvanceSchema, type Advance, type Payment } from './entities/advance.entity.js';

/** An advance with its payments (in payment order), as stored in the projection. */
export type StoredAdvance = Loaded<Advance, 'payments'>;
export type StoredPayment = Payment;

export const OPEN_STATUSES: AdvanceStatusName[] = ['DISBURSING', 'ACTIVE', 'OVERDUE'];

export async function findAdvance(em: EntityManager, advanceId: string): Promise<StoredAdvance | null> {
  return em.fork().findOne(AdvanceSchema, advanceId, { populate: ['payments'] });
}

export async function findAdvanceByRequestId(em: EntityManager, requestId: string): Promise<StoredAdvance | null> {
  return em.fork().findOne(AdvanceSchema, { requestId }, { populate: ['payments'] });
}

export interface NewAdvance {
  advanceId: string;
  requestId: string | null;
  accountId: string;
  amount: bigint;
  installments: number;
  paymentIntervalMs: number;
}

/** What insertAdvance did: the caller turns a refusal into its answer (the store throws no API errors). */
export type InsertAdvanceOutcome =
  | { outcome: 'inserted' }
  | { outcome: 'request_id_taken' }
  /** The account already has `openAdvances` ≥ maxOpen open advances: nothing written. */
  | { outcome: 'too_many_open'; openAdvances: number };

/**
 * Records a new advance as DISBURSING, enforcing "at most `maxOpen` open
 * advances per account" under a per-account advisory lock (two requests for
 * one account racing cannot both pass the check). A request_id already used
 * is answered by the caller (see request-advance.ts): here it is a conflict.
 * The row is written before its workflow starts and is never deleted: a start
 * that seemed to fail may have reached Temporal, whose workflow needs the row.
 */
export async function insertAdvance(
  em: EntityManager,
  advance: NewAdvance,
  maxOpen: number,
): Promise<InsertAdvanceOutcome> {
  return em.fork().transactional(async (tx) => {
    await tx.execute(`SELECT pg_advisory_xact_lock(hashtextextended('advances/account/' || ?::text, 0))`, [
      advance.accountId,
    ]);
    // A racing call with the same request_id may have committed while we waited: it is a replay, not a second advance.
    if (advance.requestId && (await tx.count(AdvanceSchema, { requestId: advance.requestId })) > 0) {
      return { outcome: 'request_id_taken' } as const;
    }
    const openAdvances = await tx.count(AdvanceSchema, { accountId: advance.accountId, status: OPEN_STATUSES });
    if (openAdvances >= maxOpen) return { outcome: 'too_many_open', openAdvances } as const;
    const inserted = await tx
      .createQueryBuilder(AdvanceSchema)
      .insert({ ...advance, status: 'DISBURSING' })
      .onConflict('requestId')
      .ignore()
      .execute('run');
    return { outcome: inserted.affectedRows === 1 ? 'inserted' : 'request_id_taken' } as const;
  });
}

export interface AdvanceFilter {
  accountId: string | null;
  status: AdvanceStatusName | null;
}

/** A page of advances, newest first, after the keyset cursor (create_time to the microsecond, then id). */
export async function listAdvances(
  em: EntityManager,
  filter: AdvanceFilter,
  after: { createTime: string; id: string } | null,
  limit: number,
): Promise<StoredAdvance[]> {
  const where: FilterQuery<Advance> = {
    ...(filter.accountId ? { accountId: filter.accountId } : {}),
    ...(filter.status ? { status: filter.status } : {}),
    // A row comparison, so the walk is one range scan of advances_newest (or the per-account/status index).
    ...(after ? { [raw(keysetBefore('advance_id'), [after.createTime, after.id])]: [] } : {}),
  };
  return em.fork().find(AdvanceSchema, where, {
    populate: ['payments'],
    orderBy: { createTime: 'desc', advanceId: 'desc' },
    limit,
  });
}

/** `(create_time, <id>) < (cursor)`: the rows after a newest-first keyset cursor, for a raw() where key. */
export const keysetBefore = (idColumn: string) => (alias: string) =>
  `(${alias}.create_time, ${alias}.${idColumn}) < (?::timestamptz, ?::uuid)`;
