import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { withAdvisoryLock } from '@alfabet/service-kit/postgres';
import type pg from 'pg';
import { AdvanceSchema } from './entities/advance.entity.js';
import { PaymentSchema } from './entities/payment.entity.js';
import { LedgerMovementSchema, ReconciliationRunSchema } from './entities/ledger-movement.entity.js';
import { ReconciliationFindingSchema } from './entities/reconciliation-finding.entity.js';
import { Migration20261125100000_advances } from './migrations/Migration20261125100000_advances.js';
import { Migration20261128000000_reconciliation } from './migrations/Migration20261128000000_reconciliation.js';

export type AdvancesOrm = MikroORM;

export interface OrmOptions {
  databaseUrl: string;
  poolSize: number;
  statementTimeoutMs: number;
}

/** Migrations run in this order; a new one is appended, never edited once merged. */
const MIGRATIONS = [Migration20261125100000_advances, Migration20261128000000_reconciliation];

// Any fixed number (distinct from the ledger's): the key of the lock that serializes migrations.
const MIGRATION_LOCK_KEY = 7_242_002;

export async function openOrm(options: OrmOptions): Promise<AdvancesOrm> {
  return MikroORM.init({
    clientUrl: options.databaseUrl,
    entities: [AdvanceSchema, PaymentSchema, ReconciliationFindingSchema, LedgerMovementSchema, ReconciliationRunSchema],
    extensions: [Migrator],
    migrations: { migrationsList: MIGRATIONS, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    pool: { min: 0, max: options.poolSize },
    // Every statement gets a timeout so a stuck query cannot pin a connection forever.
    driverOptions: { statement_timeout: options.statementTimeoutMs },
    // The schema belongs to the migrations; the ORM never alters it at run time.
    ensureDatabase: false,
    debug: false,
  });
}

/** The native pg pool under the ORM: the guarded transitions are single SQL statements. */
export async function poolOf(orm: AdvancesOrm): Promise<pg.Pool> {
  return (await orm.em.getConnection().getNativeClient()) as pg.Pool;
}

/** Brings the schema up to date (idempotent; replicas starting together take turns). */
export async function migrate(orm: AdvancesOrm): Promise<void> {
  await withAdvisoryLock(await poolOf(orm), MIGRATION_LOCK_KEY, () => orm.migrator.up().then(() => undefined));
}
