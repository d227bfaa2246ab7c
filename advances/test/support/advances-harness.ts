import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { AdvancesServiceClient, type Advance } from '@alfabet/proto/advances/v1';
import { createLogger, type Logger } from '@alfabet/service-kit/logger';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../../test-support/temporal-dev-server.js';
import { temporal } from '@temporalio/proto';
import { ADVANCE_ACCOUNT_ID, ADVANCE_STATUS } from '../../src/workflows/search-attributes.js';
import { startTestLedger, type TestLedger } from '../../../accounts-manager/test/support/ledger-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../../test-support/test-databases.js';
import { startAdvancesApi, type AdvancesApi } from '../../src/api-app.js';
import { loadAdvancesConfig, type AdvancesConfig } from '../../src/config.js';
import { startAdvancesWorker, type AdvancesWorker, type WorkerOverrides } from '../../src/worker-app.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';

/** The SDK's own logs at WARN and above only (once per process: the Runtime is global). */
export function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by an earlier test file in this jest worker.
  }
}

/** The Temporal time-skipping test server the toolchain installed (scripts/toolchain.sh). */
export function timeSkippingServerPath(): string {
  const path = process.env.TEMPORAL_TEST_SERVER;
  if (!path)
    throw new Error('TEMPORAL_TEST_SERVER is not set: run the tests with `npm test` (it installs the test server)');
  return path;
}

export async function startTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
  });
  await registerSearchAttributes(env);
  return env;
}

/** The search attributes the workflows set, registered like `npm start` and compose do. */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: {
      [ADVANCE_ACCOUNT_ID.name]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      [ADVANCE_STATUS.name]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    },
  });
}

/** The Temporal server a stack runs on: the time-skipping test server, or a real dev server. */
export interface TestTemporal {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
  /** Only with the time-skipping server. */
  timeSkipping: TestWorkflowEnvironment | null;
  /** The Web UI, only with the dev server. */
  uiUrl: string | null;
  /** The dev server itself (fault-injection tests restart or freeze it); null with the time-skipping server. */
  devServer: DevServer | null;
  stop(): Promise<void>;
}

async function startTestTemporal(kind: 'time-skipping' | 'dev-server'): Promise<TestTemporal> {
  if (kind === 'time-skipping') {
    const env = await startTimeSkippingEnvironment();
    return {
      address: env.address,
      client: env.client,
      nativeConnection: env.nativeConnection,
      timeSkipping: env,
      uiUrl: null,
      devServer: null,
      stop: () => env.teardown(),
    };
  }
  const server = await startDevServer();
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  return {
    address: server.address,
    client: new Client({ connection, namespace: server.namespace }),
    nativeConnection,
    timeSkipping: null,
    uiUrl: server.uiUrl,
    devServer: server,
    async stop() {
      await nativeConnection.close();
      await connection.close();
      await server.stop();
    },
  };
}

export interface AdvancesStack {
  ledger: TestLedger;
  temporal: TestTemporal;
  config: AdvancesConfig;
  api: AdvancesApi;
  worker: AdvancesWorker | null;
  client: AdvancesServiceClient;
  log: Logger;
  stop(): Promise<void>;
}

/**
 * Everything an advance needs, for real: accounts-manager on PostgreSQL, the
 * Temporal time-skipping server, the advances worker and API on a test
 * database. `env` sets advances configuration (e.g. ADVANCE_MAX_OPEN_PER_ACCOUNT).
 */
export interface StackOptions {
  /** Advances configuration (e.g. ADVANCE_MAX_OPEN_PER_ACCOUNT). */
  env?: Record<string, string>;
  /** accounts-manager configuration (e.g. a database of the test's own). */
  ledgerEnv?: Record<string, string>;
  database?: string;
  worker?: WorkerOverrides;
  /** No in-process worker: the test runs its own (e.g. a child process it kills). */
  noWorker?: boolean;
  /** Where the advances processes log (tests that read the log lines pass their own). */
  log?: Logger;
  /** Default: the time-skipping test server (weeks pass in milliseconds). */
  temporal?: 'time-skipping' | 'dev-server';
}

