import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The row count of one sealed minute of transactions, so a report's first page need not count
 * millions of rows. Why a sealed count is exact for every later snapshot: src/db/report-counts.sql.ts.
 */
export const REPORT_COUNT_PROPERTIES = {
  bucketStart: p.datetime().primary().check("date_trunc('minute', bucket_start) = bucket_start"),
  /** An xid taken after the minute ended: every writer of the minute has a smaller one. */
  xidMark: p.string().columnType('xid8'),
  markedAt: p.datetime(),
  /** NULL until every xid up to xid_mark has finished; then the minute's final row count. */
  rowCount: p.bigint('bigint').nullable().check('row_count >= 0'),
  sealedAt: p.datetime().nullable(),
};

export const ReportCountSchema = defineEntity({
  name: 'ReportCount',
  tableName: 'report_counts',
  properties: REPORT_COUNT_PROPERTIES,
});
