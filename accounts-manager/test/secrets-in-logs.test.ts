import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { Direction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
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
