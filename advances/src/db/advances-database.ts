import type { Logger } from '@alfabet/service-kit/logger';
import type pg from 'pg';
import type { AdvancesConfig } from '../config.js';
import { openDatabase, type AdvancesOrm } from './orm.js';

/**
 * Opens (creates, migrates) the advances database. Both processes start with
 * it — the API (api-app.ts) and the worker (worker-app.ts) — so it lives here,
 * below both, and neither entry imports the other.
 */
export async function openAdvancesDatabase(
  config: AdvancesConfig,
  log: Logger,
): Promise<{ orm: AdvancesOrm; pool: pg.Pool }> {
  return openDatabase(
    {
      databaseUrl: config.databaseUrl,
      poolSize: config.databasePoolSize,
      statementTimeoutMs: config.statementTimeoutMs,
    },
    log,
  );
}
