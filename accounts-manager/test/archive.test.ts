import { Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { readReportHorizon, ReportIssuer } from '../src/db/report-horizon.sql.js';
import { idsOf, listAll, listFirst } from './support/report-client.js';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';

/**
 * `npm run transactions:archive` moves daily partitions older than the report
 * horizon the server recorded to the archive schema while writers keep
 * writing; the ledger stays whole (ledger:verify), old transactions stay
 * readable and replayable, and reports no longer read them. In a database of
 * its own; the server runs with an 8-day REPORT_WINDOW, longer than the
 * command's default of 5 days.
 */
const DATABASE = `${TEST_DATABASES.accounts}_archive`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const CLI = fileURLToPath(new URL('../dist/src/cli/transactions-archive.js', import.meta.url));
const DAY = 24 * 3600 * 1000;

let ledger: TestLedger;
let pool: pg.Pool;
let api: ReturnType<typeof ledgerApi>;

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL, REPORT_WINDOW: '8d' });
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  api = ledgerApi(ledger.client);
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

function runArchive(...args: string[]): Promise<{ code: number; output: string }> {
  return runArchiveWith({}, ...args);
}

async function runArchiveWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; output: string }> {
  const run = archiveProcess(env, ...args);
  return { code: (await run.exited) ?? -1, output: run.output() };
}

/**
 * The command in a process of its own: `said(text)` resolves once its output (stdout and stderr)
 * holds `text` that many times, and rejects if it ends first; `exited` once it has ended and its
 * output is all read; `signal(name)` sends one and waits for the end.
 */
function archiveProcess(env: Record<string, string>, ...args: string[]) {
  const child = spawn(process.execPath, ['--no-warnings', CLI, ...args], {
    env: { ...process.env, NODE_OPTIONS: '', ACCOUNTS_DATABASE_URL: DATABASE_URL, ...env },
  });
  let output = '';
  const waiting: { text: string; times: number; resolve: () => void }[] = [];
  const heard = (chunk: Buffer) => {
    output += chunk.toString();
    for (const wait of waiting) if (output.split(wait.text).length > wait.times) wait.resolve();
  };
  child.stdout.on('data', heard);
  child.stderr.on('data', heard);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const said = (text: string, times = 1) =>
    Promise.race([
      new Promise<void>((resolve) => {
        waiting.push({ text, times, resolve });
        heard(Buffer.alloc(0));
      }),
      exited.then(() => {
        if (output.split(text).length <= times) throw new Error(`the command ended before saying "${text}": ${output}`);
      }),
    ]);
  const signal = (name: NodeJS.Signals) => (child.kill(name), exited);
  return { said, exited, signal, output: () => output };
}

/** A bank credit as ledger_post() would have written it `daysAgo` days ago: row, request id and balance together. */
/** A bank credit written into the past (history, not ledger_post()). */
const creditInThePast = (accountId: string, amount: bigint, daysAgo: number) =>
  postedInThePast(BANK_ACCOUNT_ID, accountId, amount, daysAgo);

/** A posting from `payer` to `payee` written into the past: a bank credit, or a DEBIT transfer between customers. */
async function postedInThePast(payer: string, payee: string, amount: bigint, daysAgo: number) {
  const transactionId = randomUUID();
  const requestId = randomUUID();
  const createTime = new Date(Date.now() - daysAgo * DAY);
  const bank = payer === BANK_ACCOUNT_ID;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT ensure_transaction_partitions($1::date, $1::date)', [
      createTime.toISOString().slice(0, 10),
    ]);
    await client.query(
      `INSERT INTO transactions (transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
                                 direction, description, status, from_account_id, to_account_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'success', $10, $6)`,
      [
        transactionId,
        createTime,
        requestId,
        bank ? 'bank' : 'transfer',
        bank ? null : payer,
        payee,
        amount.toString(),
        bank ? 'credit' : 'debit',
        bank ? 'from long ago' : '',
        payer,
      ],
    );
    await client.query(
      'INSERT INTO transaction_requests (request_id, transaction_id, create_time) VALUES ($1, $2, $3)',
      [requestId, transactionId, createTime],
    );
    await client.query('UPDATE accounts SET balance = balance + $2 WHERE account_id = $1', [payee, amount.toString()]);
    await client.query('UPDATE accounts SET balance = balance - $2 WHERE account_id = $1', [payer, amount.toString()]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
  return { transactionId, requestId, createTime };
}

