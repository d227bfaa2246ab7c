import { raw, type EntityManager, type FilterQuery } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { FINDING_KINDS, WORKFLOW_OWNED_KINDS, type Finding, type FindingKind } from '../reconciliation/findings.js';
import { keysetBefore } from './advance-store.js';
import { ReconciliationFindingSchema, type ReconciliationFinding } from './entities/reconciliation-finding.entity.js';

/**
 * Findings as stored: raised once, resolved when gone. The unique index on
 * open (advance_id, kind, subject) makes raising idempotent, so a run retried
 * after a crash, or the next run, never raises the same finding twice.
 */

export type StoredFinding = ReconciliationFinding;

/** The partial unique index reconciliation_findings_open, as ON CONFLICT names it. */
const OPEN_FINDING_KEY = '(advance_id, kind, subject) WHERE resolve_time IS NULL';

/**
 * Raises each finding that is not already open, and marks every one as seen
 * by `runId` (the run resolves what it did not see). Returns those newly
 * raised: the caller alerts on them, and only on them.
 */
export async function raiseFindings(em: EntityManager, runId: string, findings: Finding[]): Promise<Finding[]> {
  // One row per key: a statement may not touch the same open finding twice.
  const unique = [...new Map(findings.map((f) => [keyOf(f), f])).values()];
  if (unique.length === 0) return [];
  const rows = unique.map((f) => ({ ...f, findingId: uuidv7(), runId, lastSeenRun: runId }));
  // One statement: a finding already open keeps its id (and first run), and is only marked seen.
  const returned = await em
    .fork()
    .createQueryBuilder(ReconciliationFindingSchema)
    .insert(rows)
    .onConflict(raw(OPEN_FINDING_KEY))
    .merge(['lastSeenRun', 'detail'])
    .returning(['findingId'])
    .execute<{ findingId: string }[]>('all');
  const kept = new Set(returned.map((row) => row.findingId));
  return unique.filter((_, index) => kept.has(rows[index]!.findingId));
}

const keyOf = (f: Pick<Finding, 'advanceId' | 'kind' | 'subject'>) => `${f.advanceId}/${f.kind}/${f.subject}`;

/** Resolves the open findings run `runId` did not see (except those a workflow owns). Returns them. */
export async function resolveFindingsNotSeen(em: EntityManager, runId: string): Promise<StoredFinding[]> {
  const fork = em.fork();
  const rows = await fork
    .createQueryBuilder(ReconciliationFindingSchema)
    .update({ resolveTime: raw('now()') })
    .where({ resolveTime: null, lastSeenRun: { $ne: runId }, kind: { $nin: WORKFLOW_OWNED_KINDS } })
    .returning(['findingId', 'advanceId', 'kind', 'subject', 'detail', 'severity', 'createTime', 'resolveTime'])
    .execute<Record<string, unknown>[]>('all', false);
  return rows.map((row) => fork.map(ReconciliationFindingSchema, row));
}

/** Resolves one open finding by its key (e.g. the workflow resumed after a halt). */
export async function resolveFinding(
  em: EntityManager,
  key: Pick<Finding, 'advanceId' | 'kind' | 'subject'>,
): Promise<boolean> {
  const resolved = await em
    .fork()
    .nativeUpdate(ReconciliationFindingSchema, { ...key, resolveTime: null }, { resolveTime: raw('now()') });
  return resolved === 1;
}

/** Open findings by kind, every kind present (0 when none): what the alert reads. */
export async function openFindingCounts(em: EntityManager): Promise<Map<FindingKind, number>> {
  const rows = await em
    .fork()
    .createQueryBuilder(ReconciliationFindingSchema)
    .select(['kind', raw('count(*)::int as open')])
    .where({ resolveTime: null })
    .groupBy('kind')
    .execute<{ kind: FindingKind; open: number }[]>('all', false);
  const counts = new Map<FindingKind, number>(FINDING_KINDS.map((kind) => [kind, 0]));
  for (const row of rows) counts.set(row.kind, row.open);
  return counts;
}

export interface FindingFilter {
  advanceId: string | null;
  openOnly: boolean;
}

/** A page of findings, newest first, after the keyset cursor (create_time to the microsecond, then id). */
export async function listFindings(
  em: EntityManager,
  filter: FindingFilter,
  after: { createTime: string; id: string } | null,
  limit: number,
): Promise<StoredFinding[]> {
  const where: FilterQuery<ReconciliationFinding> = {
    ...(filter.advanceId ? { advanceId: filter.advanceId } : {}),
    ...(filter.openOnly ? { resolveTime: null } : {}),
    ...(after ? { [raw(keysetBefore('finding_id'), [after.createTime, after.id])]: [] } : {}),
  };
  return em.fork().find(ReconciliationFindingSchema, where, {
    orderBy: { createTime: 'desc', findingId: 'desc' },
    limit,
  });
}
