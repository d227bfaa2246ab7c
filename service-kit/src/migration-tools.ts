import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { migrate, openOrm, type OrmSchema } from './orm.js';

/**
 * The entities are the description of each table; the migrations are how a
 * database gets there. These tools keep the two in step:
 *
 * - `checkMigrationsMatchEntities` (npm run migration:check, a CI step): migrates a
 *   scratch database with the real migrations, then asks MikroORM's schema
 *   comparator what SQL would bring it to the entities. Anything at all means
 *   the two disagree (a column, type, default, nullability, check, index,
 *   unique or foreign key in one and not the other).
 * - `createMigrationFromEntities` (npm run migration:create): the same scratch
 *   database, and that SQL written out as the next migration.
 *
 * What an entity cannot describe (PL/pgSQL functions, views, partitioning)
 * stays hand-written in the migrations and is left out of the comparison
 * (see openOrm's schemaGenerator options and OrmSchema.handWrittenViews).
 */

/** The SQL that would bring the connected database to what the entities describe: '' when they agree. */
export async function entityDriftSql(orm: MikroORM): Promise<string> {
  return (await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim();
}

/**
 * Runs `work` on a database made for it from nothing by the real migrations,
 * named after `databaseUrl`'s with a `_scratch_<pid>` suffix and dropped afterwards.
 */
export async function withMigratedScratchDatabase<T>(
  schema: OrmSchema,
  databaseUrl: string,
  work: (orm: MikroORM) => Promise<T>,
): Promise<T> {
  const scratch = new URL(databaseUrl);
  scratch.pathname = `${scratch.pathname}_scratch_${process.pid}`;
  const name = decodeURIComponent(scratch.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" must be letters, digits and _`);
  await recreateDatabase(databaseUrl, name, true);
  try {
    const orm = await openOrm(schema, { databaseUrl: scratch.toString(), poolSize: 2, statementTimeoutMs: 60_000 });
    try {
      await migrate(orm, schema);
      return await work(orm);
    } finally {
      await orm.close(true);
    }
  } finally {
    await recreateDatabase(databaseUrl, name, false);
  }
}

/** The drift between a database migrated from nothing and the entities: '' when they agree. */
export async function checkMigrationsMatchEntities(schema: OrmSchema, databaseUrl: string): Promise<string> {
  return withMigratedScratchDatabase(schema, databaseUrl, entityDriftSql);
}

/**
 * Writes the migration that brings the migrated schema to the entities into `directory`
 * (Migration<timestamp>_<name>.ts). Returns its file name, or null when there is nothing to migrate.
 */
export async function createMigrationFromEntities(
  schema: OrmSchema,
  databaseUrl: string,
  directory: string,
  name: string,
): Promise<string | null> {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`migration name "${name}" must be lower-case snake_case`);
  return withMigratedScratchDatabase(schema, databaseUrl, async (orm) => {
    const created = await orm.migrator.create(directory, false, false, name);
    return created.fileName === '' ? null : created.fileName;
  });
}

/** Drops `name` (if it exists) and, when `create`, makes it afresh: on the server of `databaseUrl`. */
async function recreateDatabase(databaseUrl: string, name: string, create: boolean): Promise<void> {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    if (create) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

/**
 * The command line both services' `src/cli/migrations.ts` run:
 *   check            exit 1 and print the SQL when the migrations and the entities disagree;
 *   create <name>    write the next migration, generated from the entities, into `directory`.
 */
export async function runMigrationsCommand(
  service: { name: string; schema: OrmSchema; databaseUrl: string; migrationsDirectory: string },
  args: string[],
): Promise<number> {
  const [command, name] = args;
  if (command === 'check') {
    const drift = await checkMigrationsMatchEntities(service.schema, service.databaseUrl);
    if (drift === '') {
      console.log(
        `migration:check ${service.name}: the migrations leave the database exactly as the entities describe it`,
      );
      return 0;
    }
    console.log(`migration:check ${service.name}: the migrations and the entities disagree. The SQL that would`);
    console.log(`bring a freshly migrated database to the entities:\n\n${drift}\n`);
    console.log(`Fix the entity, or add the migration: npm run migration:create -- ${service.name} <name>`);
    return 1;
  }
  if (command === 'create' && name) {
    const fileName = await createMigrationFromEntities(
      service.schema,
      service.databaseUrl,
      service.migrationsDirectory,
      name,
    );
    if (fileName === null) {
      console.log(`migration:create ${service.name}: the entities and the migrations agree; nothing to write`);
      return 0;
    }
    console.log(`migration:create ${service.name}: wrote ${service.migrationsDirectory}/${fileName}`);
    console.log('Read it, then append its class to the migrations list in src/db/orm.ts.');
    return 0;
  }
  console.error('usage: migrations check | migrations create <snake_case_name>');
  return 2;
}
