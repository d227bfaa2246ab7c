import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceClient, Direction, type Account, type Transaction } from '@alfabet/proto/accounts/v1';
import { AdvanceStatus, AdvancesServiceClient, PaymentStatus, type Advance } from '@alfabet/proto/advances/v1';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { verifyLedger } from '../accounts-manager/src/db/ledger-verify.sql.js';
import { disbursementRequestId, paymentRequestId } from '../advances/src/ledger/request-ids.js';
import {
  alive,
  cleanUpStack,
  descendants,
  portFree,
  startStack,
  waitForOutput,
  type Stack,
} from '../test-support/npm-start.js';
import { dropTestDatabase, testDatabaseUrl } from '../test-support/test-databases.js';

/**
 * `npm start` heals (issue 14). The real orchestrator runs on free ports while
 * clients move money through the generated client and an advance is repaid 2 s
 * a payment; each process of the stack — the advances worker, accounts-manager,
 * the advances API, the Temporal dev server — is SIGKILLed in turn. Each time
 * the stack must say so and start it again, and the calls must resume (the
 * clients retry with the same request_ids, as careful clients do). Afterwards
 * nothing is lost or doubled: every acknowledged transfer is in the ledger
 * exactly once, nothing is there that no client heard of, the advance is REPAID
 * with each payment taken once, and ledger:verify holds. Ctrl-C then stops it
 * all. A second test crash-loops the worker: the stack gives up, stops
 * everything in order and exits 1, saying why.
 */
const suffix = process.env.ALFABET_TEST_DB_SUFFIX ?? '';
const DATABASES = {
  accounts: `alfabet_accounts_heal_test${suffix}`,
  advances: `alfabet_advances_heal_test${suffix}`,
};
const STACK_UP_TIMEOUT_MS = 150_000;
/** A killed process is started again and healthy within this (restart delay 0.5 s + its start on a busy machine). */
const BACK_UP_WITHIN_MS = 60_000;
/** …and calls through it succeed again within this after it is up. */
const RESUMED_WITHIN_MS = 30_000;
const CALL_DEADLINE_MS = 3_000;
const RETRYABLE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]);
const TRANSFER_CLIENTS = 4;
/** Each client's pause between transfers: load enough to be cut off by every kill, not a benchmark. */
const TRANSFER_PAUSE_MS = 20;
const ACCOUNTS = 6;
const FUNDING = 1_000_000n;
const INSTALLMENTS = 30;
const ADVANCE_AMOUNT = 3_000n;
/** Each process of the stack (its name in the stack's log) and how to find it among the stack's children. */
const PROCESSES = [
  { name: 'worker', command: 'advances/dist/src/main-worker.js' },
  { name: 'temporal', command: 'server start-dev' },
  { name: 'accounts', command: 'accounts-manager/dist/src/main.js' },
  { name: 'advances', command: 'advances/dist/src/main-api.js' },
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FAST_RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 };

