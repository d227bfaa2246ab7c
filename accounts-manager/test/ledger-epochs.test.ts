import { status, type ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger } from '../src/logger.js';
import { startPrivatePostgres, type PrivatePostgres } from '../../test-support/private-postgres.js';
import { freePort } from '../../test-support/temporal-dev-server.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { idsOf, listAll } from './support/report-client.js';

/**
 * Ledger epochs without ledger:restore: a plain pg_dump of a running ledger,
 * restored with plain pg_restore into a new cluster that takes over the old
 * one's address while accounts-manager still runs. The running server refuses
 * the new cluster's connections (UNAVAILABLE, an error logged) instead of
 * stamping rows there with the old epoch; restarted, it begins epoch 2 on its
 * own: the copied rows are in new listings, a token taken before the dump lists
 * what it listed, rows written on the new cluster are in no earlier token.
 */
const SECRET = 'ledger-epochs-test-report-token-secret';

let work: string;
let port: number;
let cluster: PrivatePostgres;
let ledger: TestLedger;
let logged = '';
const sink = new Writable({
  write(chunk, _encoding, done) {
    logged += String(chunk);
    done();
  },
});
const url = () => cluster.url('alfabet_accounts');
const start = () =>
  startTestLedger({ ACCOUNTS_DATABASE_URL: url(), REPORT_TOKEN_SECRET: SECRET }, createLogger('info', sink));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'alfabet-epochs-'));
  port = await freePort();
  cluster = startPrivatePostgres(port);
  ledger = await start();
}, 120_000);
afterAll(async () => {
  await ledger?.stop();
  cluster?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function query<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const clusterHere = async () =>
  (await query<{ cluster: string }>('SELECT system_identifier::text AS cluster FROM pg_control_system()'))[0]!.cluster;

it('moves with a plain pg_dump and pg_restore to a new cluster: refused while running, a new epoch after a restart', async () => {
  // 20 000 xids burned first (each subtransaction that writes takes one): the rows' xids are far beyond a new cluster's.
  await query(`CREATE TABLE burn (i int);
    DO $$ BEGIN FOR i IN 1..20000 LOOP BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$;
    DROP TABLE burn`);
  const api = ledgerApi(ledger.client);
  const a = await api.fundedAccount(1_000n, 'epochs a');
  const b = (await api.createAccount('epochs b')).accountId;
  for (let i = 0; i < 5; i++) await api.transfer({ srcAccountId: a, dstAccountId: b, amount: 10n });
  const before = await listAll(ledger.client, { pageSize: 3 });
  await api.transfer({ srcAccountId: a, dstAccountId: b, amount: 20n }); // in the dump, not in the token
  const oldCluster = await clusterHere();

  const dump = join(work, 'ledger.dump');
  execFileSync('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${url()}`]);
  cluster.stop();
  cluster = startPrivatePostgres(port); // another cluster, at the old one's address
  execFileSync('psql', [`--dbname=${cluster.url('postgres')}`, '-qc', 'CREATE DATABASE alfabet_accounts']);
  execFileSync('pg_restore', ['--exit-on-error', '--no-owner', `--dbname=${url()}`, dump]);

  // The running server reaches the new cluster through new connections: refused, never written to.
  // (The first tries may meet connections to the old cluster, dead since it stopped: UNAVAILABLE too.)
  for (let tries = 0; !logged.includes('refused a database connection to another PostgreSQL cluster'); tries++) {
    expect(tries).toBeLessThan(20);
    const refused = (await api
      .transfer({ srcAccountId: a, dstAccountId: b, amount: 1n })
      .catch((e) => e)) as ServiceError;
    expect(refused.code).toBe(status.UNAVAILABLE);
  }
  expect(await query('SELECT 1 FROM transactions WHERE amount = 1')).toEqual([]);
  // Whole-window listings read through a pool of their own (db/report-pool.ts): its new connections are refused too.
  // (Its idle ones, to the old cluster, broke when it stopped; a query finds them gone and opens a new one.)
  for (let tries = 0; ; tries++) {
    expect(tries).toBeLessThan(20);
    const failed = (await ledger.app.reportPool.query('SELECT 1').catch((e) => e)) as Error & { code?: string };
    expect(failed).toBeInstanceOf(Error);
    if (failed.code === '08004') break; // REJECTED_CONNECTION: the epoch guard's refusal
  }

  await ledger.stop();
  ledger = await start();
  const epochs = await query<{ epoch: number; cluster: string }>(
    'SELECT epoch, system_identifier::text AS cluster FROM ledger_epochs ORDER BY epoch',
  );
  const newCluster = await clusterHere();
  expect(epochs).toEqual([
    { epoch: 1, cluster: oldCluster },
    { epoch: 2, cluster: newCluster },
  ]);
  expect(logged).toContain('began a new ledger epoch');

  const after = await listAll(ledger.client, { pageSize: 3 });
  expect(idsOf(after).slice(1)).toEqual(idsOf(before)); // the one transfer after the token, then the rest
  const made = await ledgerApi(ledger.client).transfer({ srcAccountId: a, dstAccountId: b, amount: 30n });
  expect(idsOf(await listAll(ledger.client, { snapshotToken: before[0]!.snapshotToken }))).toEqual(idsOf(before));
  expect(idsOf(await listAll(ledger.client, { pageSize: 3 }))).toEqual([made.transactionId, ...idsOf(after)]);
  const [xids] = await query<{ copied: string; counter: string }>(
    `SELECT (SELECT min(xact_id::text::bigint) FROM transactions WHERE epoch = 1)::text AS copied,
            pg_current_xact_id()::text AS counter`,
  );
  expect(BigInt(xids!.counter)).toBeLessThan(BigInt(xids!.copied));
}, 180_000);
