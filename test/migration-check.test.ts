import { jest } from '@jest/globals';
import { defineEntity, p } from '@mikro-orm/postgresql';
import {
  entityDriftSql,
  runMigrationsCommand,
  withMigratedScratchDatabase,
} from '@alfabet/service-kit/migration-tools';
import { openOrm, type OrmSchema } from '@alfabet/service-kit/orm';
import { LEDGER_SCHEMA } from '../accounts-manager/src/db/orm.js';
import { REPORT_COUNT_PROPERTIES, ReportCountSchema } from '../accounts-manager/src/db/entities/report-count.entity.js';
import { ADVANCES_SCHEMA } from '../advances/src/db/orm.js';
import { TEST_DATABASES, testDatabaseUrl } from '../test-support/test-databases.js';

/**
 * npm run migration:check (a CI step): each service's migrations, run on a
 * scratch database, must leave exactly the tables its entities describe. The
 * real entities pass; entity sets drifted on purpose, in memory, prove it fails.
 */
const LEDGER_URL = testDatabaseUrl(TEST_DATABASES.accounts);
const ADVANCES_URL = testDatabaseUrl(TEST_DATABASES.advances);

/** report_counts as its entity describes it, plus a column no migration adds. */
const ReportCountWithNote = defineEntity({
  name: 'ReportCount',
  tableName: 'report_counts',
  properties: { ...REPORT_COUNT_PROPERTIES, note: p.text().nullable() },
});

const withEntities = (schema: OrmSchema, entities: OrmSchema['entities']): OrmSchema => ({ ...schema, entities });
const ledgerEntitiesWith = (replacement: OrmSchema['entities'][number] | null) =>
  withEntities(
    LEDGER_SCHEMA,
    LEDGER_SCHEMA.entities.flatMap((entity) =>
      entity === ReportCountSchema ? (replacement === null ? [] : [replacement]) : [entity],
    ),
  );

/** The drift of each entity set against one database migrated from nothing by the real ledger migrations. */
async function ledgerDrifts(schemas: OrmSchema[]): Promise<string[]> {
  return withMigratedScratchDatabase(LEDGER_SCHEMA, LEDGER_URL, async (migrated) => {
    const url = migrated.config.get('clientUrl')!;
    const drifts: string[] = [];
    for (const schema of schemas) {
      const orm = await openOrm(schema, { databaseUrl: url, poolSize: 1, statementTimeoutMs: 60_000 });
      try {
        drifts.push(await entityDriftSql(orm));
      } finally {
        await orm.close(true);
      }
    }
    return drifts;
  });
}

describe('the migrations leave each database exactly as its entities describe it', () => {
  test('accounts-manager: the real entities match; a column added to an entity, or a table left without one, fails', async () => {
    const [real, extraColumn, missingEntity] = await ledgerDrifts([
      LEDGER_SCHEMA,
      ledgerEntitiesWith(ReportCountWithNote),
      ledgerEntitiesWith(null),
    ]);
    expect(real).toBe('');
    expect(extraColumn).toBe('alter table "report_counts" add "note" text null;');
    expect(missingEntity).toContain('drop table if exists "report_counts" cascade;');
  });

  test('advances: the real entities match', async () => {
    expect(await withMigratedScratchDatabase(ADVANCES_SCHEMA, ADVANCES_URL, entityDriftSql)).toBe('');
  });

  test('npm run migration:check fails on drift and prints the SQL that would resolve it', async () => {
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    try {
      const service = { name: 'accounts-manager', databaseUrl: LEDGER_URL, migrationsDirectory: '/nonexistent' };
      expect(
        await runMigrationsCommand({ ...service, schema: ledgerEntitiesWith(ReportCountWithNote) }, ['check']),
      ).toBe(1);
      expect(printed.join('\n')).toContain('alter table "report_counts" add "note" text null;');
      expect(await runMigrationsCommand({ ...service, schema: LEDGER_SCHEMA }, ['check'])).toBe(0);
    } finally {
      log.mockRestore();
    }
  });
});
