import { defineEntity, p } from '@mikro-orm/postgresql';

/** Something the reconciliation found wrong with an advance; open until a later run no longer sees it. */
export const ReconciliationFindingSchema = defineEntity({
  name: 'ReconciliationFinding',
  tableName: 'reconciliation_findings',
  properties: {
    findingId: p.uuid().primary().fieldName('finding_id'),
    runId: p.text().fieldName('run_id'),
    advanceId: p.uuid().fieldName('advance_id'),
    kind: p.text().fieldName('kind'),
    subject: p.text().fieldName('subject'),
    detail: p.text().fieldName('detail'),
    severity: p.text().fieldName('severity'),
    lastSeenRun: p.text().fieldName('last_seen_run'),
    createTime: p.datetime().fieldName('create_time'),
    resolveTime: p.datetime().nullable().fieldName('resolve_time'),
  },
});
