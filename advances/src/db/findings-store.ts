import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import {
  FINDING_KINDS,
  WORKFLOW_OWNED_KINDS,
  type Finding,
  type FindingKind,
  type FindingSeverity,
} from '../reconciliation/findings.js';

/**
 * Findings as stored: raised once, resolved when gone. The unique index on
 * open (advance_id, kind, subject) makes raising idempotent, so a run retried
 * after a crash, or the next run, never raises the same finding twice.
 */

export interface StoredFinding extends Finding {
  findingId: string;
  createTime: Date;
  /** create_time to the microsecond: the keyset cursor. */
  createTimeExact: string;
  resolveTime: Date | null;
}

/**
 * Raises each finding that is not already open, and marks every one as seen
 * by `runId` (the run resolves what it did not see). Returns those newly
 * raised: the caller alerts on them, and only on them.
 */
export async function raiseFindings(pool: pg.Pool, runId: string, findings: Finding[]): Promise<Finding[]> {
  // One row per key: a statement may not touch the same open finding twice.
  const unique = [...new Map(findings.map((f) => [keyOf(f), f])).values()];
  if (unique.length === 0) return [];
  const result = await pool.query<{ advance_id: string; kind: string; subject: string; inserted: boolean }>(
    `INSERT INTO reconciliation_findings AS f (finding_id, run_id, last_seen_run, advance_id, kind, subject, detail, severity)
     SELECT id, $2, $2, advance_id, kind, subject, detail, severity
     FROM unnest($1::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) AS s(id, advance_id, kind, subject, detail, severity)
     ON CONFLICT (advance_id, kind, subject) WHERE resolve_time IS NULL
       DO UPDATE SET last_seen_run = EXCLUDED.last_seen_run, detail = EXCLUDED.detail
     RETURNING advance_id, kind, subject, (xmax = 0) AS inserted`,
    [
      unique.map(() => uuidv7()),
      runId,
      unique.map((f) => f.advanceId),
      unique.map((f) => f.kind),
      unique.map((f) => f.subject),
      unique.map((f) => f.detail),
      unique.map((f) => f.severity),
    ],
  );
  const inserted = new Set(
    result.rows
      .filter((row) => row.inserted)
      .map((row) => keyOf({ advanceId: row.advance_id, kind: row.kind as FindingKind, subject: row.subject })),
  );
  return unique.filter((f) => inserted.has(keyOf(f)));
}

const keyOf = (f: Pick<Finding, 'advanceId' | 'kind' | 'subject'>) => `${f.advanceId}/${f.kind}/${f.subject}`;

/** Resolves the open findings run `runId` did not see (except those a workflow owns). Returns them. */
export async function resolveFindingsNotSeen(pool: pg.Pool, runId: string): Promise<Finding[]> {
  const result = await pool.query<FindingRecord>(
    `UPDATE reconciliation_findings SET resolve_time = now()
     WHERE resolve_time IS NULL AND last_seen_run <> $1 AND kind <> ALL($2::text[])
     RETURNING ${FINDING_COLUMNS}`,
    [runId, WORKFLOW_OWNED_KINDS],
  );
  return result.rows.map(toStoredFinding);
}

/** Resolves one open finding by its key (e.g. the workflow resumed after a halt). */
export async function resolveFinding(
  pool: pg.Pool,
  key: Pick<Finding, 'advanceId' | 'kind' | 'subject'>,
): Promise<boolean> {
  const result = await pool.query(
    `UPDATE reconciliation_findings SET resolve_time = now()
     WHERE advance_id = $1 AND kind = $2 AND subject = $3 AND resolve_time IS NULL`,
    [key.advanceId, key.kind, key.subject],
  );
  return result.rowCount === 1;
}

/** Open findings by kind, every kind present (0 when none): what the alert reads. */
export async function openFindingCounts(pool: pg.Pool): Promise<Map<FindingKind, number>> {
  const result = await pool.query<{ kind: FindingKind; open: number }>(
    `SELECT kind, count(*)::int AS open FROM reconciliation_findings WHERE resolve_time IS NULL GROUP BY kind`,
  );
  const counts = new Map<FindingKind, number>(FINDING_KINDS.map((kind) => [kind, 0]));
  for (const row of result.rows) counts.set(row.kind, row.open);
  return counts;
}

export interface FindingFilter {
  advanceId: string | null;
  openOnly: boolean;
}

/** A page of findings, newest first, after the keyset cursor. */
export async function listFindings(
  pool: pg.Pool,
  filter: FindingFilter,
  after: { createTime: string; id: string } | null,
  limit: number,
): Promise<StoredFinding[]> {
  const result = await pool.query<FindingRecord>(
    `SELECT ${FINDING_COLUMNS} FROM reconciliation_findings
     WHERE ($1::uuid IS NULL OR advance_id = $1) AND (NOT $2 OR resolve_time IS NULL)
       AND ($3::timestamptz IS NULL OR (create_time, finding_id) < ($3::timestamptz, $4::uuid))
     ORDER BY create_time DESC, finding_id DESC LIMIT $5`,
    [filter.advanceId, filter.openOnly, after?.createTime ?? null, after?.id ?? null, limit],
  );
  return result.rows.map(toStoredFinding);
}

const FINDING_COLUMNS = `finding_id, advance_id, kind, subject, detail, severity, create_time, resolve_time,
  to_char(create_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS create_time_exact`;

interface FindingRecord {
  finding_id: string;
  advance_id: string;
  kind: FindingKind;
  subject: string;
  detail: string;
  severity: FindingSeverity;
  create_time: Date | string;
  resolve_time: Date | string | null;
  create_time_exact: string;
}

function toStoredFinding(row: FindingRecord): StoredFinding {
  return {
    findingId: row.finding_id,
    advanceId: row.advance_id,
    kind: row.kind,
    subject: row.subject,
    detail: row.detail,
    severity: row.severity,
    createTime: new Date(row.create_time),
    createTimeExact: row.create_time_exact,
    resolveTime: row.resolve_time === null ? null : new Date(row.resolve_time),
  };
}
