import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type pg from 'pg';
import { withAdvisoryLock } from '@alfabet/service-kit/postgres';
import { AccountSchema } from './entities/account.entity.js';
import { TransactionSchema } from './entities/transaction.entity.js';
import { TransactionRequestSchema } from './entities/transaction-request.entity.js';
import { Migration20261125000000_ledger } from './migrations/Migration20261125000000_ledger.js';
import { Migration20261126000000_archive } from './migrations/Migration20261126000000_archive.js';
import { Migration20261127000000_report_counts } from './migrations/Migration20261127000000_report_counts.js';

export type LedgerOrm = MikroORM;

export interface OrmOptions {
  databaseUrl: string;
  poolSize: number;
  statementTimeoutMs: number;
}

/** Migrations run in this order; a new one is appended, never edited once merged. */
const MIGRATIONS = [Migration20261125000000_ledger, Migration20261126000000_archive, Migration20261127000000_report_counts];

export async function openOrm(options: OrmOptions): Promise<LedgerOrm> {
  return MikroORM.init({
    clientUrl: options.databaseUrl,
    entities: [AccountSchema, TransactionSchema, TransactionRequestSchema],
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

// Any fixed number: the key of the advisory lock that serializes migrations.
const MIGRATION_LOCK_KEY = 7_242_001;

/**
 * Brings the schema up to date (idempotent). An advisory lock makes replicas
 * (or test workers) that start together migrate one after the other.
 */
export async function migrate(orm: LedgerOrm): Promise<void> {
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  await withAdvisoryLock(pool, MIGRATION_LOCK_KEY, () => orm.migrator.up().then(() => undefined));
}