/** ledger_archive_due_days as the server's /metrics says it now. */
async function archiveDueDaysExported(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ledger.app.metricsPort}/metrics`)).text();
  return Number(/^ledger_archive_due_days(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

const partitionOf = (date: Date) => `transactions_p${date.toISOString().slice(0, 10).replace(/-/g, '')}`;
async function schemaOf(table: string): Promise<string | null> {
  const result = await pool.query<{ nspname: string }>(
    'SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1',
    [table],
  );
  return result.rows[0]?.nspname ?? null;
}

it('archives old partitions without blocking writers, and the ledger stays whole', async () => {
  const account = await api.fundedAccount(1_000n, 'archive holder');
  const old = await creditInThePast(account, 500n, 20);
  const recent = await creditInThePast(account, 300n, 1);
  const payee = await api.fundedAccount(0n, 'archive payee');
  const oldTransfer = await postedInThePast(account, payee, 25n, 20);
  expect((await verifyLedger(pool)).ok).toBe(true);

  const dryRun = await runArchive('--dry-run');
  expect(dryRun.code).toBe(0);
  expect(dryRun.output).toContain(`would archive ${partitionOf(old.createTime)}`);
  expect(await schemaOf(partitionOf(old.createTime))).toBe('public');
  // What ops are alerted on (LedgerArchiveOverdue): the days the dry run named, due now.
  const due = dryRun.output.match(/^would archive transactions_p\d{8}$/gm)?.length ?? 0;
  expect(due).toBeGreaterThanOrEqual(1);
  expect(await archiveDueDaysExported()).toBe(due);

  // Writers keep going while the archive runs.
  let writing = true;
  const writes: Promise<unknown>[] = [];
  const writer = (async () => {
    while (writing) {
      writes.push(
        api.bankTransaction({
          dstAccountId: account,
          amount: 1n,
          direction: Direction.DIRECTION_CREDIT,
          requestId: randomUUID(),
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const result = await runArchive();
  writing = false;
  await writer;
  const written = await Promise.all(writes);
  expect(result.code).toBe(0);
  expect(result.output).toMatch(/archived [1-9]\d* partition\(s\)/);
  expect(written.length).toBeGreaterThan(0);

  expect(await schemaOf(partitionOf(old.createTime))).toBe('archive');
  expect(await schemaOf(partitionOf(recent.createTime))).toBe('public');
  expect(await schemaOf(partitionOf(new Date()))).toBe('public');
  expect(await archiveDueDaysExported()).toBe(0);

  const verification = await verifyLedger(pool);
  expect(verification.ok).toBe(true);

  // Still readable, still replayable; a replay moves nothing.
  expect((await api.getTransaction({ transactionId: old.transactionId })).amount).toBe(500n);
  expect((await api.getTransaction({ requestId: old.requestId })).transactionId).toBe(old.transactionId);
  const balance = (await api.getAccount(account)).balance;
  const replay = await api.bankTransaction({
    dstAccountId: account,
    amount: 500n,
    direction: Direction.DIRECTION_CREDIT,
    requestId: old.requestId,
    description: 'from long ago',
  });
  expect(replay).toMatchObject({
    transactionId: old.transactionId,
    status: TransactionStatus.TRANSACTION_STATUS_SUCCESS,
  });
  expect((await api.getAccount(account)).balance).toBe(balance);
  // A transfer replayed from the archive, alone (the group commit) and as a batch item: the same transaction, nothing moves.
  const transferAgain = { srcAccountId: account, dstAccountId: payee, amount: 25n, requestId: oldTransfer.requestId };
  expect((await api.transfer(transferAgain)).transactionId).toBe(oldTransfer.transactionId);
  const batch = await api.batchTransfer({ transfers: [transferAgain, { ...transferAgain, requestId: randomUUID() }] });
  expect(batch[0]!.transactionId).toBe(oldTransfer.transactionId);
  expect(batch[1]!.transactionId).not.toBe(oldTransfer.transactionId);
  expect((await api.getAccount(payee)).balance).toBe(50n);

  // Running it again finds nothing more to do.
  const again = await runArchive();
  expect(again.output).toContain('archived 0 partition(s)');

  // Reports never read the archive.
  const pages = await listAll(ledger.client, { accountId: account, pageSize: 1000 });
  expect(pages.flatMap((page) => page.transactions.map((t) => t.transactionId))).not.toContain(old.transactionId);
}, 60_000);

it('finishes a move the earlier two-step version left between detaching and attaching', async () => {
  const account = await api.fundedAccount(10n, 'archive interrupted');
  const old = await creditInThePast(account, 70n, 25);
  const partition = partitionOf(old.createTime);
  await pool.query(`ALTER TABLE transactions DETACH PARTITION ${partition}`); // as if the archiver died right here
  const result = await runArchive();
  expect(result.code).toBe(0);
  expect(await schemaOf(partition)).toBe('archive');
  expect((await verifyLedger(pool)).ok).toBe(true);
});

it('takes its cutoff from the server: no live report token loses a row, whatever the command is told', async () => {
  const account = await api.fundedAccount(10n, 'archive report holder');
  const sixDays = await creditInThePast(account, 11n, 6.5);
  const sevenDays = await creditInThePast(account, 12n, 7.5);
  // Past every horizon: whatever is refused below must leave it where it is.
  const archivable = await creditInThePast(account, 13n, 45);
  const nothingMoved = async () => {
    expect(await schemaOf(partitionOf(archivable.createTime))).toBe('public');
    expect(await schemaOf(partitionOf(sixDays.createTime))).toBe('public');
  };
  await forgetReportCounts(pool);
  // A listing over the server's whole 8-day window, one row a page; the client reads page 1 and comes back later.
  const [first] = await listFirst(
    ledger.client,
    { accountId: account, pageSize: 1, startTime: timestampOfDate(new Date(Date.now() - 8 * DAY + 60_000)) },
    1,
  );
  const { snapshotToken, totalPages, totalSize } = first!;
  expect(totalSize).toBe(3n);

  // Shorter than the server's, or malformed: refused (exit 2) naming the variable, nothing moved.
  const badSettings: Record<string, string>[] = [
    { REPORT_WINDOW: '1d' },
    { REPORT_TOKEN_TTL: '1s' },
    { REPORT_WINDOW: 'five days' },
    { REPORT_TOKEN_TTL: 'soon' },
  ];
  for (const env of badSettings) {
    const refused = await runArchiveWith(env);
    expect({ env, code: refused.code }).toEqual({ env, code: 2 });
    expect(refused.output).toContain('transactions:archive refused: ');
    expect(refused.output).toContain(Object.keys(env)[0]);
    await nothingMoved();
  }
  const malformed = ['--before=2026-13-01', '--before=2026-02-30', '--before=yesterday', '--before=', '--sideways'];
  for (const args of [...malformed.map((bad) => [bad]), ['--before'], ['--dry-run', '--before', '20260101']]) {
    const refused = await runArchive(...args);
    expect({ args, code: refused.code }).toEqual({ args, code: 2 });
    expect(refused.output).toContain(args[args.length - 1]!.startsWith('--s') ? '--sideways' : '--before');
    await nothingMoved();
  }
  const tooLate = await runArchive(`--before=${new Date().toISOString().slice(0, 10)}`);
  expect(tooLate.code).toBe(2);
  expect(tooLate.output).toContain('--before');
  await nothingMoved();

  // With no settings of its own (its default window is 5 days) it still keeps what the 8-day tokens cover.
  const result = await runArchive();
  expect(result.code).toBe(0);
  expect(await schemaOf(partitionOf(archivable.createTime))).toBe('archive');
  expect(await schemaOf(partitionOf(sixDays.createTime))).toBe('public');
  expect(await schemaOf(partitionOf(sevenDays.createTime))).toBe('public');

  const last = await listAll(ledger.client, { accountId: account, pageSize: 1, snapshotToken, page: totalPages });
  expect(idsOf(last)).toEqual([sevenDays.transactionId]);
  const all = await listAll(ledger.client, { accountId: account, pageSize: 1, snapshotToken, page: 1 });
  expect(idsOf(all)).toHaveLength(3);
  expect(idsOf(all)).toContain(sixDays.transactionId);
}, 60_000);

it('--every keeps archiving: each run moves what became archivable, a cut connection is survived, SIGTERM stops it', async () => {
  const account = await api.fundedAccount(5n, 'archive every');
  const first = await creditInThePast(account, 3n, 50);
  const job = archiveProcess({ PGAPPNAME: 'archive-every-test' }, '--every=1s');
  try {
    await job.said('transactions:archive: next run at');
    expect(await schemaOf(partitionOf(first.createTime))).toBe('archive');
    // Its connection cut (the database restarting): the job lives on, and the next run works.
    const cut = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'archive-every-test'`,
    );
    expect(cut.rowCount).toBe(1);
    // A day written after the first run is moved by a later one, without a restart.
    const second = await creditInThePast(account, 4n, 51);
    await job.said('archived 1 partition(s)', 2);
    await job.said('transactions:archive: next run at', 2);
    expect(await schemaOf(partitionOf(second.createTime))).toBe('archive');
    expect((await api.getTransaction({ requestId: second.requestId })).transactionId).toBe(second.transactionId);
  } finally {
    expect(await job.signal('SIGTERM')).toBe(0);
  }
  expect(job.output()).toContain('transactions:archive: stopped');
  expect((await verifyLedger(pool)).ok).toBe(true);
}, 60_000);

