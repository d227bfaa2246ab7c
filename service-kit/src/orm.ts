import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type pg from 'pg';
import { ForwardOnlyMigrationGenerator } from './migration-generator.js';
import { createDatabaseIfMissing, withAdvisoryLock, type InfoLogger } from './postgres.js';

export interface OrmOptions {
  databaseUrl: string;
  poolSize: number;
  statementTimeoutMs: number;
}

/** What differs between the services' databases: their tables and how the schema got there. */
export interface OrmSchema {
  entities: NonNullable<Options['entities']>;
  /** Run in this order; a new one is appended, never edited once merged. */
  migrations: NonNullable<NonNullable<Options['migrations']>['migrationsList']>;
  /** Any fixed number, distinct per database: the key of the advisory lock that serializes migrations. */
  migrationLockKey: number;
  /**
   * Views the migrations write by hand (an entity cannot describe them): the schema comparison
   * leaves them alone. Functions and triggers are always left alone (schemaGenerator.ignoreRoutines,
   * ignoreTriggers): they live only in the migrations.
   */
  handWrittenViews?: string[];
}

/** Opens MikroORM over PostgreSQL the way both services want it: schema from migrations only, bounded pool and statements. */
export async function openOrm(schema: OrmSchema, options: OrmOptions): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: options.databaseUrl,
    entities: schema.entities,
    extensions: [Migrator],
    migrations: {
      migrationsList: schema.migrations,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
      // npm run migration:create writes the next one (service-kit/src/migration-tools.ts).
      generator: ForwardOnlyMigrationGenerator,
    },
    pool: { min: 0, max: options.poolSize },
    // Every statement gets a timeout so a stuck query cannot pin a connection forever.
    driverOptions: { statement_timeout: options.statementTimeoutMs },
    // The schema belongs to the migrations; the ORM never alters it at run time.
    ensureDatabase: false,
    // What the entities cannot describe (PL/pgSQL functions, triggers, views) stays in the hand-written
    // migrations; comparing the entities with the database (schema-drift.ts) must not see it as drift.
    schemaGenerator: { ignoreRoutines: true, ignoreTriggers: true, skipViews: schema.handWrittenViews ?? [] },
    debug: false,
  });
}

/** The native pg pool under the ORM: the hot paths are single SQL statements. */
export async function poolOf(orm: MikroORM): Promise<pg.Pool> {
  return (await orm.em.getConnection().getNativeClient()) as pg.Pool;
}

/**
 * Brings the schema up to date (idempotent). An advisory lock makes replicas
 * (or test workers) that start together migrate one after the other.
 */
export async function migrate(orm: MikroORM, schema: Pick<OrmSchema, 'migrationLockKey'>): Promise<void> {
  await withAdvisoryLock(await poolOf(orm), schema.migrationLockKey, () => orm.migrator.up().then(() => undefined));
}

/**
 * A service's database at start: created if missing, migrated, and the native
 * pool its single-statement paths use.
 */
export async function openMigratedDatabase(
  schema: OrmSchema,
  options: OrmOptions,
  log: InfoLogger,
): Promise<{ orm: MikroORM; pool: pg.Pool }> {
  await createDatabaseIfMissing(options.databaseUrl, log);
  const orm = await openOrm(schema, options);
  await migrate(orm, schema);
  return { orm, pool: await poolOf(orm) };
}