/** One unary call of a generated client, with a deadline. */
function unary<Res>(client: Client, method: string, request: object): Promise<Res> {
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client);
  return new Promise((resolve, reject) =>
    fn(request, { deadline: Date.now() + CALL_DEADLINE_MS }, (error: ServiceError | null, response: Res) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** Sends until answered, as a careful client does: a retry is the same request (same request_id). */
async function untilAnswered<T>(send: () => Promise<T>, retried: Map<string, number>): Promise<T> {
  const giveUpAt = Date.now() + BACK_UP_WITHIN_MS + RESUMED_WITHIN_MS;
  for (;;) {
    try {
      return await send();
    } catch (error) {
      const code = (error as ServiceError).code;
      if (!RETRYABLE.has(code) || Date.now() > giveUpAt) throw error;
      retried.set(status[code]!, (retried.get(status[code]!) ?? 0) + 1);
      await sleep(100 + Math.random() * 100);
    }
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  await dropTestDatabase(DATABASES.accounts);
  await dropTestDatabase(DATABASES.advances);
});

/** Money moving among funded accounts, every transfer retried until answered; what was acknowledged, and when. */
function transferLoad(ledger: AccountsServiceClient, accounts: string[], retried: Map<string, number>) {
  const acknowledged = new Map<string, string>(); // request_id → transaction_id
  const acknowledgedAtMs: number[] = [];
  const answeredDifferently: string[] = [];
  let running = true;
  const pick = () => accounts[Math.floor(Math.random() * accounts.length)]!;
  const clients = Array.from({ length: TRANSFER_CLIENTS }, async () => {
    while (running) {
      const src = pick();
      let dst = pick();
      while (dst === src) dst = pick();
      const request = {
        requestId: randomUUID(),
        srcAccountId: src,
        dstAccountId: dst,
        amount: BigInt(1 + Math.floor(Math.random() * 50)),
        direction: Direction.DIRECTION_DEBIT,
      };
      // Now and then sent twice, as by a client that lost the first reply: the same answer both times.
      for (let send = 0; send < (Math.random() < 0.1 ? 2 : 1); send++) {
        const { transaction } = await untilAnswered(
          () => unary<{ transaction: Transaction }>(ledger, 'transfer', request),
          retried,
        );
        const earlier = acknowledged.get(request.requestId);
        if (earlier !== undefined && earlier !== transaction.transactionId) answeredDifferently.push(request.requestId);
        acknowledged.set(request.requestId, transaction.transactionId);
        acknowledgedAtMs.push(Date.now());
      }
      await sleep(TRANSFER_PAUSE_MS);
    }
  });
  return {
    acknowledged,
    answeredDifferently,
    acknowledgedSince: (ms: number) => acknowledgedAtMs.filter((at) => at > ms).length,
    stop: async () => {
      running = false;
      await Promise.all(clients);
    },
  };
}

/** Reads the advance through the advances API every 200 ms, retrying; the latest answer and when reads succeeded. */
function advanceWatch(api: AdvancesServiceClient, advanceId: string, retried: Map<string, number>) {
  let latest: Advance | null = null;
  const readAtMs: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      ({ advance: latest } = await untilAnswered(
        () => unary<{ advance: Advance }>(api, 'getAdvance', { advanceId }),
        retried,
      ));
      readAtMs.push(Date.now());
      await sleep(200);
    }
  })();
  const paid = () => latest?.payments.filter((p) => p.status === PaymentStatus.PAYMENT_STATUS_PAID).length ?? 0;
  return {
    latest: () => latest!,
    paid,
    readsSince: (ms: number) => readAtMs.filter((at) => at > ms).length,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** How many times the stack has said it restarts `name` (the highest restart number it printed for it). */
function restartsSoFar(stack: Stack, name: string): number {
  const numbers = [...stack.output().matchAll(new RegExp(`${name} [^\\n]*; restart (\\d+) in `, 'g'))].map((m) =>
    Number(m[1]),
  );
  return Math.max(0, ...numbers);
}

/** SIGKILLs one process of the stack; resolves once the stack has said it restarted it and it is up again. */
async function killAndWaitForRestart(stack: Stack, name: string, command: string): Promise<number> {
  const victim = descendants(stack.child.pid!).find((p) => p.args.includes(command));
  if (!victim) throw new Error(`no ${name} process (${command}) under the stack:\n${stack.output()}`);
  // Its restart number counts on from any restart the stack already made of it (e.g. a port another test
  // took between being chosen and bound); the first restart waits 0.5 s, later ones back off.
  const restart = restartsSoFar(stack, name) + 1;
  process.kill(victim.pid, 'SIGKILL');
  const noticed = `${name} killed by SIGKILL; restart ${restart} in `;
  await waitForOutput(stack, restart === 1 ? `${noticed}0.5 s` : noticed, 10_000);
  await waitForOutput(stack, `${name} is up again (restart ${restart})`, BACK_UP_WITHIN_MS);
  const replacement = descendants(stack.child.pid!).find((p) => p.args.includes(command));
  expect({ name, replaced: replacement !== undefined && replacement.pid !== victim.pid }).toEqual({
    name,
    replaced: true,
  });
  return Date.now();
}

test('SIGKILL each process of npm start under load: each is restarted, calls resume, nothing is lost', async () => {
  const stack = await startStack(DATABASES, {
    ADVANCE_PAYMENT_INTERVAL: '2s',
    ADVANCE_INSTALLMENTS: String(INSTALLMENTS),
    RECONCILIATION_INTERVAL: 'off',
    LEDGER_CALL_TIMEOUT: '3s',
    // Quiet services (no line per transfer), which also makes the stack take the worker as up without its
    // info line 'worker running' (test/stack-demo.test.ts starts one that prints it).
    LOG_LEVEL: 'warn',
  });
  const ledger = new AccountsServiceClient(stack.env.ACCOUNTS_GRPC_ADDR!, credentials.createInsecure(), FAST_RECONNECT);
  const api = new AdvancesServiceClient(stack.env.ADVANCES_GRPC_ADDR!, credentials.createInsecure(), FAST_RECONNECT);
  const retried = new Map<string, number>();
  const loops: { stop: () => Promise<void> }[] = [];
  try {
    await waitForOutput(stack, 'the stack is up', STACK_UP_TIMEOUT_MS);
    const fundings: string[] = [];
    const openFunded = async (name: string, funding: bigint) => {
      const { account } = await unary<{ account: Account }>(ledger, 'createAccount', {
        requestId: randomUUID(),
        displayName: name,
      });
      if (funding > 0n) {
        const requestId = randomUUID();
        fundings.push(requestId);
        await unary(ledger, 'bankTransaction', {
          requestId,
          dstAccountId: account.accountId,
          amount: funding,
          direction: Direction.DIRECTION_CREDIT,
          description: 'heal test funding',
        });
      }
      return account.accountId;
    };
    const accounts: string[] = [];
    for (let i = 0; i < ACCOUNTS; i++) accounts.push(await openFunded(`heal ${i}`, FUNDING));
    const borrower = await openFunded('heal borrower', 0n);

    const load = transferLoad(ledger, accounts, retried);
    loops.push(load);
    const advanceRequest = { requestId: randomUUID(), accountId: borrower, amount: ADVANCE_AMOUNT };
    const { advance } = await untilAnswered(
      () => unary<{ advance: Advance }>(api, 'requestAdvance', advanceRequest),
      retried,
    );
    const watch = advanceWatch(api, advance.advanceId, retried);
    loops.push(watch);
    await until(() => watch.paid() >= 1, 'the first payment', 60_000);

    const killed: string[] = [];
    for (const { name, command } of PROCESSES) {
      const paidAtKill = watch.paid();
      // Each kill lands while the advance is still being repaid, so its payments cross every outage.
      expect({ name, repaidBeforeTheKill: watch.latest().status === AdvanceStatus.ADVANCE_STATUS_REPAID }).toEqual({
        name,
        repaidBeforeTheKill: false,
      });
      const upAgainAtMs = await killAndWaitForRestart(stack, name, command);
      await until(
        () => load.acknowledgedSince(upAgainAtMs) >= 20,
        `transfers after ${name} restarted`,
        RESUMED_WITHIN_MS,
      );
      await until(() => watch.readsSince(upAgainAtMs) >= 3, `advance reads after ${name} restarted`, RESUMED_WITHIN_MS);
      await until(
        () => watch.paid() > paidAtKill || watch.latest().status === AdvanceStatus.ADVANCE_STATUS_REPAID,
        `a payment after ${name} restarted`,
        RESUMED_WITHIN_MS,
      );
      killed.push(name);
    }
    expect(killed).toEqual(PROCESSES.map((p) => p.name));
    await load.stop();

    await until(
      () => watch.latest().status === AdvanceStatus.ADVANCE_STATUS_REPAID,
      'the advance to be repaid',
      INSTALLMENTS * 2_000 + 60_000,
    );
    await watch.stop();
    // The kills really cut calls off, and the clients got through by retrying.
    expect(retried.get('UNAVAILABLE') ?? 0).toBeGreaterThan(0);
    expect(load.answeredDifferently).toEqual([]);

    await expectNothingLost({
      transfers: load.acknowledged,
      fundings,
      advance: watch.latest(),
      borrower,
    });
    await expectCtrlCStopsAll(stack);
  } finally {
    ledger.close(); // (calls still retrying after a failure end on the closed channels)
    api.close();
    await Promise.all(loops.map((loop) => loop.stop().catch(() => undefined)));
    cleanUpStack(stack);
  }
}, 600_000);

/** The ledger after the storm: what was acknowledged is there once, nothing else is, the advance was paid once. */
async function expectNothingLost(facts: {
  transfers: Map<string, string>;
  fundings: string[];
  advance: Advance;
  borrower: string;
}): Promise<void> {
  const { transfers, fundings, advance, borrower } = facts;
  const db = new pg.Pool({ connectionString: testDatabaseUrl(DATABASES.accounts), max: 2 });
  try {
    const stored = await db.query<{ request_id: string; transaction_id: string }>(
      'SELECT request_id, transaction_id FROM transactions WHERE request_id = ANY($1::uuid[])',
      [[...transfers.keys()]],
    );
    expect(stored.rows).toHaveLength(transfers.size);
    for (const row of stored.rows) expect(row.transaction_id).toBe(transfers.get(row.request_id));
    const duplicates = await db.query(
      'SELECT request_id FROM transactions WHERE request_id IS NOT NULL GROUP BY request_id HAVING count(*) > 1',
    );
    expect(duplicates.rows).toEqual([]);

    expect(advance).toMatchObject({ status: AdvanceStatus.ADVANCE_STATUS_REPAID, outstandingAmount: 0n });
    expect(advance.paidAmount).toBe(ADVANCE_AMOUNT);
    const payments = advance.payments;
    expect(payments.every((p) => p.status === PaymentStatus.PAYMENT_STATUS_PAID)).toBe(true);
    const legs = await db.query<{ request_id: string; transaction_id: string; direction: string; amount: string }>(
      `SELECT request_id, transaction_id, direction, amount::text FROM transactions
       WHERE kind = 'bank' AND dst_account_id = $1 AND status = 'success'`,
      [borrower],
    );
    const expectedLegs = [
      {
        request_id: disbursementRequestId(advance.advanceId),
        transaction_id: advance.disbursementTransactionId,
        direction: 'credit',
        amount: String(ADVANCE_AMOUNT),
      },
      ...payments.map((p) => ({
        request_id: paymentRequestId(advance.advanceId, p.number),
        transaction_id: p.transactionId,
        direction: 'debit',
        amount: String(p.amount),
      })),
    ];
    const byRequest = (a: { request_id: string }, b: { request_id: string }) =>
      a.request_id.localeCompare(b.request_id);
    expect([...legs.rows].sort(byRequest)).toEqual(expectedLegs.sort(byRequest));

    // Nothing stored that no client heard of: the fundings, the acknowledged transfers and the advance's legs.
    const total = await db.query<{ n: string }>('SELECT count(*) AS n FROM transactions');
    expect(Number(total.rows[0]!.n)).toBe(fundings.length + transfers.size + expectedLegs.length);
    expect(await verifyLedger(db)).toMatchObject({ ok: true, balanceSumMinor: 0n });
  } finally {
    await db.end();
  }
}

async function expectCtrlCStopsAll(stack: Stack): Promise<void> {
  stack.child.kill('SIGINT');
  expect(await stack.exited).toBe(0);
  expect(stack.output()).toMatch(/worker stopped[\s\S]*advances stopped[\s\S]*accounts stopped[\s\S]*temporal stopped/);
  await sleep(500);
  // Every process the stack ever ran, the killed ones' replacements included.
  expect(stack.processesSeen().length).toBeGreaterThanOrEqual(PROCESSES.length * 2);
  expect(stack.processesSeen().filter(alive)).toEqual([]);
  for (const port of stack.ports) expect(await portFree(port)).toBe(true);
}

test('a process that crashes every time it starts: the stack gives up, stops all in order, exits 1 and says why', async () => {
  // A setting the advances API refuses (exit 2) at every start; accounts-manager does not read it.
  const stack = await startStack(DATABASES, { ADVANCE_MIN_AMOUNT: '5000', ADVANCE_MAX_AMOUNT: '100' });
  try {
    const code = await Promise.race([stack.exited, sleep(STACK_UP_TIMEOUT_MS).then(() => 'still running')]);
    const output = stack.output();
    expect({ code, output }).toEqual({ code: 1, output: expect.any(String) });
    expect(output).toContain('ADVANCE_MIN_AMOUNT must not exceed ADVANCE_MAX_AMOUNT');
    const delays = ['0.5', '1', '2', '4'];
    for (const [index, delay] of delays.entries())
      expect(output).toContain(`advances exited with code 2; restart ${index + 1} in ${delay} s`);
    expect(output).toContain('advances exited with code 2: 5 crashes within 60 s, giving up');
    expect(output).not.toContain('restart 5');
    expect(output).not.toContain('the stack is up');
    expect(output.slice(output.indexOf('giving up'))).toMatch(
      /stopping[\s\S]*advances stopped[\s\S]*accounts stopped[\s\S]*temporal stopped/,
    );
    await sleep(500);
    expect(stack.processesSeen().length).toBeGreaterThanOrEqual(3);
    expect(stack.processesSeen().filter(alive)).toEqual([]);
    for (const port of stack.ports) expect(await portFree(port)).toBe(true);
  } finally {
    cleanUpStack(stack);
  }
}, 300_000);
