import { Metadata, status } from '@grpc/grpc-js';
import { Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ACCOUNTS_SERVICE_NAME } from '../src/app.js';
import { createAccountsMetrics } from '../src/metrics.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { healthCheck, healthWatch, reflect } from './support/ops-clients.js';

let pool: pg.Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => pool.end());

describe('what ops see of a running accounts-manager', () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = await startTestLedger();
  });
  afterAll(async () => ledger.stop());

  it('lists its services through server reflection (grpcurl list)', async () => {
    const answer = await reflect(ledger.address, { list_services: '' });
    const names = answer.list_services_response.service.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining([ACCOUNTS_SERVICE_NAME, 'grpc.health.v1.Health']));
  });

  it('describes every RPC and message through reflection (grpcurl describe)', async () => {
    const answer = await reflect(ledger.address, { file_containing_symbol: ACCOUNTS_SERVICE_NAME });
    const descriptors = Buffer.concat(answer.file_descriptor_response.file_descriptor_proto).toString('latin1');
    for (const name of [
      'CreateAccount',
      'GetAccount',
      'Transfer',
      'BankTransaction',
      'BatchTransfer',
      'GetTransaction',
      'ListTransactions',
      'TransferRequest',
      'BatchTransferRequest',
      'FAILURE_REASON_BATCH_ABORTED',
      'TRANSACTION_STATUS_FAILED',
      'FAILURE_REASON_INSUFFICIENT_FUNDS',
    ]) {
      expect(descriptors).toContain(name);
    }
  });

  it('answers the standard health check as SERVING', async () => {
    expect(await healthCheck(ledger.address)).toBe('SERVING');
    expect(await healthCheck(ledger.address, ACCOUNTS_SERVICE_NAME)).toBe('SERVING');
  });
});