it('--every: a run refused ends the job (exit 2, naming why); bad or one-off options are refused before any run', async () => {
  const account = await api.fundedAccount(5n, 'archive every refused');
  const kept = await creditInThePast(account, 3n, 53);
  for (const args of [
    ['--every=soon'],
    ['--every=0s'],
    ['--every=8d'],
    ['--every'],
    ['--every=1h', '--dry-run'],
    ['--before=2026-01-01', '--every=1h'],
  ]) {
    const refused = await runArchive(...args);
    expect({ args, code: refused.code }).toEqual({ args, code: 2 });
    expect(refused.output).toContain('transactions:archive refused: --every');
    expect(await schemaOf(partitionOf(kept.createTime))).toBe('public');
  }
  // The export directory goes away between two runs: the next run is refused, and so is the job.
  const exportDir = mkdtempSync(join(tmpdir(), 'archive-every-'));
  const job = archiveProcess({ ARCHIVE_EXPORT_DIR: exportDir }, '--every=1s');
  await job.said('transactions:archive: next run at');
  rmSync(exportDir, { recursive: true });
  expect(await job.exited).toBe(2);
  expect(job.output()).toContain(`transactions:archive refused: ARCHIVE_EXPORT_DIR ${exportDir} is not a directory`);
}, 60_000);

