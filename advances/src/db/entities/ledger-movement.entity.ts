import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A ledger transaction this service made (disbursement or payment), mirrored for reconciliation.
 * Ledger rows never change once written, so a mirrored one never goes stale.
 */
export const LedgerMovementSchema = defineEntity({
  name: 'LedgerMovement',
  tableName: 'ledger_movements',
  properties: {
    transactionId: p.uuid().primary(),
    requestId: p.uuid().nullable().index('ledger_movements_by_request'),
    advanceId: p.uuid().index('ledger_movements_by_advance'),
    accountId: p.uuid(),
    direction: p.text().check("direction IN ('CREDIT', 'DEBIT')"),
    amount: p.bigint('bigint'),
    status: p.text().check("status IN ('SUCCESS', 'FAILED')"),
    description: p.text(),
    createTime: p.datetime(),
    mirrorTime: p.datetime().defaultRaw('now()'),
  },
});

/** One reconciliation run: how far it read the ledger, and whether it finished. */
export const ReconciliationRunSchema = defineEntity({
  name: 'ReconciliationRun',
  tableName: 'reconciliation_runs',
  properties: {
    runId: p.text().primary(),
    startTime: p.datetime().defaultRaw('now()'),
    finishTime: p.datetime().nullable(),
    ledgerScannedUntil: p.datetime().nullable(),
    advancesChecked: p.integer().nullable(),
    findingsRaised: p.integer().nullable(),
    findingsResolved: p.integer().nullable(),
    /** FULL or INCREMENTAL; null for the runs before the reconciliation queue existed. */
    mode: p.text().nullable().check("mode IN ('FULL', 'INCREMENTAL')"),
  },
  indexes: [
    {
      name: 'reconciliation_runs_finished',
      columns: [{ name: 'finish_time', sort: 'DESC' }],
      where: 'finish_time IS NOT NULL',
    },
  ],
});

/**
 * An advance changed since a run last checked it. Filled only by the statement-level triggers on
 * advances, payments and ledger_movements (function queue_changed_advances()); the triggers and
 * the function stay in Migration20261202000000_reconciliation_queue, which no entity can describe.
 */
export const ReconciliationQueueSchema = defineEntity({
  name: 'ReconciliationQueue',
  tableName: 'reconciliation_queue',
  properties: {
    advanceId: p.uuid().primary(),
    /** Grows with every change; a run dequeues only at the mark it read. */
    mark: p.bigint('number').defaultRaw('1'),
  },
});
