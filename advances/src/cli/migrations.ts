/**
 * npm run migration:check | npm run migration:create -- advances <name>
 * (docs/schema.md): the advances migrations checked against, or generated from, its entities.
 */
import { fileURLToPath } from 'node:url';
import { runMigrationsCommand } from '@alfabet/service-kit/migration-tools';
import { loadAdvancesConfig } from '../config.js';
import { ADVANCES_SCHEMA } from '../db/orm.js';

process.exitCode = await runMigrationsCommand(
  {
    name: 'advances',
    schema: ADVANCES_SCHEMA,
    databaseUrl: loadAdvancesConfig().databaseUrl,
    // This file runs as dist/src/cli/migrations.js; new migrations go next to the sources of the others.
    migrationsDirectory: fileURLToPath(new URL('../../../src/db/migrations', import.meta.url)),
  },
  process.argv.slice(2),
);