describe('graceful shutdown', () => {
  it('finishes the call in flight, then refuses new calls', async () => {
    const ledger = await startTestLedger({ SHUTDOWN_GRACE: '10s' });
    const api = ledgerApi(ledger.client);
    const payer = await api.fundedAccount(100n);
    const payee = await api.fundedAccount(0n);
    // Slow the payee's update down so the transfer is still running when the stop begins.
    const name = `slow_${payee.replace(/-/g, '')}`;
    await pool.query(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$`,
    );
    await pool.query(
      `CREATE TRIGGER ${name} BEFORE UPDATE ON accounts FOR EACH ROW WHEN (NEW.account_id = '${payee}'::uuid) EXECUTE FUNCTION ${name}()`,
    );
    try {
      const inFlight = api.transfer({ srcAccountId: payer, dstAccountId: payee, amount: 60n });
      for (let i = 0; i < 100; i++) {
        const { rows } = await pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%ledger_post%'`,
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const stopping = ledger.app.stop();
      expect((await inFlight).status).toBe(TransactionStatus.TRANSACTION_STATUS_SUCCESS);
      await stopping;
    } finally {
      await pool.query(`DROP TRIGGER IF EXISTS ${name} ON accounts`);
      await pool.query(`DROP FUNCTION IF EXISTS ${name}()`);
    }
    await expect(api.getAccount(payer)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    ledger.client.close();

    const balances = await pool.query<{ balance: string }>(
      'SELECT balance FROM accounts WHERE account_id = ANY($1::uuid[]) ORDER BY balance',
      [[payer, payee]],
    );
    expect(balances.rows.map((r) => r.balance)).toEqual(['40', '60']);
  });

  it('tells health watchers NOT_SERVING as soon as draining starts', async () => {
    const ledger = await startTestLedger();
    const seen: string[] = [];
    const watching = healthWatch(ledger.address, ACCOUNTS_SERVICE_NAME, (health) => seen.push(health));
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The watch is itself a call in flight, so the stop waits for it up to the grace period.
    await ledger.app.grpc.shutdown(500);
    await watching;
    // The rest of the app (its metrics endpoint, pools and timers): left open, they kept this jest worker alive.
    await ledger.stop();
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
  });
});

describe('metrics and correlation ids', () => {
  it('serves Prometheus metrics: RPCs by method and code, transactions by outcome, process stats', async () => {
    const ledger = await startTestLedger();
    try {
      const api = ledgerApi(ledger.client);
      const payer = await api.fundedAccount(10n);
      const payee = await api.fundedAccount(0n);
      await api.transfer({ srcAccountId: payer, dstAccountId: payee, amount: 50n }); // fails: insufficient funds
      await api.getAccount('not-a-uuid').catch(() => undefined);

      const text = await (await fetch(`http://127.0.0.1:${ledger.app.metricsPort}/metrics`)).text();
      expect(text).toMatch(/grpc_server_handled_total\{service="AccountsService",method="Transfer",code="OK"[^}]*\} 1/);
      expect(text).toMatch(
        /grpc_server_handled_total\{service="AccountsService",method="GetAccount",code="INVALID_ARGUMENT"[^}]*\} 1/,
      );
      expect(text).toMatch(/grpc_server_handling_seconds_bucket\{[^}]*method="Transfer"/);
      expect(text).toMatch(
        /ledger_transactions_total\{kind="transfer",status="failed",failure_reason="insufficient_funds"[^}]*\} 1/,
      );
      expect(text).toMatch(/process_resident_memory_bytes/);
    } finally {
      await ledger.stop();
    }
  });

  it('ledger_archive_due_days keeps its last value when the database cannot answer, and the scrape succeeds', async () => {
    const answers = [async () => 2, async () => Promise.reject(new Error('the database is down')), async () => 0];
    const metrics = createAccountsMetrics(() => answers.shift()!());
    const due = async () => /^ledger_archive_due_days\{[^}]*\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1];
    expect(await due()).toBe('2');
    expect(await due()).toBe('2');
    expect(await due()).toBe('0');
  });

  it("echoes the caller's x-correlation-id and stamps it on the log lines of the call", async () => {
    const lines: Record<string, unknown>[] = [];
    const { Writable } = await import('node:stream');
    const { pino } = await import('pino');
    const { currentRequestContext } = await import('@alfabet/service-kit/request-context');
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const ledger = await startTestLedger(
      { LOG_LEVEL: 'debug' },
      pino({ level: 'debug', mixin: () => currentRequestContext() ?? {} }, sink),
    );
    try {
      const metadata = new Metadata();
      metadata.set('x-correlation-id', 'payment-42-attempt-1');
      const echoed = await new Promise<string>((resolve, reject) => {
        const call = ledger.client.createAccount(
          { displayName: 'Traced', requestId: '' },
          metadata,
          (error) => error && reject(error),
        );
        call.on('metadata', (m) => resolve(String(m.get('x-correlation-id')[0])));
      });
      expect(echoed).toBe('payment-42-attempt-1');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const traced = lines.filter((line) => line.correlationId === 'payment-42-attempt-1');
      expect(traced.map((line) => line.msg)).toEqual(expect.arrayContaining(['account opened', 'rpc ok']));
      expect(traced.every((line) => line.method === 'CreateAccount')).toBe(true);
    } finally {
      await ledger.stop();
    }
  });

  /**
   * What a ledger logging at `level` says about a successful bank credit and a
   * refused transfer, each called twice with its request_id: the messages
   * logged about each request_id, in order.
   */
  async function loggedAbout(level: 'debug' | 'info'): Promise<{ succeeded: string[]; refused: string[] }> {
    const lines: { msg: string; transactionId?: string; requestId?: string }[] = [];
    const { Writable } = await import('node:stream');
    const { pino } = await import('pino');
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const ledger = await startTestLedger({ LOG_LEVEL: level }, pino({ level }, sink));
    try {
      const api = ledgerApi(ledger.client);
      const dst = await api.fundedAccount(0n, 'replayed');
      const requestId = randomUUID();
      const credit = { requestId, dstAccountId: dst, amount: 5n, direction: Direction.DIRECTION_CREDIT };
      const first = await api.bankTransaction(credit);
      expect(await api.bankTransaction(credit)).toEqual(first);
      const poor = await api.fundedAccount(0n, 'replayed failure');
      const refusedId = randomUUID();
      const refused = { requestId: refusedId, srcAccountId: poor, dstAccountId: dst, amount: 5n };
      expect((await api.transfer(refused)).status).toBe(TransactionStatus.TRANSACTION_STATUS_FAILED);
      await api.transfer(refused);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const about = (id: string) => lines.filter((line) => line.requestId === id).map((line) => line.msg);
      return { succeeded: about(requestId), refused: about(refusedId) };
    } finally {
      await ledger.stop();
    }
  }

  it('logs a transaction "posted" once (at debug): a replay of its request_id is logged as a replay', async () => {
    expect(await loggedAbout('debug')).toEqual({
      succeeded: ['transaction posted', 'transaction replayed'],
      refused: ['transaction failed', 'transaction replayed'],
    });
  });

  it('logs failed transactions and replays at info, not each success', async () => {
    expect(await loggedAbout('info')).toEqual({
      succeeded: ['transaction replayed'],
      refused: ['transaction failed', 'transaction replayed'],
    });
  });
});
