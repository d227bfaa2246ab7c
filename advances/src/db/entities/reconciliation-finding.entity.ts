import { defineEntity, p } from '@mikro-orm/postgresql';
import { exactUtc, newestFirst } from './advance.entity.js';
import { FINDING_KINDS, type FindingKind, type FindingSeverity } from '../../reconciliation/findings.js';

/**
 * Something the reconciliation found wrong with an advance; open until a later run no longer
 * sees it (resolve_time set). At most one open finding per (advance, kind, subject).
 */
export const ReconciliationFindingSchema = defineEntity({
  name: 'ReconciliationFinding',
  tableName: 'reconciliation_findings',
  properties: {
    findingId: p.uuid().primary(),
    runId: p.text(),
    advanceId: p.uuid(),
    kind: p.text().$type<FindingKind>(),
    subject: p.text().default(''),
    detail: p.text(),
    severity: p.text().$type<FindingSeverity>().default('CRITICAL').check("severity IN ('CRITICAL', 'WARNING')"),
    /** The last run that still saw it: a run resolves the open findings it did not see. */
    lastSeenRun: p.text(),
    createTime: p.datetime().defaultRaw('now()'),
    /** create_time to the microsecond, as PostgreSQL wrote it (a Date keeps milliseconds): the keyset cursor. */
    createTimeExact: p.string().formula((cols) => exactUtc(cols.createTime!)),
    resolveTime: p.datetime().nullable(),
  },
  checks: [
    {
      name: 'reconciliation_findings_kind',
      expression: `kind IN (${FINDING_KINDS.map((kind) => `'${kind}'`).join(', ')})`,
    },
  ],
  uniques: [
    // Raised once: raising a finding already open only marks it seen (ON CONFLICT on this index).
    {
      name: 'reconciliation_findings_open',
      properties: ['advanceId', 'kind', 'subject'],
      where: 'resolve_time IS NULL',
    },
  ],
  indexes: [
    { name: 'reconciliation_findings_newest', columns: newestFirst('finding_id') },
    { name: 'reconciliation_findings_by_advance', columns: [{ name: 'advance_id' }, ...newestFirst('finding_id')] },
  ],
});

export type ReconciliationFinding = InstanceType<typeof ReconciliationFindingSchema.class>;
