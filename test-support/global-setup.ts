import pg from 'pg';

/**
 * Runs once before all tests: gives every service a fresh test database, so
 * a run never depends on what an earlier run left behind. Each test file then
 * starts its service against it (migrations run there, idempotently).
 */
import { TEST_DATABASES } from './test-databases.ts';

export default async function globalSetup(): Promise<void> {
  const admin = new pg.Client({
    connectionString: process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await admin.connect();
  try {
    for (const name of Object.values(TEST_DATABASES)) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${name}"`);
    }
  } finally {
    await admin.end();
  }
}
