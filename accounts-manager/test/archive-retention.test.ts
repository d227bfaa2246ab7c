import { Direction } from '@alfabet/proto/accounts/v1';
import { status, type ServiceError } from '@grpc/grpc-js';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * Retention: `npm run transactions:archive` exports each archived day that
 * ended more than ARCHIVE_RETENTION (default 7 years) ago to
 * ARCHIVE_EXPORT_DIR and drops it, carrying its per-account net into
 * archive.opening_balances in the same transaction. ledger:verify holds
 * exactly after drops; a dropped day's request ids get a clear answer and are
 * never applied again; bad settings are refused before anything moves; a kill
 * after any step of a drop loses nothing and a rerun completes, once.
 * In a database of its own, with days written 6 to 10 years in the past.
 */
const DATABASE = `${TEST_DATABASES.accounts}_retention`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const CLI = fileURLToPath(new URL('../dist/src/cli/transactions-archive.js', import.meta.url));
const DAY = 24 * 3600 * 1000;
const YEAR_DAYS = 365.25;

let ledger: TestLedger;
let pool: pg.Pool;
let api: ReturnType<typeof ledgerApi>;
let exportDir: string;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  api = ledgerApi(ledger.client);
  exportDir = mkdtempSync(join(tmpdir(), 'alfabet-ledger-export-'));
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
  rmSync(exportDir, { recursive: true, force: true });
});

function runArchive(env: Record<string, string>, ...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--no-warnings', CLI, ...args],
      { env: { ...process.env, NODE_OPTIONS: '', ACCOUNTS_DATABASE_URL: DATABASE_URL, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
    );
  });
}

interface PastRow {
  from: string;
  to: string;
  amount: bigint;
  daysAgo: number;
  kind?: 'bank' | 'transfer';
  failed?: boolean;
}

