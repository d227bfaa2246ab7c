import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One PostgreSQL cluster the ledger has lived in, in order: a restore into
 * another cluster starts the next epoch. Rows carry the epoch they were written
 * in, and a report snapshot the epoch it was taken in; the rule and the raw SQL
 * that keeps this table are in src/db/ledger-epochs.sql.ts.
 */
export const LedgerEpochSchema = defineEntity({
  name: 'LedgerEpoch',
  tableName: 'ledger_epochs',
  properties: {
    epoch: p.integer().primary().autoincrement(false).check('epoch > 0'),
    /** pg_control_system().system_identifier of the cluster the epoch ran on. */
    systemIdentifier: p.bigint('bigint'),
    /** That cluster's transaction-id counter when the epoch began. */
    firstXactId: p.string().columnType('xid8'),
    beganAt: p.datetime().defaultRaw('now()'),
    /** When ledger:restore began the epoch: the backup's snapshot of the epoch before (what its rows are). */
    restoredSnapshot: p.string().columnType('pg_snapshot').nullable(),
  },
});
