import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceClient, Direction, TransactionStatus, type Transaction } from '@alfabet/proto/accounts/v1';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { verifyReportCounts } from '../src/db/report-counts-verify.sql.js';
import { freePort } from '../../test-support/temporal-dev-server.js';
import { startPrivatePostgres, type PrivatePostgres } from '../../test-support/private-postgres.js';
import { ledgerApi } from './support/ledger-harness.js';
import { healthCheck } from './support/ops-clients.js';

/**
 * The ledger under fire: 64 clients move money among 20 accounts while
 * accounts-manager is SIGKILLed and restarted three times and PostgreSQL is
 * restarted once. Each client retries a failed call with the same request_id
 * (and the same parameters) until it gets an answer, as a careful client
 * must. Afterwards: every request ended in a known outcome, every
 * acknowledged transaction is stored exactly once, no request_id was applied
 * twice, no balance was ever negative, balances equal the replay of the
 * acknowledged successes, and ledger:verify holds. The service runs as a real
 * process (dist/, built by `npm test`) on a PostgreSQL of the test's own.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLIENTS = 64;
const CHANNELS = 8;
const ACCOUNTS = 20;
const LOAD_MS = 24_000;
const KILLS_AT_MS = [4_000, 9_000, 14_000];
const POSTGRES_RESTART_AT_MS = 19_000;
const SETTLE_MS = 60_000; // after the load, every open request must get its answer within this
const CALL_DEADLINE_MS = 2_000;
const RETRYABLE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]);

let postgres: PrivatePostgres;
let service: ChildProcess | null = null;
let address: string;
let databaseUrl: string;
const unexpectedExits: string[] = [];

function startService(): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, 'accounts-manager/dist/src/main.js')], {
    env: {
      ...process.env,
      ACCOUNTS_GRPC_ADDR: address,
      ACCOUNTS_DATABASE_URL: databaseUrl,
      ACCOUNTS_METRICS_ADDR: 'off',
      ACCOUNTS_DB_POOL_SIZE: '16',
      // The group commit, as the service runs by default; ACCOUNTS_GROUP_COMMIT=off npm test -- … fires at lone posting.
      ACCOUNTS_GROUP_COMMIT: process.env.ACCOUNTS_GROUP_COMMIT ?? 'on',
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE: '2s',
    },
    // UNDER_FIRE_STDOUT=1 shows the service's log lines (to see why a call got an unexpected answer).
    stdio: ['ignore', process.env.UNDER_FIRE_STDOUT ? 'inherit' : 'ignore', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') unexpectedExits.push(`exit ${code} ${signal}`);
  });
  return child;
}

async function waitHealthy(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await healthCheck(address, '').catch(() => 'DOWN')) !== 'SERVING') {
    if (Date.now() > deadline) throw new Error('accounts-manager did not come back within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function killAndRestart(): Promise<void> {
  const exited = new Promise((r) => service!.once('exit', r));
  service!.kill('SIGKILL');
  await exited;
  service = startService();
  await waitHealthy();
}

beforeAll(async () => {
  postgres = startPrivatePostgres(await freePort());
  databaseUrl = postgres.url('alfabet_accounts');
  address = `127.0.0.1:${await freePort()}`;
  service = startService();
  await waitHealthy();
}, 120_000);
afterAll(async () => {
  if (service && service.exitCode === null) {
    const exited = new Promise((r) => service!.once('exit', r));
    service.kill('SIGTERM');
    await exited;
  }
  postgres?.stop();
});

interface Request {
  requestId: string;
  send: () => Promise<Transaction>;
}

it('loses nothing and duplicates nothing while accounts-manager is killed 3 times and PostgreSQL restarted once', async () => {
  const setup = new AccountsServiceClient(address, credentials.createInsecure());
  const api = ledgerApi(setup);
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) accounts.push(await api.fundedAccount(1_000n, `fire ${i}`));
  setup.close();

  const channels = Array.from(
    { length: CHANNELS },
    () =>
      new AccountsServiceClient(address, credentials.createInsecure(), {
        // Reconnect quickly after each restart instead of backing off for minutes.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
      }),
  );
  const answers = new Map<string, Transaction[]>();
  const unresolved = new Set<string>();
  const errorsSeen = new Map<string, number>();
  const wrongAnswers: string[] = [];
  const started = Date.now();
  const loadEnds = started + LOAD_MS;
  const settleBy = loadEnds + SETTLE_MS;
  const pick = () => accounts[Math.floor(Math.random() * ACCOUNTS)]!;

  /** Sends until answered; a retry is the same request_id with the same parameters. */
  async function untilAnswered(request: Request): Promise<void> {
    unresolved.add(request.requestId);
    while (Date.now() < settleBy) {
      try {
        const answer = await request.send();
        answers.set(request.requestId, [...(answers.get(request.requestId) ?? []), answer]);
        unresolved.delete(request.requestId);
        return;
      } catch (error) {
        const code = (error as ServiceError).code;
        errorsSeen.set(status[code] ?? String(code), (errorsSeen.get(status[code] ?? String(code)) ?? 0) + 1);
        if (!RETRYABLE.has(code)) {
          wrongAnswers.push(`${request.requestId}: ${status[code]} ${(error as ServiceError).details}`);
          unresolved.delete(request.requestId);
          return;
        }
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  }

  const load = Promise.all(
    Array.from({ length: CLIENTS }, async (_, index) => {
      const channel = channels[index % CHANNELS]!;
      let previous: Request | null = null;
      while (Date.now() < loadEnds) {
        let request: Request;
        if (previous && Math.random() < 0.1) {
          request = previous; // sent again after it was answered, as a client that lost the reply
        } else {
          const requestId = randomUUID();
          const amount = BigInt(1 + Math.floor(Math.random() * 300));
          const direction = Math.random() < 0.5 ? Direction.DIRECTION_DEBIT : Direction.DIRECTION_CREDIT;
          if (Math.random() < 0.75) {
            const src = pick();
            let dst = pick();
            while (dst === src) dst = pick();
            request = {
              requestId,
              send: () =>
                callWithDeadline(channel, 'transfer', {
                  requestId,
                  srcAccountId: src,
                  dstAccountId: dst,
                  amount,
                  direction,
                }),
            };
          } else {
            const dst = pick();
            request = {
              requestId,
              send: () =>
                callWithDeadline(channel, 'bankTransaction', {
                  requestId,
                  dstAccountId: dst,
                  amount,
                  direction,
                  description: 'under fire',
                }),
            };
          }
        }
        await untilAnswered(request);
        previous = request;
      }
    }),
  );

  // No balance below zero at any moment we can look (PostgreSQL down: nothing to see, nothing to change).
  const sampler = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  sampler.on('error', () => undefined);
  let negative: string | null = null;
  let sampling = true;
  const sampling$ = (async () => {
    while (sampling) {
      const rows = await sampler
        .query<{ n: string }>('SELECT count(*) AS n FROM accounts WHERE balance < 0 AND NOT is_system')
        .catch(() => null);
      if (rows && rows.rows[0]!.n !== '0') negative = rows.rows[0]!.n;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  // The faults, on schedule.
  const faults: string[] = [];
  for (const at of [...KILLS_AT_MS, POSTGRES_RESTART_AT_MS]) {
    await new Promise((r) => setTimeout(r, Math.max(0, started + at - Date.now())));
    if (at === POSTGRES_RESTART_AT_MS) {
      postgres.restart();
      faults.push('postgres restarted');
    } else {
      await killAndRestart();
      faults.push('accounts-manager SIGKILLed and restarted');
    }
  }
  await load;
  sampling = false;
  await sampling$;
  for (const channel of channels) channel.close();

  expect(faults).toHaveLength(4);
  expect(unexpectedExits).toEqual([]);
  expect(wrongAnswers).toEqual([]);
  expect([...unresolved]).toEqual([]); // every request ended in a known outcome
  expect(negative).toBeNull();
  // The faults really hit calls in flight, and clients retried through them.
  expect(errorsSeen.get('UNAVAILABLE') ?? 0).toBeGreaterThan(0);

  // Every request_id answered with one single transaction, however often it was sent.
  for (const [requestId, got] of answers)
    expect({ requestId, ids: new Set(got.map((a) => a.transactionId)).size }).toEqual({ requestId, ids: 1 });

  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const { rows } = await db.query<{
      transaction_id: string;
      request_id: string;
      status: string;
      amount: string;
      from_account_id: string;
      to_account_id: string;
    }>(
      `SELECT transaction_id, request_id, status, amount, from_account_id, to_account_id FROM transactions WHERE request_id = ANY($1::uuid[])`,
      [[...answers.keys()]],
    );
    expect(rows).toHaveLength(answers.size); // stored once each, nothing extra for those ids
    const duplicates = await db.query(
      'SELECT request_id FROM transactions WHERE request_id IS NOT NULL GROUP BY request_id HAVING count(*) > 1',
    );
    expect(duplicates.rows).toEqual([]);
    for (const row of rows) {
      const answer = answers.get(row.request_id)![0]!;
      expect(row.transaction_id).toBe(answer.transactionId);
      expect(row.status === 'success').toBe(answer.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS);
    }
    // Nothing stored that no client heard of: the only rows are the funding and the acknowledged ones.
    const stored = (await db.query<{ n: string }>('SELECT count(*) AS n FROM transactions')).rows[0]!.n;
    expect(Number(stored)).toBe(answers.size + ACCOUNTS);

    // Balances = the initial 1 000 each, replayed through the acknowledged successes.
    const expected = new Map(accounts.map((id) => [id, 1_000n]));
    for (const row of rows.filter((r) => r.status === 'success')) {
      if (expected.has(row.from_account_id))
        expected.set(row.from_account_id, expected.get(row.from_account_id)! - BigInt(row.amount));
      if (expected.has(row.to_account_id))
        expected.set(row.to_account_id, expected.get(row.to_account_id)! + BigInt(row.amount));
    }
    const balances = await db.query<{ account_id: string; balance: string }>(
      'SELECT account_id, balance FROM accounts WHERE account_id = ANY($1::uuid[])',
      [accounts],
    );
    for (const row of balances.rows)
      expect({ account: row.account_id, balance: BigInt(row.balance) }).toEqual({
        account: row.account_id,
        balance: expected.get(row.account_id),
      });

    expect(await verifyLedger(db)).toMatchObject({
      ok: true,
      balanceSumMinor: 0n,
      mismatchedAccounts: [],
      negativeAccounts: [],
    });
    // The report's live counts were written in the rows' own transactions: killed or not, they add up.
    expect(await verifyReportCounts(db)).toMatchObject({ miscounted: [] });
  } finally {
    await db.end();
    await sampler.end();
  }
}, 240_000);

function callWithDeadline(
  client: AccountsServiceClient,
  method: 'transfer' | 'bankTransaction',
  request: object,
): Promise<Transaction> {
  return new Promise((resolveCall, reject) => {
    (
      client[method] as unknown as (
        r: object,
        o: object,
        cb: (e: ServiceError | null, res: { transaction: Transaction }) => void,
      ) => void
    ).call(client, request, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, response) =>
      error ? reject(error) : resolveCall(response.transaction),
    );
  });
}