/** Starts the archive paused after `step` of its first move; resolves once it says so. */
function archivePausedAt(step: string) {
  const run = archiveProcess({ ARCHIVE_TEST_PAUSE_AT: step });
  return {
    paused: run.said(`paused at ${step}`),
    kill: () => run.signal('SIGKILL'),
    resume: () => run.signal('SIGUSR2'),
  };
}

async function attachedTo(table: string): Promise<string | null> {
  const result = await pool.query<{ parent: string }>(
    `SELECT i.inhparent::regclass::text AS parent FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = $1`,
    [table],
  );
  return result.rows[0]?.parent ?? null;
}

it.each(['prepared', 'detached', 'attached', 'committed'])(
  'killed after the step %s, every row stays readable and a rerun completes',
  async (step) => {
    const account = await api.fundedAccount(5n, `archive killed ${step}`);
    const daysAgo = 30 + ['prepared', 'detached', 'attached', 'committed'].indexOf(step);
    const old = await creditInThePast(account, 40n, daysAgo);
    const partition = partitionOf(old.createTime);
    const run = archivePausedAt(step);
    await run.paused;
    // A read started now waits for the move's lock (if it holds it) and still finds the row.
    const during = api.getTransaction({ transactionId: old.transactionId });
    await run.kill();
    expect((await during).amount).toBe(40n);

    expect(await attachedTo(partition)).toBe(step === 'committed' ? 'archive.transactions' : 'transactions');
    expect((await api.getTransaction({ transactionId: old.transactionId })).amount).toBe(40n);
    expect((await api.getTransaction({ requestId: old.requestId })).transactionId).toBe(old.transactionId);
    const replay = await api.bankTransaction({
      dstAccountId: account,
      amount: 40n,
      direction: Direction.DIRECTION_CREDIT,
      requestId: old.requestId,
      description: 'from long ago',
    });
    expect(replay.transactionId).toBe(old.transactionId);
    expect((await verifyLedger(pool)).ok).toBe(true);

    const rerun = await runArchive();
    expect(rerun.code).toBe(0);
    expect(await attachedTo(partition)).toBe('archive.transactions');
    expect((await api.getTransaction({ requestId: old.requestId })).transactionId).toBe(old.transactionId);
    expect((await verifyLedger(pool)).ok).toBe(true);
  },
  60_000,
);

