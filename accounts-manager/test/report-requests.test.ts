import { status, type ServiceError } from '@grpc/grpc-js';
import type { ListTransactionsRequest } from '@alfabet/proto/accounts/v1';
import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import type pg from 'pg';
import { ReportTokens } from '../src/reports/report-tokens.js';
import { microsOfDate, type ReportSnapshot } from '../src/reports/report-types.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { idsOf, listAll, seedFailedTransfers } from './support/report-client.js';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';

/**
 * ListTransactions refuses what it cannot honour: bad windows, page sizes and
 * pages, and any token it did not issue exactly as it is — always
 * INVALID_ARGUMENT naming the field, never INTERNAL, never someone else's rows.
 */
const SECRET = 'report-requests-test-secret-0123456789';
const DAY = 24 * 3600 * 1000;
let ledger: TestLedger;
let pool: pg.Pool;
let accountA: string;
let accountB: string;
let snapshotToken: string;
let pageToken: string;

beforeAll(async () => {
  ledger = await startTestLedger({ REPORT_TOKEN_SECRET: SECRET, REPORT_WINDOW: '5d' });
  pool = testPool();
  const api = ledgerApi(ledger.client);
  accountA = (await api.createAccount('tokens a')).accountId;
  accountB = (await api.createAccount('tokens b')).accountId;
  await seedFailedTransfers(pool, accountA, accountB, 25);
  const pages = await listAll(ledger.client, { accountId: accountA, pageSize: 10 });
  snapshotToken = pages[0]!.snapshotToken;
  pageToken = pages[0]!.nextPageToken;
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

async function expectRefused(fields: Partial<ListTransactionsRequest>, field: string): Promise<void> {
  const error = await listAll(ledger.client, fields).then(
    () => {
      throw new Error(`expected INVALID_ARGUMENT naming ${field}`);
    },
    (e: ServiceError) => e,
  );
  expect(error.code).toBe(status.INVALID_ARGUMENT);
  expect(error.details.startsWith(`${field}:`)).toBe(true);
}

const now = Date.now();
const at = (ms: number) => timestampOfDate(new Date(ms));
describe('bad requests', () => {
  it.each<[string, Partial<ListTransactionsRequest>, string]>([
    ['start before now − REPORT_WINDOW', { startTime: at(now - 5 * DAY - 10 * 60_000) }, 'start_time'],
    ['start a month ago', { startTime: at(now - 30 * DAY) }, 'start_time'],
    ['end before start', { startTime: at(now - DAY), endTime: at(now - 2 * DAY) }, 'end_time'],
    ['end equal to start', { startTime: at(now - DAY), endTime: at(now - DAY) }, 'end_time'],
    ['start before 1970', { startTime: at(-1000) }, 'start_time'],
    ['page size above 1000', { pageSize: 1001 }, 'page_size'],
    ['negative page size', { pageSize: -1 }, 'page_size'],
    ['huge page size', { pageSize: 2_147_483_647 }, 'page_size'],
    ['negative page', { page: -1 }, 'page'],
    ['page without snapshot', { page: 2 }, 'page'],
    ['malformed account id', { accountId: 'not-a-uuid' }, 'account_id'],
  ])('%s', async (_name, fields, field) => expectRefused(fields, field));

  it('accepts a start just inside the window', async () => {
    const pages = await listAll(ledger.client, {
      startTime: at(Date.now() - 5 * DAY + 60_000),
      accountId: accountA,
    });
    expect(pages[0]!.totalSize).toBe(25n);
  });

  it('refuses a page past the end of the snapshot', async () => {
    await expectRefused({ snapshotToken, page: 4 }, 'page');
  });

  it('refuses other filters or page size alongside a token', async () => {
    await expectRefused({ snapshotToken, accountId: accountB }, 'account_id');
    await expectRefused({ pageToken, accountId: accountB }, 'account_id');
    await expectRefused({ snapshotToken, pageSize: 11 }, 'page_size');
    await expectRefused({ pageToken, startTime: at(now - DAY) }, 'start_time');
    await expectRefused({ pageToken, snapshotToken }, 'snapshot_token');
    await expectRefused({ pageToken, page: 2 }, 'page');
  });
});

describe('tokens', () => {
  it('refuses a token with any single byte changed, in every position', async () => {
    for (const [field, token] of [
      ['snapshot_token', snapshotToken],
      ['page_token', pageToken],
    ] as const) {
      const raw = Buffer.from(token, 'base64url');
      for (let index = 0; index < raw.length; index++) {
        const changed = Buffer.from(raw);
        changed[index] = changed[index]! ^ 0x01;
        await expectRefused(
          { [field === 'snapshot_token' ? 'snapshotToken' : 'pageToken']: changed.toString('base64url') },
          field,
        );
      }
    }
  }, 60_000);

  it.each<[string, (token: string) => string]>([
    ['truncated by one character', (t) => t.slice(0, -1)],
    ['truncated to half', (t) => t.slice(0, t.length / 2)],
    ['extended', (t) => t + 'AA'],
    ['with a character outside base64url', (t) => t.slice(0, 10) + '*' + t.slice(11)],
    ['as standard base64', (t) => Buffer.from(t, 'base64url').toString('base64')],
    ['a single character', () => 'A'],
    ['made of spaces', () => '    '],
  ])('refuses a snapshot_token %s', async (_name, mangle) => {
    await expectRefused({ snapshotToken: mangle(snapshotToken) }, 'snapshot_token');
  });

  it('refuses a token issued with another secret', async () => {
    const foreign = new ReportTokens('some-other-server-secret-000000', 3_600_000);
    const token = foreign.sealSnapshot({
      filter: { startUs: microsOfDate(new Date(now - DAY)), endUs: null, accountId: accountB },
      pageSize: 10,
      snapshot: '1:1:',
      epoch: 1,
      cluster: null,
      totalSize: 5n,
      takenAtMs: Date.now(),
    });
    await expectRefused({ snapshotToken: token }, 'snapshot_token');
  });

  it('still lists by a token sealed before ledger epochs (version 1), as epoch 1', async () => {
    const tokens = new ReportTokens(SECRET, ledger.config.reportTokenTtlMs);
    const snapshot = tokens.openSnapshot(snapshotToken);
    expect(snapshot.epoch).toBe(1); // this database has not been restored anywhere
    const old = sealVersion1(SECRET, version1Payload(snapshot));
    // Exactly what the server seals for a snapshot that came from such a token: its pages' tokens stay version 1.
    expect(tokens.sealSnapshot({ ...snapshot, cluster: null })).toBe(old);
    const pages = await listAll(ledger.client, { snapshotToken: old });
    expect(idsOf(pages)).toEqual(idsOf(await listAll(ledger.client, { snapshotToken })));
    expect(pages[0]!.snapshotToken).toBe(old);
    expect(idsOf(await listAll(ledger.client, { pageToken: pages[0]!.nextPageToken }))).toHaveLength(15);
  });

  it('refuses a token of a ledger epoch this database never lived in, or a version 1 token naming one', async () => {
    const tokens = new ReportTokens(SECRET, ledger.config.reportTokenTtlMs);
    const snapshot = tokens.openSnapshot(snapshotToken);
    const { cursor } = tokens.openPage(pageToken);
    await expectRefused({ snapshotToken: tokens.sealSnapshot({ ...snapshot, epoch: 2 }) }, 'snapshot_token');
    await expectRefused({ snapshotToken: tokens.sealSnapshot({ ...snapshot, cluster: '12345' }) }, 'snapshot_token');
    await expectRefused({ pageToken: tokens.sealPage({ ...snapshot, cluster: '12345' }, cursor) }, 'page_token');
    // Valid but for the version: a version 1 token predates epochs and may not name one.
    const claimsEpoch = sealVersion1(SECRET, { ...version1Payload(snapshot), epoch: 1, cluster: snapshot.cluster });
    await expectRefused({ snapshotToken: claimsEpoch }, 'snapshot_token');
  });

  it('refuses a page_token as snapshot_token and the other way round', async () => {
    await expectRefused({ snapshotToken: pageToken }, 'snapshot_token');
    await expectRefused({ pageToken: snapshotToken }, 'page_token');
  });

  it('refuses an expired token', async () => {
    const tokens = new ReportTokens(SECRET, ledger.config.reportTokenTtlMs);
    const expired = tokens.sealSnapshot({
      filter: { startUs: microsOfDate(new Date(now - DAY)), endUs: null, accountId: accountA },
      pageSize: 10,
      snapshot: '1:1:',
      epoch: 1,
      cluster: null,
      totalSize: 5n,
      takenAtMs: Date.now() - ledger.config.reportTokenTtlMs - 1000,
    });
    await expectRefused({ snapshotToken: expired }, 'snapshot_token');
  });

  it('never reaches beyond the filters it was made for', async () => {
    // A token for account A lists account A's rows only, however it is combined.
    const pages = await listAll(ledger.client, { pageToken });
    for (const transaction of pages.flatMap((page) => page.transactions)) {
      expect([transaction.srcAccountId, transaction.dstAccountId]).toContain(accountA);
    }
    expect(idsOf(pages)).toHaveLength(15);
  });

  it('leaves nothing stored and the service healthy after all of that', async () => {
    const pages = await listAll(ledger.client, { accountId: accountA });
    expect(pages[0]!.totalSize).toBe(25n);
  });
});

/** What a version 1 snapshot_token of this listing held, in the order those servers wrote it. */
function version1Payload(snapshot: ReportSnapshot) {
  return {
    kind: 'snapshot',
    snapshot: snapshot.snapshot,
    startUs: snapshot.filter.startUs.toString(),
    endUs: snapshot.filter.endUs?.toString() ?? null,
    accountId: snapshot.filter.accountId,
    pageSize: snapshot.pageSize,
    totalSize: snapshot.totalSize.toString(),
    takenAtMs: snapshot.takenAtMs,
  };
}

/**
 * A report token as servers sealed them before ledger epochs (version 1: no epoch, no cluster),
 * written out independently of src/reports/report-tokens.ts.
 */
function sealVersion1(secret: string, payload: object): string {
  const derive = (info: string) => hkdfSync('sha256', secret, 'alfabet.accounts.v1.ListTransactions', info, 32);
  const plaintext = JSON.stringify(payload);
  const iv = createHmac('sha256', Buffer.from(derive('report-token-v1-iv')))
    .update(plaintext)
    .digest()
    .subarray(0, 12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(derive('report-token-v1')), iv);
  cipher.setAAD(Buffer.from([1]));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), iv, body, cipher.getAuthTag()]).toString('base64url');
}
