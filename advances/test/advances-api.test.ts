import { randomUUID } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import pg from 'pg';
import { AdvanceStatus } from '@alfabet/proto/advances/v1';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { bankLegsOf, ledgerPool } from './support/ledger-facts.js';
import { advancesApi, callAdvances, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

let stack: AdvancesStack;
const advancesDb = new pg.Pool({ connectionString: testDatabaseUrl(TEST_DATABASES.advances), max: 2 });

beforeAll(async () => {
  stack = await startAdvancesStack({ env: { ADVANCE_MIN_AMOUNT: '100', ADVANCE_MAX_AMOUNT: '1000000' } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await advancesDb.end();
  await ledgerDb.end();
});

const ledgerDb = ledgerPool();
const api = () => advancesApi(stack.client);
/** Advances the API created and started a workflow for, by its own counter. */
const countCreated = async () =>
  (await stack.api.metrics.advancesRequested.get()).values
    .filter((v) => v.labels.outcome === 'created')
    .reduce((sum, v) => sum + v.value, 0);
const borrower = () => ledgerApi(stack.ledger.client).fundedAccount(0n, 'Borrower');

/**
 * What a request left behind for an account: advance rows, and ledger
 * transactions (a started workflow's first act is the credit). The
 * time-skipping server has no visibility store to list workflows by account.
 */
async function footprint(accountId: string) {
  const advances = await advancesDb.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM advances WHERE account_id::text = $1',
    [accountId],
  );
  const ledgerRows = UUID.test(accountId)
    ? (await bankLegsOf(ledgerDb, accountId).catch(() => ({ credits: [], debits: [] }))).credits.length
    : 0;
  return { advances: advances.rows[0]!.n, ledgerCredits: ledgerRows };
}
const UUID = /^[0-9a-f-]{36}$/;

async function expectError(promise: Promise<unknown>, code: status, field: string) {
  const error = await promise.then(
    () => null,
    (e: ServiceError) => e,
  );
  expect(error).not.toBeNull();
  expect({ code: error!.code, fieldNamed: error!.details.includes(field) }).toEqual({ code, fieldNamed: true });
  expect(error!.metadata.get('alfabet-error-field')).toEqual([field]);
}

describe('RequestAdvance refuses bad input: the right code, the field named, nothing stored, no workflow', () => {
  const cases: Array<[string, (accountId: string) => object, status, string]> = [
    ['no account_id', () => ({ amount: 500n }), status.INVALID_ARGUMENT, 'account_id'],
    ['account_id not a UUID', () => ({ accountId: 'acct-1', amount: 500n }), status.INVALID_ARGUMENT, 'account_id'],
    [
      'request_id not a UUID',
      (accountId) => ({ accountId, amount: 500n, requestId: 'again' }),
      status.INVALID_ARGUMENT,
      'request_id',
    ],
    ['zero amount', (accountId) => ({ accountId, amount: 0n }), status.INVALID_ARGUMENT, 'amount'],
    ['negative amount', (accountId) => ({ accountId, amount: -500n }), status.INVALID_ARGUMENT, 'amount'],
    ['int64 minimum', (accountId) => ({ accountId, amount: -(2n ** 63n) }), status.INVALID_ARGUMENT, 'amount'],
    ['below the policy minimum', (accountId) => ({ accountId, amount: 99n }), status.FAILED_PRECONDITION, 'amount'],
    [
      'above the policy maximum',
      (accountId) => ({ accountId, amount: 1_000_001n }),
      status.FAILED_PRECONDITION,
      'amount',
    ],
    ['int64 maximum', (accountId) => ({ accountId, amount: 2n ** 63n - 1n }), status.FAILED_PRECONDITION, 'amount'],
    ['unknown account', () => ({ accountId: randomUUID(), amount: 500n }), status.NOT_FOUND, 'account_id'],
  ];
  test.each(cases)('%s', async (_name, build, code, field) => {
    const accountId = await borrower();
    const request = { requestId: '', accountId: '', amount: 0n, ...build(accountId) };
    const createdBefore = await countCreated();
    await expectError(callAdvances(stack.client, 'requestAdvance', request), code, field);
    expect(await footprint(accountId)).toEqual({ advances: 0, ledgerCredits: 0 });
    expect(await countCreated()).toBe(createdBefore); // no workflow was started
    const requested = (request as { accountId: string }).accountId;
    if (requested && requested !== accountId) expect((await footprint(requested)).advances).toBe(0);
  });
});

test('GetAdvance and ListAdvances refuse bad input with the field named', async () => {
  await expectError(api().getAdvance(''), status.INVALID_ARGUMENT, 'advance_id');
  await expectError(api().getAdvance('not-a-uuid'), status.INVALID_ARGUMENT, 'advance_id');
  await expectError(api().getAdvance(randomUUID()), status.NOT_FOUND, 'advance_id');
  await expectError(api().listAdvances({ accountId: 'x' }), status.INVALID_ARGUMENT, 'account_id');
  await expectError(api().listAdvances({ status: 99 }), status.INVALID_ARGUMENT, 'status');
  await expectError(api().listAdvances({ pageSize: -1 }), status.INVALID_ARGUMENT, 'page_size');
  await expectError(api().listAdvances({ pageSize: 501 }), status.INVALID_ARGUMENT, 'page_size');
  await expectError(api().listAdvances({ pageToken: 'garbage!' }), status.INVALID_ARGUMENT, 'page_token');
  await expectError(
    api().listAdvances({ pageToken: Buffer.from('{"v":1}').toString('base64url') }),
    status.INVALID_ARGUMENT,
    'page_token',
  );
});

test('RequestAdvance is idempotent by request_id: a repeat returns the same advance, other parameters are ALREADY_EXISTS', async () => {
  const accountId = await borrower();
  const requestId = randomUUID();
  const first = await api().requestAdvance({ accountId, amount: 500n, requestId });
  const again = await api().requestAdvance({ accountId, amount: 500n, requestId });
  expect(again.advanceId).toBe(first.advanceId);
  await expectError(api().requestAdvance({ accountId, amount: 501n, requestId }), status.ALREADY_EXISTS, 'request_id');
  expect((await footprint(accountId)).advances).toBe(1);
  await stack.temporal.client.workflow.getHandle(first.workflowId).result();
});

test('eight concurrent calls with one request_id create one advance and one workflow', async () => {
  const accountId = await borrower();
  const requestId = randomUUID();
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => api().requestAdvance({ accountId, amount: 700n, requestId })),
  );
  expect(new Set(answers.map((a) => a.advanceId)).size).toBe(1);
  expect((await footprint(accountId)).advances).toBe(1);
  await stack.temporal.client.workflow.getHandle(answers[0]!.workflowId).result();
});

