import { defineEntity, p } from '@mikro-orm/postgresql';

/** Something the reconciliation found wrong with an advance; kept for ops. */
export const ReconciliationFindingSchema = defineEntity({
  name: 'ReconciliationFinding',
  tableName: 'reconciliation_findings',
  properties: {
    findingId: p.uuid().primary().fieldName('finding_id'),
    runId: p.text().fieldName('run_id'),
    advanceId: p.uuid().fieldName('advance_id'),
    kind: p.text().fieldName('kind'),
    detail: p.text().fieldName('detail'),
    createTime: p.datetime().fieldName('create_time'),
  },
});
