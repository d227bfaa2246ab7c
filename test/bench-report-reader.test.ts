import { Direction } from '@alfabet/proto/accounts/v1';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import { readReport } from '../bench/h2-report-reader.mjs';
import { readReportInProcess } from '../bench/report-reader-process.mjs';
import { ledgerApi, startTestLedger, type TestLedger } from '../accounts-manager/test/support/ledger-harness.js';
import { listAll, listRequest } from '../accounts-manager/test/support/report-client.js';
import { expectSameInvalidArgument } from '../test-support/lean-client-errors.js';

/**
 * The report benchmark's reader (bench/h2-report-reader.mjs) counts each page's
 * transactions without decoding them. It must count what the generated client
 * decodes — the same rows and pages, whole pages split across HTTP/2 frames
 * included — and fail as grpc-js fails, or the rows/s it measures are not the
 * service's.
 */
interface Listing {
  rows: number;
  pages: number;
  totalSize: number;
}
const read = readReport as (address: string, request: object, deadlineMs: number) => Promise<Listing>;
interface ReaderSpec {
  address: string;
  client: 'counted' | 'decoded';
  startTimeMs: number;
  endTimeMs?: number;
  accountId?: string;
  pageSize: number;
  deadlineMs: number;
}
const readInProcess = readReportInProcess as (
  spec: ReaderSpec,
) => Promise<Listing & { seconds: number; cpuMicros: number }>;

let ledger: TestLedger;
let since: Date;
/** The window ends when the rows above are written: other test files post into the same database meanwhile. */
let until: Date;
/**
 * The account the rows are credited to: every listing is of its rows alone. Other test files write
 * into the same database; rows of theirs that became visible in the window between two listings
 * made one count 261 rows where the other had 255 (CI, session 16), despite the window's end.
 */
let to: string;

beforeAll(async () => {
  ledger = await startTestLedger();
  since = new Date(Date.now() - 1_000);
  const api = ledgerApi(ledger.client);
  // 250 bank credits: their long descriptions make a 100-row page ~40 KB, more than one 16 KB HTTP/2 frame.
  to = await api.fundedAccount(0n, 'report reader');
  for (let i = 0; i < 250; i++) {
    const description = `row ${i} ${'é'.repeat(100)}`;
    await api.bankTransaction({ dstAccountId: to, amount: 1n, direction: Direction.DIRECTION_CREDIT, description });
  }
  until = new Date(Date.now() + 1);
}, 60_000);
afterAll(async () => {
  await ledger?.stop();
});

test('counts the rows and pages the generated client decodes', async () => {
  const request = listRequest({
    pageSize: 100,
    accountId: to,
    startTime: timestampOfDate(since),
    endTime: timestampOfDate(until),
  });
  const decoded = await listAll(ledger.client, request);
  const counted = await read(ledger.address, request, 10_000);
  const decodedRows = decoded.reduce((sum, page) => sum + page.transactions.length, 0);
  expect(decoded.length).toBeGreaterThanOrEqual(3);
  expect(counted).toEqual({ rows: decodedRows, pages: decoded.length, totalSize: Number(decoded[0]!.totalSize) });
  expect(counted.rows).toBe(counted.totalSize);
});

test('a bad request fails with the status and message grpc-js reports', async () => {
  const request = listRequest({ pageSize: 100, pageToken: 'not-a-token' });
  await expectSameInvalidArgument(read(ledger.address, request, 10_000), listAll(ledger.client, request), 'page_token');
});

test('in a process of its own, both readers count what the generated client decodes, and say their CPU', async () => {
  const window = { startTimeMs: since.getTime(), endTimeMs: until.getTime() };
  const spec = { address: ledger.address, ...window, accountId: to, pageSize: 100, deadlineMs: 10_000 };
  const decoded = await listAll(
    ledger.client,
    listRequest({ pageSize: 100, accountId: to, startTime: timestampOfDate(since), endTime: timestampOfDate(until) }),
  );
  const expected = {
    rows: decoded.reduce((sum, page) => sum + page.transactions.length, 0),
    pages: decoded.length,
    totalSize: Number(decoded[0]!.totalSize),
  };
  for (const client of ['counted', 'decoded'] as const) {
    const { rows, pages, totalSize, seconds, cpuMicros } = await readInProcess({ ...spec, client });
    expect({ client, rows, pages, totalSize }).toEqual({ client, ...expected });
    expect(seconds).toBeGreaterThan(0);
    expect(cpuMicros).toBeGreaterThan(0);
  }
});

test('a reader process that fails rejects with the status and message of its call', async () => {
  const tooOld = Date.now() - 30 * 86_400_000;
  for (const client of ['counted', 'decoded'] as const) {
    const failure = readInProcess({
      address: ledger.address,
      client,
      startTimeMs: tooOld,
      pageSize: 100,
      deadlineMs: 10_000,
    });
    await expect(failure).rejects.toThrow(/exited 1: code 3: .*start_time/);
  }
});
