import pg from 'pg';

/**
 * Names of the databases tests run against. ALFABET_TEST_DB_SUFFIX lets two
 * test runs share one PostgreSQL without dropping each other's databases.
 */
const suffix = process.env.ALFABET_TEST_DB_SUFFIX ?? '';
if (!/^[a-z0-9_]*$/.test(suffix)) throw new Error('ALFABET_TEST_DB_SUFFIX must be lower-case letters, digits and _');

export const TEST_DATABASES = {
  accounts: `alfabet_accounts_test${suffix}`,
  advances: `alfabet_advances_test${suffix}`,
  // The reconciliation tests corrupt rows on purpose: they get a database of their own.
  advancesReconciliation: `alfabet_advances_recon_test${suffix}`,
  // …and a ledger of its own: a movement naming an advance its advances database never recorded is a finding,
  // so it must not see the movements of other tests' advances.
  accountsReconciliation: `alfabet_accounts_recon_test${suffix}`,
  // The incremental reconciliation test likewise, on a real Temporal dev server.
  advancesIncremental: `alfabet_advances_incr_test${suffix}`,
  accountsIncremental: `alfabet_accounts_incr_test${suffix}`,
} as const;

export const testDatabaseUrl = (name: string) => `postgres://postgres@127.0.0.1:5432/${name}`;

/** How long a drop waits for the database's own sessions to finish closing before it ends them. */
const SESSIONS_GONE_WAIT_MS = 2_000;

/**
 * Drops a test's own database if an earlier run left it behind; the service under test creates it afresh.
 * Connections a test has just closed may still be ending: ended from the server's side (FORCE), their
 * pool reports the error to no one and the test fails — so the drop first waits, briefly, for them to go.
 * FORCE still ends whatever a crashed run left behind.
 */
export async function dropTestDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl('postgres') });
  await admin.connect();
  try {
    const deadline = Date.now() + SESSIONS_GONE_WAIT_MS;
    while (Date.now() < deadline) {
      const { rows } = await admin.query<{ sessions: number }>(
        'SELECT count(*)::int AS sessions FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      if (rows[0]!.sessions === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
