import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * Rows of one minute of transactions that one database transaction inserted,
 * less those it deleted (or what a compaction folded together), kept for the minutes not sealed yet so a
 * report's first page need not count them. Written by the triggers on
 * transactions (migrations/Migration20261213000000_report_live_counts.ts);
 * why a listing may add them up: src/db/report-live-counts.sql.ts.
 */
export const ReportLiveCountSchema = defineEntity({
  name: 'ReportLiveCount',
  tableName: 'report_live_counts',
  properties: {
    bucketStart: p.datetime().primary().check("date_trunc('minute', bucket_start) = bucket_start"),
    xactId: p.string().columnType('xid8').primary(),
    /** Rows inserted less rows deleted (negative for a transaction that only deleted). */
    rowCount: p.bigint('bigint'),
  },
});