test('one open advance per account: a second is FAILED_PRECONDITION until the first is repaid', async () => {
  const accountId = await borrower();
  const first = await api().requestAdvance({ accountId, amount: 1_200n });
  await expectError(api().requestAdvance({ accountId, amount: 300n }), status.FAILED_PRECONDITION, 'account_id');
  expect((await footprint(accountId)).advances).toBe(1);
  await stack.temporal.client.workflow.getHandle(first.workflowId).result();
  const second = await api().requestAdvance({ accountId, amount: 300n });
  expect(second.advanceId).not.toBe(first.advanceId);
  await stack.temporal.client.workflow.getHandle(second.workflowId).result();
});

test('ListAdvances pages newest first by account and status, every advance exactly once', async () => {
  const accountIds = await Promise.all([borrower(), borrower()]);
  const made: string[] = [];
  for (const accountId of accountIds) {
    for (let i = 0; i < 3; i++) {
      const advance = await api().requestAdvance({ accountId, amount: 120n + BigInt(i) });
      await stack.temporal.client.workflow.getHandle(advance.workflowId).result();
      made.push(advance.advanceId);
    }
  }
  const listed: string[] = [];
  let pageToken = '';
  do {
    const page = await api().listAdvances({
      accountId: accountIds[0],
      status: AdvanceStatus.ADVANCE_STATUS_REPAID,
      pageSize: 2,
      pageToken,
    });
    listed.push(...page.advances.map((a) => a.advanceId));
    expect(page.advances.every((a) => a.accountId === accountIds[0] && a.payments.length === 12)).toBe(true);
    pageToken = page.nextPageToken;
  } while (pageToken);
  expect(listed).toEqual(made.slice(0, 3).reverse());
  // A token is bound to the filters it was made for.
  const first = await api().listAdvances({ accountId: accountIds[0], pageSize: 1 });
  await expectError(
    api().listAdvances({ accountId: accountIds[1], pageSize: 1, pageToken: first.nextPageToken }),
    status.INVALID_ARGUMENT,
    'page_token',
  );
});
