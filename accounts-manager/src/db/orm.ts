import type { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { InfoLogger } from '@alfabet/service-kit/postgres';
import {
  migrate as migrateSchema,
  openMigratedDatabase,
  openOrm as openServiceOrm,
  type OrmOptions,
  type OrmSchema,
} from '@alfabet/service-kit/orm';
import { AccountSchema } from './entities/account.entity.js';
import { ArchivedTransactionSchema, TransactionSchema } from './entities/transaction.entity.js';
import { ReportCountSchema } from './entities/report-count.entity.js';
import { ReportLiveCountSchema } from './entities/report-live-count.entity.js';
import { TransactionRequestSchema } from './entities/transaction-request.entity.js';
import { ReportTokenIssuerSchema } from './entities/report-token-issuer.entity.js';
import { DroppedDaySchema, OpeningBalanceSchema } from './entities/retention.entity.js';
import { BankBalanceShardSchema } from './entities/bank-balance-shard.entity.js';
import { BatchRequestSchema } from './entities/batch-request.entity.js';
import { LedgerEpochSchema } from './entities/ledger-epoch.entity.js';
import { Migration20261125000000_ledger } from './migrations/Migration20261125000000_ledger.js';
import { Migration20261126000000_archive } from './migrations/Migration20261126000000_archive.js';
import { Migration20261127000000_report_counts } from './migrations/Migration20261127000000_report_counts.js';
import { Migration20261128000000_initiated_by } from './migrations/Migration20261128000000_initiated_by.js';
import { Migration20261128120000_report_horizon } from './migrations/Migration20261128120000_report_horizon.js';
import { Migration20261129000000_retention } from './migrations/Migration20261129000000_retention.js';
import { Migration20261129150000_ledger_epochs } from './migrations/Migration20261129150000_ledger_epochs.js';
import { Migration20261204000000_bank_balance_shards } from './migrations/Migration20261204000000_bank_balance_shards.js';
import { Migration20261205000000_batch_transfer } from './migrations/Migration20261205000000_batch_transfer.js';
import { Migration20261206000000_bank_group } from './migrations/Migration20261206000000_bank_group.js';
import { Migration20261207000000_report_minute_counts } from './migrations/Migration20261207000000_report_minute_counts.js';
import { Migration20261208000000_replays_pruned } from './migrations/Migration20261208000000_replays_pruned.js';
import { Migration20261209000000_batch_answers_unreplayed } from './migrations/Migration20261209000000_batch_answers_unreplayed.js';
import { Migration20261210000000_batch_answers_linear } from './migrations/Migration20261210000000_batch_answers_linear.js';
import { Migration20261211000000_batch_rows_before_locks } from './migrations/Migration20261211000000_batch_rows_before_locks.js';
import { Migration20261212000000_report_pages_binary } from './migrations/Migration20261212000000_report_pages_binary.js';
import { Migration20261213000000_report_live_counts } from './migrations/Migration20261213000000_report_live_counts.js';
import { Migration20261214000000_account_page_custom_plans } from './migrations/Migration20261214000000_account_page_custom_plans.js';

export type LedgerOrm = MikroORM;
export type { OrmOptions };

/** The ledger's tables (the entities) and how a database gets there (the migrations). */
export const LEDGER_SCHEMA: OrmSchema = {
  entities: [
    AccountSchema,
    TransactionSchema,
    ArchivedTransactionSchema,
    TransactionRequestSchema,
    ReportCountSchema,
    ReportLiveCountSchema,
    ReportTokenIssuerSchema,
    OpeningBalanceSchema,
    DroppedDaySchema,
    BankBalanceShardSchema,
    BatchRequestSchema,
    LedgerEpochSchema,
  ],
  migrations: [
    Migration20261125000000_ledger,
    Migration20261126000000_archive,
    Migration20261127000000_report_counts,
    Migration20261128000000_initiated_by,
    Migration20261128120000_report_horizon,
    Migration20261129000000_retention,
    Migration20261129150000_ledger_epochs,
    Migration20261204000000_bank_balance_shards,
    Migration20261205000000_batch_transfer,
    Migration20261206000000_bank_group,
    Migration20261207000000_report_minute_counts,
    Migration20261208000000_replays_pruned,
    Migration20261209000000_batch_answers_unreplayed,
    Migration20261210000000_batch_answers_linear,
    Migration20261211000000_batch_rows_before_locks,
    Migration20261212000000_report_pages_binary,
    Migration20261213000000_report_live_counts,
    Migration20261214000000_account_page_custom_plans,
  ],
  migrationLockKey: 7_242_001,
  // Every transaction ever recorded, hot or archived (Migration20261126000000_archive).
  handWrittenViews: ['ledger_transactions_all'],
};

export async function openOrm(options: OrmOptions): Promise<LedgerOrm> {
  return openServiceOrm(LEDGER_SCHEMA, options);
}

/** Brings the ledger's schema up to date (idempotent; replicas starting together take turns). */
export async function migrate(orm: LedgerOrm): Promise<void> {
  await migrateSchema(orm, LEDGER_SCHEMA);
}

/** The database at start: created if missing, migrated, with the native pool. */
export async function openDatabase(options: OrmOptions, log: InfoLogger): Promise<{ orm: LedgerOrm; pool: pg.Pool }> {
  return openMigratedDatabase(LEDGER_SCHEMA, options, log);
}
