import { credentials, InterceptingCall, status, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AdvanceStatus, AdvancesServiceClient, type Advance } from '@alfabet/proto/advances/v1';
import { ledgerApi, TEST_ACCOUNTS_DATABASE_URL } from '../../accounts-manager/test/support/ledger-harness.js';
import { healthCheck } from '../../accounts-manager/test/support/ops-clients.js';
import { startTcpProxy, type TcpProxy } from '../../test-support/tcp-proxy.js';
import { freePort, type DevServer } from '../../test-support/temporal-dev-server.js';
import { dropTestDatabase, TEST_DATABASES } from '../../test-support/test-databases.js';
import { startAdvancesApi, type AdvancesApi } from '../src/api-app.js';
import { disbursementRequestId } from '../src/ledger/request-ids.js';
import { advancesApi, eventually, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { bankLegsOf, ledgerPool } from './support/ledger-facts.js';

/**
 * RequestAdvance converges (DESIGN §3): whatever fails between the API, its
 * database and Temporal, a retry with the same request_id ends on exactly one
 * advance, one workflow `advance-<advance_id>` and one disbursement. One test
 * per failure point, on a real Temporal dev server; the API reaches Temporal
 * through a TCP proxy (test-support/tcp-proxy.ts) where a test needs to hold,
 * lose or reset what goes over the wire. Each ends on `expectConverged`.
 */
const DATABASE = `${TEST_DATABASES.advances}_converge`;
const AMOUNT = 1_200n;
const WAIT_MS = 60_000;
/** A safety net only: every test decides itself when a start fails (it resets the connection or stops Temporal). */
const START_TRY_TIMEOUT_MS = 30_000;
const mainApi = fileURLToPath(new URL('../dist/src/main-api.js', import.meta.url));

let stack: AdvancesStack;
let devServer: DevServer;
const ledgerDb = ledgerPool();

beforeAll(async () => {
  await dropTestDatabase(DATABASE);
  // Payments a week apart (the default): a converged advance stays ACTIVE, its balance the one credit.
  stack = await startAdvancesStack({ temporal: 'dev-server', database: DATABASE });
  devServer = stack.temporal.devServer!;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await ledgerDb.end();
});

interface Request {
  requestId: string;
  accountId: string;
  amount: bigint;
}

async function newRequest(borrower: string): Promise<Request> {
  const accountId = await ledgerApi(stack.ledger.client).fundedAccount(0n, borrower);
  return { requestId: randomUUID(), accountId, amount: AMOUNT };
}

/** The advance recorded for a request_id, straight from the advances database. */
async function rowOf(requestId: string): Promise<{ advance_id: string; status: string } | undefined> {
  const result = await stack.api.pool.query<{ advance_id: string; status: string }>(
    'SELECT advance_id, status FROM advances WHERE request_id = $1',
    [requestId],
  );
  return result.rows[0];
}

/** The call's error; a success fails the test. */
async function failure(call: Promise<unknown>): Promise<ServiceError> {
  return call.then(
    (answer) => {
      throw new Error(`expected the call to fail, it answered ${String((answer as Advance)?.advanceId)}`);
    },
    (error: ServiceError) => error,
  );
}

/** What a caller does: sends the same request (same request_id) again until it gets an answer other than UNAVAILABLE. */
async function retryUntilAnswered(client: AdvancesServiceClient, request: Request): Promise<Advance> {
  return eventually(
    () =>
      advancesApi(client)
        .requestAdvance(request)
        .catch((error: ServiceError) => {
          if (error.code === status.UNAVAILABLE) return undefined;
          throw error;
        }),
    `an answer to request ${request.requestId}`,
    WAIT_MS,
  );
}

const workflowOf = (advanceId: string) => stack.temporal.client.workflow.getHandle(`advance-${advanceId}`);

async function expectNoWorkflow(advanceId: string): Promise<void> {
  await expect(workflowOf(advanceId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

async function untilWorkflowExists(advanceId: string): Promise<void> {
  await eventually(
    () =>
      workflowOf(advanceId)
        .describe()
        .then(
          () => true,
          () => undefined,
        ),
    `workflow advance-${advanceId}`,
    WAIT_MS,
  );
}

/**
 * Where every failure must end: one advance for the request_id (and the only
 * one of its account), ACTIVE; one workflow execution for the account in
 * Temporal, `advance-<advance_id>`; one disbursement credit in the ledger,
 * with the advance's own request id, and nothing else on the account.
 */
async function expectConverged(request: Request, advanceId: string): Promise<void> {
  const api = advancesApi(stack.client);
  const advance = await eventually(
    async () => {
      const current = await api.getAdvance(advanceId);
      return current.status === AdvanceStatus.ADVANCE_STATUS_ACTIVE ? current : undefined;
    },
    `advance ${advanceId} ACTIVE`,
    WAIT_MS,
  );
  expect(advance.disbursementTransactionId).not.toBe('');

  const rows = await stack.api.pool.query<{ advance_id: string; request_id: string }>(
    'SELECT advance_id, request_id FROM advances WHERE account_id = $1 OR request_id = $2',
    [request.accountId, request.requestId],
  );
  expect(rows.rows).toEqual([{ advance_id: advanceId, request_id: request.requestId }]);

  const executions = await eventually(
    async () => {
      const found: string[] = [];
      for await (const execution of stack.temporal.client.workflow.list({
        query: `AdvanceAccountId = '${request.accountId}'`,
      })) {
        found.push(`${execution.workflowId} ${execution.status.name}`);
      }
      return found.length > 0 ? found : undefined;
    },
    'the workflow in Temporal visibility',
    WAIT_MS,
  );
  expect(executions).toEqual([`advance-${advanceId} RUNNING`]);

  const legs = await bankLegsOf(ledgerDb, request.accountId);
  expect(legs.credits).toEqual([
    { amount: request.amount, requestId: disbursementRequestId(advanceId), status: 'success' },
  ]);
  expect(legs.debits).toEqual([]);
  expect(legs.balance).toBe(request.amount);
}

/** Gives every call (every attempt of the retry interceptor) its own deadline. */
const deadlineOf =
  (ms: number): Interceptor =>
  (options, nextCall) =>
    new InterceptingCall(nextCall({ ...options, deadline: options.deadline ?? Date.now() + ms }));

/** A second advances API in this process, on the same database, whose Temporal client goes through a proxy. */
interface ProxiedApi {
  proxy: TcpProxy;
  api: AdvancesApi;
  client: AdvancesServiceClient;
  stop(): Promise<void>;
}

async function startProxiedApi(): Promise<ProxiedApi> {
  const proxy = await startTcpProxy(devServer.address);
  const connection = await Connection.connect({
    address: proxy.address,
    // The API gives up on a start after three tries (not the default ten, which take half a minute), each
    // bounded so that no call hangs the test; and it reconnects within a second once Temporal is back.
    interceptors: [
      makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3 })),
      deadlineOf(START_TRY_TIMEOUT_MS),
    ],
    channelArgs: { 'grpc.max_reconnect_backoff_ms': 1_000, 'grpc.initial_reconnect_backoff_ms': 200 },
  });
  const api = await startAdvancesApi(stack.config, stack.log, {
    temporal: new Client({ connection, namespace: devServer.namespace }),
  });
  const client = new AdvancesServiceClient(`127.0.0.1:${api.grpc.port}`, credentials.createInsecure());
  return {
    proxy,
    api,
    client,
    async stop() {
      client.close();
      await api.stop();
      await connection.close();
      await proxy.close();
    },
  };
}

/** The built advances API (`advances/dist/src/main-api.js`) as a process of its own, on the stack's database and ledger. */
interface ApiProcess {
  client: AdvancesServiceClient;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function spawnApi(temporalAddress: string): Promise<ApiProcess> {
  const address = `127.0.0.1:${await freePort()}`;
  const child: ChildProcess = spawn(process.execPath, [mainApi], {
    env: {
      PATH: process.env.PATH!,
      LOG_LEVEL: 'error',
      SHUTDOWN_GRACE: '2s',
      ADVANCES_GRPC_ADDR: address,
      ADVANCES_DATABASE_URL: stack.config.databaseUrl,
      ADVANCES_METRICS_ADDR: 'off',
      ADVANCES_WORKER_METRICS_ADDR: 'off',
      ADVANCES_TEMPORAL_METRICS_ADDR: 'off',
      ACCOUNTS_GRPC_ADDR: stack.config.accountsAddress,
      TEMPORAL_ADDRESS: temporalAddress,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const client = new AdvancesServiceClient(address, credentials.createInsecure());
  const end = async (signal: NodeJS.Signals) => {
    if (alive()) child.kill(signal);
    await exited;
    client.close();
  };
  try {
    await eventually(
      async () => {
        if (!alive()) throw new Error(`the advances API exited (${child.exitCode ?? child.signalCode})`);
        return (await healthCheck(address).catch(() => 'DOWN')) === 'SERVING' ? true : undefined;
      },
      'the advances API process serving',
      WAIT_MS,
    );
  } catch (error) {
    await end('SIGKILL');
    throw error;
  }
  return { client, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

test('a. Temporal goes down while the start is in flight: UNAVAILABLE, the advance stays DISBURSING; once Temporal is back the retry converges', async () => {
  const via = await startProxiedApi();
  try {
    const request = await newRequest('borrower: Temporal down');
    via.proxy.setMode('hold');
    const first = failure(advancesApi(via.client).requestAdvance(request));
    const row = await eventually(
      async () => (via.proxy.heldBytes() > 0 ? rowOf(request.requestId) : undefined),
      'the advance recorded and its start held in the proxy',
      WAIT_MS,
    );

    await devServer.restart(async () => {
      // Temporal is gone; the held start dies with the connection.
      via.proxy.discardHeld();
      via.proxy.cut();
      via.proxy.setMode('pass');
      const error = await first;
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toMatch(/retry with the same request_id/);
      expect((await rowOf(request.requestId))?.status).toBe('DISBURSING');
    });
    await expectNoWorkflow(row.advance_id);

    const answer = await retryUntilAnswered(via.client, request);
    expect(answer.advanceId).toBe(row.advance_id);
    await expectConverged(request, row.advance_id);
  } finally {
    await via.stop();
  }
}, 180_000);

/** Holds the borrower's ledger row: the disbursement waits, so the advance stays DISBURSING until `release()`. */
async function holdDisbursement(accountId: string): Promise<{ release(): Promise<void> }> {
  const db = new pg.Client({ connectionString: TEST_ACCOUNTS_DATABASE_URL });
  await db.connect();
  await db.query('BEGIN');
  await db.query('SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE', [accountId]);
  let released: Promise<void> | null = null;
  return { release: () => (released ??= db.query('COMMIT').then(() => db.end())) };
}

test('b. Temporal accepts the start but the reply is lost: UNAVAILABLE, the advance kept, and the retry answers the very advance Temporal runs (it used to lend twice)', async () => {
  const via = await startProxiedApi();
  const request = await newRequest('borrower: lost reply');
  // The workflow cannot disburse until the API has given up: the advance is still DISBURSING when the start "fails".
  const disbursement = await holdDisbursement(request.accountId);
  try {
    via.proxy.setMode('lose-replies');
    const first = failure(advancesApi(via.client).requestAdvance(request));
    const row = await eventually(() => rowOf(request.requestId), 'the advance recorded', WAIT_MS);
    // The start reached Temporal: the workflow exists while the API still waits for the reply…
    await untilWorkflowExists(row.advance_id);
    // …which never comes: the connection drops, and so does every one the API opens to try again.
    via.proxy.setMode('reset');
    via.proxy.cut();
    const error = await first;
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toMatch(/retry with the same request_id/);
    expect((await rowOf(request.requestId))?.status).toBe('DISBURSING'); // the started workflow's record is kept

    await disbursement.release();
    via.proxy.setMode('pass');
    const answer = await retryUntilAnswered(via.client, request);
    expect(answer.advanceId).toBe(row.advance_id);
    await expectConverged(request, row.advance_id);
  } finally {
    await disbursement.release();
    await via.stop();
  }
}, 180_000);

test("c. two calls with one request_id race through two API instances, the first one's Temporal connection reset mid-start: one advance, every answer names it", async () => {
  const via = await startProxiedApi();
  const request = await newRequest('borrower: racing calls');
  // Both calls see the advance DISBURSING, so both go to Temporal (whichever of them records it).
  const disbursement = await holdDisbursement(request.accountId);
  try {
    via.proxy.setMode('reset-next');
    const answers = await Promise.allSettled([
      advancesApi(via.client).requestAdvance(request),
      advancesApi(stack.client).requestAdvance(request),
    ]);
    expect(via.proxy.resets()).toBe(1);
    const named = new Set<string>();
    for (const answer of answers) {
      if (answer.status === 'fulfilled') named.add(answer.value.advanceId);
      else expect((answer.reason as ServiceError).code).toBe(status.UNAVAILABLE); // the loser may be told to retry
    }
    const row = (await rowOf(request.requestId))!;
    expect([...named].every((id) => id === row.advance_id)).toBe(true);

    await disbursement.release();
    const retried = await retryUntilAnswered(via.client, request);
    expect(retried.advanceId).toBe(row.advance_id);
    await expectConverged(request, row.advance_id);
  } finally {
    await disbursement.release();
    await via.stop();
  }
}, 180_000);

test('c. the caller gives up on its call (cancelled mid-start) and retries through another API instance while the first call is still starting: one advance, one workflow', async () => {
  const via = await startProxiedApi();
  try {
    const request = await newRequest('borrower: impatient caller');
    via.proxy.setMode('hold');
    let cancel = () => {};
    const first = failure(
      new Promise((resolve, reject) => {
        const call = via.client.requestAdvance(request, (error, answer) => (error ? reject(error) : resolve(answer)));
        cancel = () => call.cancel();
      }),
    );
    const row = await eventually(
      async () => (via.proxy.heldBytes() > 0 ? rowOf(request.requestId) : undefined),
      'the advance recorded and its start held in the proxy',
      WAIT_MS,
    );
    cancel();
    expect((await first).code).toBe(status.CANCELLED);

    // The retry finds the advance and starts its workflow itself…
    const retried = await advancesApi(stack.client).requestAdvance(request);
    expect(retried.advanceId).toBe(row.advance_id);
    await untilWorkflowExists(row.advance_id);
    // …then the first call's start reaches Temporal: "already started", which the first call counts as started.
    via.proxy.setMode('pass');
    await eventually(
      async () => {
        const created = (await via.api.metrics.advancesRequested.get()).values.find(
          (v) => v.labels.outcome === 'created',
        );
        return created?.value === 1 ? true : undefined;
      },
      'the first call to finish as a success',
      WAIT_MS,
    );
    await expectConverged(request, row.advance_id);
  } finally {
    await via.stop();
  }
}, 180_000);

test('d. the API process SIGKILLed while its start hangs on a frozen (SIGSTOPped) Temporal: a new API converges on the retry, whichever way the frozen start went', async () => {
  const request = await newRequest('borrower: API killed, Temporal frozen');
  let api = await spawnApi(devServer.address);
  try {
    let row: { advance_id: string; status: string };
    devServer.freeze();
    try {
      const first = failure(advancesApi(api.client).requestAdvance(request));
      row = await eventually(() => rowOf(request.requestId), 'the advance recorded, its start hanging', WAIT_MS);
      await api.kill();
      expect((await first).code).toBe(status.UNAVAILABLE);
    } finally {
      devServer.thaw();
    }
    expect(row.status).toBe('DISBURSING');

    api = await spawnApi(devServer.address);
    const answer = await retryUntilAnswered(api.client, request);
    expect(answer.advanceId).toBe(row.advance_id);
    await expectConverged(request, row.advance_id);
  } finally {
    await api.stop();
  }
}, 180_000);

test.each([
  ['reached Temporal (the reply lost with the process)', true],
  ['never reached Temporal', false],
])(
  'd. the API process SIGKILLed between its database write and the start, which %s: a new API converges on the retry',
  async (_, reached) => {
    const request = await newRequest(`borrower: API killed, start ${reached ? 'reached' : 'lost'}`);
    const proxy = await startTcpProxy(devServer.address);
    let api = await spawnApi(proxy.address);
    try {
      proxy.setMode('hold');
      const first = failure(advancesApi(api.client).requestAdvance(request));
      const row = await eventually(
        async () => (proxy.heldBytes() > 0 ? rowOf(request.requestId) : undefined),
        'the advance recorded and its start held in the proxy',
        WAIT_MS,
      );
      if (reached) {
        proxy.setMode('lose-replies');
        await untilWorkflowExists(row.advance_id);
      }
      await api.kill(); // the proxy drops what it still held with the connection
      expect((await first).code).toBe(status.UNAVAILABLE);
      if (!reached) await expectNoWorkflow(row.advance_id);

      proxy.cut();
      proxy.setMode('pass');
      api = await spawnApi(proxy.address);
      const answer = await retryUntilAnswered(api.client, request);
      expect(answer.advanceId).toBe(row.advance_id);
      await expectConverged(request, row.advance_id);
    } finally {
      await api.stop();
      await proxy.close();
    }
  },
  180_000,
);
