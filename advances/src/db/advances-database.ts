import type { Logger } from '@alfabet/service-kit/logger';
import { createDatabaseIfMissing } from '@alfabet/service-kit/postgres';
import type pg from 'pg';
import type { AdvancesConfig } from '../config.js';
import { migrate, openOrm, poolOf, type AdvancesOrm } from './orm.js';

/**
 * Opens (creates, migrates) the advances database. Both processes start with
 * it — the API (api-app.ts) and the worker (worker-app.ts) — so it lives here,
 * below both, and neither entry imports the other.
 */
export async function openAdvancesDatabase(
  config: AdvancesConfig,
  log: Logger,
): Promise<{ orm: AdvancesOrm; pool: pg.Pool }> {
  await createDatabaseIfMissing(config.databaseUrl, log);
  const orm = await openOrm({
    databaseUrl: config.databaseUrl,
    poolSize: config.databasePoolSize,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  await migrate(orm);
  return { orm, pool: await poolOf(orm) };
}
