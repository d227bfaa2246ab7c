import { defineEntity, p } from '@mikro-orm/postgresql';

/** A ledger transaction this service made (disbursement or payment), mirrored for reconciliation. */
export const LedgerMovementSchema = defineEntity({
  name: 'LedgerMovement',
  tableName: 'ledger_movements',
  properties: {
    transactionId: p.uuid().primary().fieldName('transaction_id'),
    requestId: p.uuid().nullable().fieldName('request_id'),
    advanceId: p.uuid().fieldName('advance_id'),
    accountId: p.uuid().fieldName('account_id'),
    direction: p.text().fieldName('direction'),
    amount: p.bigint('bigint').fieldName('amount'),
    status: p.text().fieldName('status'),
    description: p.text().fieldName('description'),
    createTime: p.datetime().fieldName('create_time'),
    mirrorTime: p.datetime().fieldName('mirror_time'),
  },
});

/** One reconciliation run: how far it read the ledger, and whether it finished. */
export const ReconciliationRunSchema = defineEntity({
  name: 'ReconciliationRun',
  tableName: 'reconciliation_runs',
  properties: {
    runId: p.text().primary().fieldName('run_id'),
    startTime: p.datetime().fieldName('start_time'),
    finishTime: p.datetime().nullable().fieldName('finish_time'),
    ledgerScannedUntil: p.datetime().nullable().fieldName('ledger_scanned_until'),
    advancesChecked: p.integer().nullable().fieldName('advances_checked'),
    findingsRaised: p.integer().nullable().fieldName('findings_raised'),
    findingsResolved: p.integer().nullable().fieldName('findings_resolved'),
    /** FULL or INCREMENTAL; null for the runs before the reconciliation queue existed. */
    mode: p.text().nullable().fieldName('mode'),
  },
});

/**
 * An advance changed since a run last checked it (filled by triggers on
 * advances, payments and ledger_movements; see the queue's migration).
 */
export const ReconciliationQueueSchema = defineEntity({
  name: 'ReconciliationQueue',
  tableName: 'reconciliation_queue',
  properties: {
    advanceId: p.uuid().primary().fieldName('advance_id'),
    mark: p.bigint('number').fieldName('mark'),
  },
});