/** A transaction as ledger_post() would have written it `daysAgo` days ago: row, request id and balances together. */
async function postInThePast(row: PastRow) {
  const transactionId = randomUUID();
  const requestId = randomUUID();
  const createTime = new Date(Date.now() - row.daysAgo * DAY);
  const kind = row.kind ?? 'bank';
  // A bank credit goes from the bank to dst, a bank debit from dst to the bank; a transfer (DEBIT) from src to dst.
  const bankDebit = kind === 'bank' && row.to === BANK_ACCOUNT_ID;
  const dst = bankDebit ? row.from : row.to;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT ensure_transaction_partitions($1::date, $1::date)', [
      createTime.toISOString().slice(0, 10),
    ]);
    await client.query(
      `INSERT INTO transactions (transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
                                 direction, description, status, failure_reason, failure_message, from_account_id, to_account_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'from long ago', $9, $10, '', $11, $12)`,
      [
        transactionId,
        createTime,
        requestId,
        kind,
        kind === 'transfer' ? row.from : null,
        dst,
        row.amount.toString(),
        kind === 'bank' && !bankDebit ? 'credit' : 'debit',
        row.failed ? 'failed' : 'success',
        row.failed ? 'insufficient_funds' : null,
        row.from,
        row.to,
      ],
    );
    await client.query(
      'INSERT INTO transaction_requests (request_id, transaction_id, create_time) VALUES ($1, $2, $3)',
      [requestId, transactionId, createTime],
    );
    if (!row.failed) {
      await client.query('UPDATE accounts SET balance = balance + $2 WHERE account_id = $1', [row.to, row.amount]);
      await client.query('UPDATE accounts SET balance = balance - $2 WHERE account_id = $1', [row.from, row.amount]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
  return { transactionId, requestId, createTime, day: createTime.toISOString().slice(0, 10) };
}

const partitionOf = (day: string) => `transactions_p${day.replace(/-/g, '')}`;
async function schemaOf(table: string): Promise<string | null> {
  const result = await pool.query<{ nspname: string }>(
    'SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1',
    [table],
  );
  return result.rows[0]?.nspname ?? null;
}
async function openingBalance(accountId: string): Promise<bigint> {
  const { rows } = await pool.query<{ balance: string }>(
    'SELECT balance FROM archive.opening_balances WHERE account_id = $1',
    [accountId],
  );
  return BigInt(rows[0]?.balance ?? 0);
}
async function droppedDay(day: string) {
  const { rows } = await pool.query<{ transactions: string; export_file: string; export_sha256: string }>(
    'SELECT transactions, export_file, export_sha256 FROM archive.dropped_days WHERE day = $1',
    [day],
  );
  return rows[0] ?? null;
}
async function grpcError(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

it('refuses bad retention settings, naming the variable, before anything moves', async () => {
  const account = await api.fundedAccount(0n, 'retention refused');
  const ancient = await postInThePast({ from: BANK_ACCOUNT_ID, to: account, amount: 70n, daysAgo: 8 * YEAR_DAYS });
  const archivable = await postInThePast({ from: BANK_ACCOUNT_ID, to: account, amount: 30n, daysAgo: 20 });
  const unmoved = async () => {
    expect(await schemaOf(partitionOf(ancient.day))).toBe('public');
    expect(await schemaOf(partitionOf(archivable.day))).toBe('public');
  };
  for (const [env, named] of [
    [{ ARCHIVE_RETENTION: '7d' }, 'ARCHIVE_RETENTION'], // a typo for 7y: under the 5-year floor
    [{ ARCHIVE_RETENTION: 'seven years' }, 'ARCHIVE_RETENTION'],
    [{ ARCHIVE_EXPORT_DIR: 'relative/dir' }, 'ARCHIVE_EXPORT_DIR'],
    [{ ARCHIVE_EXPORT_DIR: join(exportDir, 'missing') }, 'ARCHIVE_EXPORT_DIR'],
    [{ ARCHIVE_EXPORT_DIR: CLI }, 'ARCHIVE_EXPORT_DIR'], // a file, not a directory
    [{}, 'ARCHIVE_EXPORT_DIR'], // a day is past the default 7 years and there is nowhere to export it
  ] as const) {
    const refused = await runArchive(env);
    expect({ env, code: refused.code }).toEqual({ env, code: 2 });
    expect(refused.output).toContain(`transactions:archive refused: `);
    expect(refused.output).toContain(named);
    await unmoved();
  }
  // ARCHIVE_RETENTION=off keeps every day: the old days move to the archive and stay there.
  const kept = await runArchive({ ARCHIVE_RETENTION: 'off' });
  expect(kept.code).toBe(0);
  expect(kept.output).toContain('dropped 0 archived day(s) past retention');
  expect(await schemaOf(partitionOf(ancient.day))).toBe('archive');
  expect(await droppedDay(ancient.day)).toBeNull();
  expect((await verifyLedger(pool)).ok).toBe(true);
}, 60_000);

it('exports and drops days past retention, the net carried: ledger:verify holds, request ids are answered', async () => {
  const alice = await api.fundedAccount(1_000n, 'retention alice');
  const bob = await api.fundedAccount(0n, 'retention bob');
  const old = 9 * YEAR_DAYS;
  const credit = await postInThePast({ from: BANK_ACCOUNT_ID, to: alice, amount: 500n, daysAgo: old });
  const paid = await postInThePast({ from: alice, to: bob, amount: 120n, daysAgo: old, kind: 'transfer' });
  await postInThePast({ from: bob, to: alice, amount: 9_999n, daysAgo: old, kind: 'transfer', failed: true });
  const recent = await postInThePast({ from: BANK_ACCOUNT_ID, to: bob, amount: 7n, daysAgo: 6 * YEAR_DAYS });
  const [aliceBefore, bobBefore] = [(await api.getAccount(alice)).balance, (await api.getAccount(bob)).balance];

  const dry = await runArchive({ ARCHIVE_EXPORT_DIR: exportDir }, '--dry-run');
  expect(dry.code).toBe(0);
  expect(dry.output).toContain(`would export and drop ${partitionOf(credit.day)}`);
  expect(await schemaOf(partitionOf(credit.day))).toBe('public');

  const run = await runArchive({ ARCHIVE_EXPORT_DIR: exportDir });
  expect(run.code).toBe(0);
  expect(run.output).toMatch(/dropped [1-9]\d* archived day\(s\) past retention/);
  expect(await schemaOf(partitionOf(credit.day))).toBeNull();
  expect(await schemaOf(partitionOf(recent.day))).toBe('archive'); // 6 years: within the default 7
  const dropped = (await droppedDay(credit.day))!;
  expect(dropped).toMatchObject({ transactions: '3', export_file: `transactions-${credit.day}.jsonl.gz` });

  // The balances did not move; the net of the day went to the opening balances, and the ledger verifies.
  expect((await api.getAccount(alice)).balance).toBe(aliceBefore);
  expect((await api.getAccount(bob)).balance).toBe(bobBefore);
  expect(await openingBalance(alice)).toBe(500n - 120n);
  expect(await openingBalance(bob)).toBe(120n);
  const verification = await verifyLedger(pool);
  expect(verification).toMatchObject({ ok: true, mismatchedAccounts: [], balanceSumMinor: 0n });

  // The export holds every row of the day, exactly, with its manifest.
  const lines = gunzipSync(readFileSync(join(exportDir, dropped.export_file)))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, string>);
  expect(lines.map((line) => line.transaction_id).sort()).toHaveLength(3);
  expect(lines.find((line) => line.transaction_id === paid.transactionId)).toMatchObject({
    amount: '120',
    status: 'success',
    from_account_id: alice,
    to_account_id: bob,
    request_id: paid.requestId,
  });
  const manifest = JSON.parse(readFileSync(join(exportDir, `transactions-${credit.day}.manifest.json`), 'utf8'));
  expect(manifest).toMatchObject({ day: credit.day, rows: 3, sha256: dropped.export_sha256 });
  expect(readdirSync(exportDir).filter((name) => name.includes('.partial'))).toEqual([]);

  // A dropped day's request ids: a clear NOT_FOUND to read, FAILED_PRECONDITION to replay, and no money moves.
  const read = await grpcError(api.getTransaction({ requestId: credit.requestId }));
  expect(read.code).toBe(status.NOT_FOUND);
  expect(read.details).toMatch(
    /^request_id: .*made transaction .* on \d{4}-\d{2}-\d{2}, a day past the ledger's retention/,
  );
  const byId = await grpcError(api.getTransaction({ transactionId: credit.transactionId }));
  expect(byId.code).toBe(status.NOT_FOUND);
  expect(byId.details).toContain("past the ledger's retention");
  const replay = await grpcError(
    api.bankTransaction({
      dstAccountId: alice,
      amount: 500n,
      direction: Direction.DIRECTION_CREDIT,
      requestId: credit.requestId,
      description: 'from long ago',
    }),
  );
  expect(replay.code).toBe(status.FAILED_PRECONDITION);
  expect(replay.details).toContain('it is not applied again');
  const transferReplay = await grpcError(
    api.transfer({ srcAccountId: alice, dstAccountId: bob, amount: 120n, requestId: paid.requestId }),
  );
  expect(transferReplay.code).toBe(status.FAILED_PRECONDITION);
  expect((await api.getAccount(alice)).balance).toBe(aliceBefore);
  // The kept days are still read as before.
  expect((await api.getTransaction({ requestId: recent.requestId })).amount).toBe(7n);

  // Again: nothing more to drop, nothing carried twice.
  const again = await runArchive({ ARCHIVE_EXPORT_DIR: exportDir });
  expect(again.output).toContain('dropped 0 archived day(s) past retention');
  expect(await openingBalance(alice)).toBe(380n);
  expect((await verifyLedger(pool)).ok).toBe(true);
}, 60_000);

/** Starts the archive paused after `step` of its first drop; resolves once it says so. */
function archivePausedAt(step: string) {
  const child = spawn(process.execPath, ['--no-warnings', CLI], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      ACCOUNTS_DATABASE_URL: DATABASE_URL,
      ARCHIVE_EXPORT_DIR: exportDir,
      ARCHIVE_TEST_PAUSE_AT: step,
    },
  });
  let output = '';
  const paused = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`paused at ${step}`)) resolve();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', () => reject(new Error(`archive exited before pausing at ${step}: ${output}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { paused, kill: () => (child.kill('SIGKILL'), exited) };
}

