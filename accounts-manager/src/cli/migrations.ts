/**
 * npm run migration:check | npm run migration:create -- accounts-manager <name>
 * (docs/schema.md): the ledger's migrations checked against, or generated from, its entities.
 */
import { fileURLToPath } from 'node:url';
import { runMigrationsCommand } from '@alfabet/service-kit/migration-tools';
import { loadAccountsConfig } from '../config.js';
import { LEDGER_SCHEMA } from '../db/orm.js';

process.exitCode = await runMigrationsCommand(
  {
    name: 'accounts-manager',
    schema: LEDGER_SCHEMA,
    databaseUrl: loadAccountsConfig().databaseUrl,
    // This file runs as dist/src/cli/migrations.js; new migrations go next to the sources of the others.
    migrationsDirectory: fileURLToPath(new URL('../../../src/db/migrations', import.meta.url)),
  },
  process.argv.slice(2),
);
