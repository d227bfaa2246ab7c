import pg from 'pg';

/** The subset of a pino logger this module needs. */
export interface InfoLogger {
  info(object: object, message: string): void;
}

/** Creates the database named in the URL if it does not exist yet. */
export async function createDatabaseIfMissing(databaseUrl: string, log?: InfoLogger): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" must be letters, digits and _`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name}"`);
      log?.info({ database: name }, 'created database');
    }
  } catch (error) {
    // Two processes starting at once may race to create it; the loser is fine.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

/**
 * Runs `work` while holding a session advisory lock, so replicas (or test
 * workers) that start together e.g. migrate one after the other.
 */
export async function withAdvisoryLock<T>(pool: pg.Pool, key: number, work: () => Promise<T>): Promise<T> {
  const holder = await pool.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1)', [key]);
    return await work();
  } finally {
    await holder.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
    holder.release();
  }
}