const DROP_STEPS = ['exported', 'carried', 'dropped', 'drop-committed'];

it.each(DROP_STEPS)(
  'killed after the drop step %s, the ledger verifies, and a rerun drops the day once',
  async (step) => {
    const account = await api.fundedAccount(0n, `retention killed ${step}`);
    const old = await postInThePast({
      from: BANK_ACCOUNT_ID,
      to: account,
      amount: 40n,
      daysAgo: 10 * YEAR_DAYS + DROP_STEPS.indexOf(step),
    });
    const partition = partitionOf(old.day);
    const run = archivePausedAt(step);
    await run.paused;
    // ledger:verify started now waits for the drop's lock (if it holds it) and sees the day whole, or gone and carried.
    const during = verifyLedger(pool);
    await run.kill();
    expect((await during).ok).toBe(true);

    const committed = step === 'drop-committed';
    expect(await schemaOf(partition)).toBe(committed ? null : 'archive');
    expect(await droppedDay(old.day)).toEqual(committed ? expect.anything() : null);
    expect(await openingBalance(account)).toBe(committed ? 40n : 0n);
    if (!committed) expect((await api.getTransaction({ requestId: old.requestId })).amount).toBe(40n);
    expect((await verifyLedger(pool)).ok).toBe(true);
    const manifest = join(exportDir, `transactions-${old.day}.manifest.json`);
    const exportedBefore = readFileSync(manifest, 'utf8'); // every step here follows the export

    const rerun = await runArchive({ ARCHIVE_EXPORT_DIR: exportDir });
    expect(rerun.code).toBe(0);
    expect(await schemaOf(partition)).toBeNull();
    expect(await droppedDay(old.day)).toMatchObject({ transactions: '1' });
    expect(await openingBalance(account)).toBe(40n); // carried once, whatever the step
    expect(readFileSync(manifest, 'utf8')).toBe(exportedBefore); // a finished export is kept, not rewritten
    expect((await grpcError(api.getTransaction({ requestId: old.requestId }))).code).toBe(status.NOT_FOUND);
    expect((await verifyLedger(pool)).ok).toBe(true);
  },
  60_000,
);