it('keeps a day when a server with a longer window records it while the archive is under way', async () => {
  const account = await api.fundedAccount(5n, 'archive horizon moved');
  const old = await creditInThePast(account, 9n, 40);
  const partition = partitionOf(old.createTime);
  const run = archivePausedAt('prepared');
  await run.paused;
  // As a server started with REPORT_WINDOW=60d does at start.
  await pool.query(
    `INSERT INTO report_token_issuers (reach_ms, ttl_ms, issuing_until) VALUES ($1, 3600000, now() + interval '1 minute')`,
    [60 * DAY],
  );
  try {
    expect(await run.resume()).toBe(0);
    expect(await attachedTo(partition)).toBe('transactions');
  } finally {
    await pool.query('DELETE FROM report_token_issuers WHERE reach_ms = $1', [60 * DAY]);
  }
}, 60_000);

it('the horizon: the largest ttl, and the largest reach of the settings that can have issued a token still valid', async () => {
  const HOUR = 3600_000;
  const near = (date: Date | undefined, ms: number) => expect(Math.abs(date!.getTime() - ms)).toBeLessThan(10_000);
  const server = (await readReportHorizon(pool))!;
  expect(server).toMatchObject({ reachMs: 8 * DAY + 60_000, ttlMs: HOUR });
  near(server.horizon, Date.now() - 8 * DAY - 60_000 - HOUR);
  const record = (reachMs: number, ttlMs: number, promisedMsAgo: number) =>
    pool.query(
      `INSERT INTO report_token_issuers (reach_ms, ttl_ms, issuing_until) VALUES ($1, $2, now() - $3::bigint * interval '1 millisecond')`,
      [reachMs, ttlMs, promisedMsAgo],
    );
  try {
    await record(30 * DAY, HOUR, 2 * HOUR); // a 30-day setting last issued 2 h ago: its tokens have expired
    expect((await readReportHorizon(pool))!.reachMs).toBe(8 * DAY + 60_000);
    await record(20 * DAY, HOUR, HOUR / 2); // a 20-day setting last issued 30 min ago: its tokens are valid
    near((await readReportHorizon(pool))?.horizon, Date.now() - 20 * DAY - HOUR);
    await record(DAY, 3 * HOUR, 10 * HOUR); // a longer ttl (long stopped) keeps its ttl and revives the 30-day one
    near((await readReportHorizon(pool))?.horizon, Date.now() - 30 * DAY - 3 * HOUR);
  } finally {
    await pool.query('DELETE FROM report_token_issuers WHERE reach_ms <> $1', [8 * DAY + 60_000]);
  }
});

it('a server renews its promise before issuing when less than 15 s of it is left, once for concurrent listings', async () => {
  let now = 0;
  let writes = 0;
  const fakePool = { query: async () => (writes++, { rows: [] }) } as unknown as pg.Pool;
  const issuer = new ReportIssuer(fakePool, 1000, 1000, () => now);
  await Promise.all([issuer.beforeIssuing(), issuer.beforeIssuing(), issuer.beforeIssuing()]);
  expect(writes).toBe(1);
  now = 44_000;
  await issuer.beforeIssuing();
  expect(writes).toBe(1);
  now = 46_000;
  await issuer.beforeIssuing();
  expect(writes).toBe(2);
});
