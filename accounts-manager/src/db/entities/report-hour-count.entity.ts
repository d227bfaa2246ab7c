import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The row count of one sealed hour of transactions, so a report's first page need not count a
 * million rows. Why a sealed count is exact for every later snapshot: src/db/report-counts.sql.ts.
 */
export const ReportHourCountSchema = defineEntity({
  name: 'ReportHourCount',
  tableName: 'report_hour_counts',
  properties: {
    hourStart: p.datetime().primary().check("date_trunc('hour', hour_start) = hour_start"),
    /** An xid taken after the hour ended: every writer of the hour has a smaller one. */
    xidMark: p.string().columnType('xid8'),
    markedAt: p.datetime(),
    /** NULL until every xid up to xid_mark has finished; then the hour's final row count. */
    rowCount: p.bigint('bigint').nullable().check('row_count >= 0'),
    sealedAt: p.datetime().nullable(),
  },
});
