import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { Direction } from '@alfabet/proto/accounts/v1';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { grpcurl } from '../../test-support/grpcurl.js';
import { freePort } from '../../test-support/temporal-dev-server.js';
import { createLogger } from '../src/logger.js';
import { TEST_ACCOUNTS_DATABASE_URL, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * Secrets never reach a log line: the report token key, the database
 * password, bearer tokens, and the report tokens themselves — checked on
 * every line the ledger writes at debug level while it starts, serves
 * listings, refuses callers and stops.
 */
const SECRET = 'report-key-that-must-stay-secret-42';
const PASSWORD = 'db-password-that-must-stay-secret';
const OPS_TOKEN = 'ops-bearer-token-that-must-stay-secret';
let ledger: TestLedger;
let logged = '';
let stopped = false;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  ledger = await startTestLedger(
    {
      LOG_LEVEL: 'debug',
      REPORT_TOKEN_SECRET: SECRET,
      ACCOUNTS_DATABASE_URL: TEST_ACCOUNTS_DATABASE_URL.replace('postgres@', `postgres:${PASSWORD}@`), // trust auth ignores it
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `ops:${OPS_TOKEN}`,
    },
    createLogger('debug', sink),
  );
});
afterAll(async () => {
  if (!stopped) await ledger?.stop();
});

const withToken = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

it('logs neither the token key, the database password, bearer tokens nor report tokens', async () => {
  const call = (method: 'createAccount' | 'bankTransaction', request: object, token: string) =>
    new Promise<unknown>((resolve) =>
      (
        ledger.client[method] as unknown as (
          r: object,
          m: Metadata,
          cb: (e: ServiceError | null, r: unknown) => void,
        ) => void
      ).call(ledger.client, request, withToken(token), (error, response) => resolve(error ?? response)),
    );
  const { account } = (await call('createAccount', { requestId: '', displayName: 'logged' }, OPS_TOKEN)) as {
    account: { accountId: string };
  };
  await call(
    'bankTransaction',
    {
      requestId: randomUUID(),
      dstAccountId: account.accountId,
      amount: 5n,
      direction: Direction.DIRECTION_CREDIT,
      description: '',
    },
    OPS_TOKEN,
  );
  await call(
    'bankTransaction',
    {
      requestId: randomUUID(),
      dstAccountId: account.accountId,
      amount: 5n,
      direction: Direction.DIRECTION_CREDIT,
      description: '',
    },
    'a-wrong-token-0123456789',
  );

  // Listings with tokens: a real one, then a tampered one.
  const pages = await new Promise<Array<{ snapshotToken: string; nextPageToken: string }>>((resolve) => {
    const got: Array<{ snapshotToken: string; nextPageToken: string }> = [];
    const stream = ledger.client.listTransactions(
      {
        pageSize: 1,
        accountId: account.accountId,
        startTime: undefined,
        endTime: undefined,
        pageToken: '',
        snapshotToken: '',
        page: 0,
      },
      withToken(OPS_TOKEN),
    );
    stream.on('data', (page) => got.push(page));
    stream.on('error', () => resolve(got));
    stream.on('end', () => resolve(got));
  });
  expect(pages.length).toBeGreaterThan(0);
  const refused = await new Promise<ServiceError>((resolve) =>
    ledger.client
      .listTransactions(
        {
          pageSize: 0,
          accountId: '',
          startTime: undefined,
          endTime: undefined,
          pageToken: '',
          page: 0,
          snapshotToken: `${pages[0]!.snapshotToken}x`,
        },
        withToken(OPS_TOKEN),
      )
      .on('data', () => undefined)
      .on('error', resolve),
  );
  expect(refused.details).toMatch(/^snapshot_token: /);
  await ledger.stop();
  stopped = true;

  expect(logged.length).toBeGreaterThan(0);
  for (const secret of [
    SECRET,
    PASSWORD,
    OPS_TOKEN,
    'a-wrong-token-0123456789',
    pages[0]!.snapshotToken,
    ...pages.map((p) => p.nextPageToken).filter(Boolean),
  ]) {
    expect({ secret, found: logged.includes(secret) }).toEqual({ secret, found: false });
  }
});

it("keeps a bearer token grpc-js cannot accept out of the process's stdout and stderr (grpc-js logs through ours)", async () => {
  // grpc-js refuses a header value with a tab and says so in a line of its own, quoting the value.
  const TAB_TOKEN = 'tab-token-that-must-stay-secret-0123456789';
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/src/main.js', import.meta.url))], {
    env: {
      ...process.env,
      ACCOUNTS_GRPC_ADDR: address,
      ACCOUNTS_METRICS_ADDR: 'off',
      ACCOUNTS_DATABASE_URL: TEST_ACCOUNTS_DATABASE_URL,
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `ops:${OPS_TOKEN}`,
      LOG_LEVEL: 'debug',
      SHUTDOWN_GRACE: '2s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 30_000;
    while (!output.includes('accounts-manager listening')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the ledger did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const answer = await grpcurl([
      '-plaintext',
      '-H', // on the reflection stream and on the call
      `authorization: Bearer\t${TAB_TOKEN}`,
      '-d',
      JSON.stringify({ account_id: randomUUID() }),
      address,
      'alfabet.accounts.v1.AccountsService/GetAccount',
    ]);
    expect(answer.stderr).toMatch(/Code: Unauthenticated/); // the header was dropped: no identity
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  for (const secret of [TAB_TOKEN, TAB_TOKEN.slice(0, 16), OPS_TOKEN])
    expect({ secret, found: output.includes(secret) }).toEqual({ secret, found: false });
  // grpc-js's line is there, through our logger, redacted.
  expect(output).toMatch(/"source":"grpc-js".*Failed to add metadata entry authorization \[REDACTED\]/);
});
