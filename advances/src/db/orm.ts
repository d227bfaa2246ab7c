import type { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { InfoLogger } from '@alfabet/service-kit/postgres';
import {
  migrate as migrateSchema,
  openMigratedDatabase,
  openOrm as openServiceOrm,
  poolOf,
  type OrmOptions,
  type OrmSchema,
} from '@alfabet/service-kit/orm';
import { AdvanceSchema, PaymentSchema } from './entities/advance.entity.js';
import {
  LedgerMovementSchema,
  ReconciliationQueueSchema,
  ReconciliationRunSchema,
} from './entities/ledger-movement.entity.js';
import { ReconciliationFindingSchema } from './entities/reconciliation-finding.entity.js';
import { Migration20261125100000_advances } from './migrations/Migration20261125100000_advances.js';
import { Migration20261128000000_reconciliation } from './migrations/Migration20261128000000_reconciliation.js';
import { Migration20261202000000_reconciliation_queue } from './migrations/Migration20261202000000_reconciliation_queue.js';

export type AdvancesOrm = MikroORM;
export type { OrmOptions };
/** The native pg pool under the ORM: the guarded transitions are single SQL statements. */
export { poolOf };

/** The advances tables (the entities) and how a database gets there (the migrations). */
export const ADVANCES_SCHEMA: OrmSchema = {
  entities: [
    AdvanceSchema,
    PaymentSchema,
    ReconciliationFindingSchema,
    LedgerMovementSchema,
    ReconciliationRunSchema,
    ReconciliationQueueSchema,
  ],
  migrations: [
    Migration20261125100000_advances,
    Migration20261128000000_reconciliation,
    Migration20261202000000_reconciliation_queue,
  ],
  // Distinct from the ledger's lock key: the two databases migrate independently.
  migrationLockKey: 7_242_002,
};

export async function openOrm(options: OrmOptions): Promise<AdvancesOrm> {
  return openServiceOrm(ADVANCES_SCHEMA, options);
}

/** Brings the advances schema up to date (idempotent; replicas starting together take turns). */
export async function migrate(orm: AdvancesOrm): Promise<void> {
  await migrateSchema(orm, ADVANCES_SCHEMA);
}

/** The database at start: created if missing, migrated, with the native pool. */
export async function openDatabase(options: OrmOptions, log: InfoLogger): Promise<{ orm: AdvancesOrm; pool: pg.Pool }> {
  return openMigratedDatabase(ADVANCES_SCHEMA, options, log);
}
