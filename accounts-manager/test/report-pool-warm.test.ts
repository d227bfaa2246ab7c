import type pg from 'pg';
import { openReportPool, warmReportPool } from '../src/db/report-pool.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * The report pool's connections are opened and warmed before the service answers
 * (db/report-pool.ts): a session's first whole-window listing loads the catalog entries of
 * every partition it prunes to and plans the snapshot's statement — 37–68 ms on the grown
 * ledger, where the next listings took 3–6. In a database of its own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_warm`;
const DAY_MS = 24 * 3600 * 1000;

let ledger: TestLedger;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: testDatabaseUrl(DATABASE) });
}, 60_000);
afterAll(async () => {
  await ledger.stop();
});

/** Holds every connection of `pool` at once and names the prepared statements of each session. */
async function preparedOnEachConnection(pool: pg.Pool): Promise<string[][]> {
  const clients = await Promise.all(Array.from({ length: pool.options.max! }, () => pool.connect()));
  try {
    return await Promise.all(
      clients.map(async (client) =>
        (await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map(
          (row) => row.name,
        ),
      ),
    );
  } finally {
    for (const client of clients) client.release();
  }
}

it('opens every report connection and prepares the whole window snapshot on each before the service answers', async () => {
  const { reportPool } = ledger.app;
  expect(reportPool.options.max).toBeGreaterThanOrEqual(2);
  // Open, idle, and none opened by a listing: the service has answered nothing yet.
  expect(reportPool.totalCount).toBe(reportPool.options.max);
  expect(reportPool.idleCount).toBe(reportPool.options.max);
  const prepared = await preparedOnEachConnection(reportPool);
  // Holding them all opened none more: each of those sessions is one the service warmed.
  expect(reportPool.totalCount).toBe(reportPool.options.max);
  for (const names of prepared) expect(names).toContain('report_snapshot_counted');
});

it('a warm-up that fails rejects and leaves no connection behind in the pool', async () => {
  // The maintenance database has no ledger: the snapshot's statement fails on every connection.
  const pool = openReportPool(
    { databaseUrl: testDatabaseUrl('postgres'), poolSize: 8, statementTimeoutMs: 10_000 },
    () => undefined,
  );
  try {
    await expect(warmReportPool(pool, 5 * DAY_MS)).rejects.toThrow(/ledger_epochs/);
    expect(pool.totalCount).toBe(0);
  } finally {
    await pool.end();
  }
});
