import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { AccountSchema } from './entities/account.entity.js';
import { TransactionSchema } from './entities/transaction.entity.js';
import { TransactionRequestSchema } from './entities/transaction-request.entity.js';
import { Migration20261125000000_ledger } from './migrations/Migration20261125000000_ledger.js';

export type LedgerOrm = MikroORM;

export interface OrmOptions {
  databaseUrl: string;
  poolSize: number;
  statementTimeoutMs: number;
}

/** Migrations run in this order; a new one is appended, never edited once merged. */
const MIGRATIONS = [Migration20261125000000_ledger];

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
  const lockHolder = await pool.connect();
  try {
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await orm.migrator.up();
  } finally {
    await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    lockHolder.release();
  }
}

/** Creates the database named in the URL if it does not exist yet. */
export async function createDatabaseIfMissing(databaseUrl: string, log?: Logger): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" must be letters, digits and _`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name}"`);
      log?.info({ database: name }, 'created database');
    }
  } catch (error) {
    // Two processes starting at once may race to create it; the loser is fine.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}