export async function startAdvancesStack(options: StackOptions = {}): Promise<AdvancesStack> {
  quietTemporalRuntime();
  // Whatever started is stopped again if a later step fails, so a broken setup cannot hang jest.
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    const ledger = await startTestLedger(options.ledgerEnv);
    started.push(() => ledger.stop());
    const temporal = await startTestTemporal(options.temporal ?? 'time-skipping');
    started.push(() => temporal.stop());
    const config = loadAdvancesConfig({
      ADVANCES_GRPC_ADDR: '127.0.0.1:0',
      ADVANCES_METRICS_ADDR: 'off',
      ADVANCES_WORKER_METRICS_ADDR: 'off',
      ADVANCES_DATABASE_URL: testDatabaseUrl(options.database ?? TEST_DATABASES.advances),
      ACCOUNTS_GRPC_ADDR: ledger.address,
      LEDGER_CALL_TIMEOUT: '5s',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      SHUTDOWN_GRACE: '2s',
      // The time-skipping server has no Schedules; the reconciliation tests run the workflow directly.
      RECONCILIATION_INTERVAL: 'off',
      ...options.env,
    });
    const log = options.log ?? createLogger(config.logLevel, 'advances-test');
    const worker = options.noWorker
      ? null
      : await startAdvancesWorker(config, log, { connection: temporal.nativeConnection, ...options.worker });
    if (worker) started.push(() => worker.stop());
    const api = await startAdvancesApi(config, log, { temporal: temporal.client });
    started.push(() => api.stop());
    const client = new AdvancesServiceClient(`127.0.0.1:${api.grpc.port}`, credentials.createInsecure());
    started.push(async () => client.close());
    return { ledger, temporal, config, api, worker, client, log, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Calls a unary method of the advances client and resolves with its response. */
export function callAdvances<Res>(
  client: AdvancesServiceClient,
  method: 'requestAdvance' | 'getAdvance' | 'listAdvances',
  request: object,
): Promise<Res> {
  const fn = (client[method] as unknown as (...args: unknown[]) => unknown).bind(client) as (
    request: object,
    callback: (error: ServiceError | null, response: Res) => void,
  ) => unknown;
  return new Promise((resolve, reject) =>
    fn(request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

export function advancesApi(client: AdvancesServiceClient) {
  return {
    requestAdvance: (request: { accountId: string; amount: bigint; requestId?: string }) =>
      callAdvances<{ advance: Advance }>(client, 'requestAdvance', { requestId: '', ...request }).then(
        (r) => r.advance,
      ),
    getAdvance: (advanceId: string) =>
      callAdvances<{ advance: Advance }>(client, 'getAdvance', { advanceId }).then((r) => r.advance),
    listAdvances: (request: { accountId?: string; status?: number; pageSize?: number; pageToken?: string }) =>
      callAdvances<{ advances: Advance[]; nextPageToken: string }>(client, 'listAdvances', {
        accountId: '',
        status: 0,
        pageSize: 0,
        pageToken: '',
        ...request,
      }),
  };
}

/** Polls `probe` until it returns a value (not undefined) or the real-time budget runs out. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The built advances worker as a real process on `stack`'s databases, ledger
 * and Temporal (no reconciliation Schedule, no /metrics unless asked): a
 * process a test can SIGKILL.
 */
export function spawnWorkerProcess(stack: AdvancesStack, temporalMetricsAddress = 'off'): ChildProcess {
  return spawn(process.execPath, [fileURLToPath(new URL('../../dist/src/main-worker.js', import.meta.url))], {
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'warn',
      TEMPORAL_ADDRESS: stack.temporal.address,
      ADVANCES_DATABASE_URL: stack.config.databaseUrl,
      ACCOUNTS_GRPC_ADDR: stack.config.accountsAddress,
      LEDGER_CALL_TIMEOUT: `${stack.config.ledgerCallTimeoutMs}ms`,
      RECONCILIATION_INTERVAL: 'off',
      ADVANCES_WORKER_METRICS_ADDR: 'off',
      ADVANCES_TEMPORAL_METRICS_ADDR: temporalMetricsAddress,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
