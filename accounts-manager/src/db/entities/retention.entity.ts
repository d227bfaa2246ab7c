import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * What is left in the database of the archived days dropped past ARCHIVE_RETENTION
 * (`npm run transactions:archive`, src/db/retention.sql.ts). Both tables change only in the
 * transaction that drops a day, so they always describe exactly the days that are gone.
 */

/**
 * Per account, the net of the successful legs of every dropped day (credits minus debits):
 * ledger:verify adds it to the legs still kept, so "each balance equals the sum of its
 * successful transactions" holds exactly after a drop.
 */
export const OpeningBalanceSchema = defineEntity({
  name: 'OpeningBalance',
  schema: 'archive',
  tableName: 'opening_balances',
  properties: {
    accountId: p.uuid().primary(),
    balance: p.bigint('bigint'),
    updateTime: p.datetime(),
  },
});

/** One row per dropped day (UTC): how many transactions it held and the export they are kept in. */
export const DroppedDaySchema = defineEntity({
  name: 'DroppedDay',
  schema: 'archive',
  tableName: 'dropped_days',
  properties: {
    day: p.string().columnType('date').primary(),
    transactions: p.bigint('bigint').check('transactions >= 0'),
    /** The export's file name in ARCHIVE_EXPORT_DIR when it was dropped, and its SHA-256 (hex). */
    exportFile: p.text(),
    exportSha256: p.text().check("export_sha256 ~ '^[0-9a-f]{64}$'"),
    droppedAt: p.datetime(),
  },
});
