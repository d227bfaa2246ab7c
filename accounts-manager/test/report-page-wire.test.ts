import pg from 'pg';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ListTransactionsResponse, type Transaction } from '@alfabet/proto/accounts/v1';
import { DESCRIPTOR_SET_FILE, protoRootDir } from '@alfabet/proto/paths';
import { timestampOfMicros } from '@alfabet/service-kit/timestamps';
import type { BinaryRow } from '../src/db/binary-copy-out.sql.js';
import { forgetReportCounts } from '../src/db/report-counts.sql.js';
import { readPage, REPORT_ROW_COLUMNS, takeSnapshot, type PagePosition } from '../src/db/report-queries.sql.js';
import { TRANSACTION_COLUMNS, toLedgerTransaction, type TransactionRecord } from '../src/db/transaction-rows.js';
import { transactionToProto } from '../src/grpc/mapping.js';
import { ReportPageWriter, TRANSACTION_FIELDS_WRITTEN } from '../src/grpc/report-page-wire.js';
import { microsOfDate, type ReportSnapshot } from '../src/reports/report-types.js';
import { dropTestDatabase, TEST_DATABASES, testDatabaseUrl } from '../../test-support/test-databases.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { prng } from './support/prng.js';
import { listAll } from './support/report-client.js';

/**
 * ListTransactions' pages are written straight from PostgreSQL's binary rows
 * (src/grpc/report-page-wire.ts), a second encoder of `Transaction` beside the
 * generated one. These tests hold it to the generated encoder byte for byte:
 * over random rows built in memory (every edge of the wire: NULLs, empty and
 * multi-byte text, lengths across varint sizes, int64 extremes, times before
 * 1970), over random rows stored in and read back from a real database (what
 * PostgreSQL's binary format really is), and against the contract's own
 * descriptor, so a field added to `Transaction` fails here until the encoder
 * writes it. In a database of its own.
 */
const DATABASE = `${TEST_DATABASES.accounts}_wire`;
const DATABASE_URL = testDatabaseUrl(DATABASE);
const DAY = 86_400_000;
const POSTGRES_EPOCH_US = 946_684_800_000_000n;
const BANK = '00000000-0000-7000-8000-000000000001';

type Random = () => number;
const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)]!;

const TEXTS = [
  '',
  'a',
  'rent',
  'é',
  '漢字',
  '😀 paid',
  'tab\tnew\nline\\',
  'quote \' and " and \\0',
  'x'.repeat(127),
  'y'.repeat(128),
];
function randomText(random: Random): string {
  const roll = random();
  if (roll < 0.6) return pick(random, TEXTS);
  if (roll < 0.9)
    return Array.from({ length: Math.floor(random() * 300) }, () => pick(random, ['a', 'é', '漢', '😀', ' '])).join('');
  return 'z'.repeat(16_384 + Math.floor(random() * 10)); // a 3-byte length
}

function randomUuidBytes(random: Random): Buffer {
  const roll = random();
  if (roll < 0.05) return Buffer.alloc(16, 0);
  if (roll < 0.1) return Buffer.alloc(16, 0xff);
  return Buffer.from(Array.from({ length: 16 }, () => Math.floor(random() * 256)));
}
const uuidText = (bytes: Buffer) => {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

const INT64_EDGES = [1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n];
const randomAmount = (random: Random, signed: boolean): bigint => {
  const roll = random();
  if (roll < 0.3) return pick(random, INT64_EDGES) * (signed && random() < 0.5 ? -1n : 1n);
  if (signed && roll < 0.35) return -(2n ** 63n);
  return BigInt(1 + Math.floor(random() * 1e12));
};

/** Microseconds since the Unix epoch: around now, on whole seconds, at 1970, before it, far ahead. */
function randomTimeUs(random: Random): bigint {
  const now = BigInt(Date.now()) * 1000n;
  const roll = random();
  if (roll < 0.1) return (now / 1_000_000n) * 1_000_000n;
  if (roll < 0.15) return pick(random, [0n, 1n, -1n, 999_999n, -1_000_000n, 1_000_000n]);
  if (roll < 0.2) return -BigInt(Math.floor(random() * 2e15)); // before 1970
  if (roll < 0.25) return pick(random, [253_402_300_799_999_999n, -210_866_803_200_000_000n]); // 9999-12-31, 4713 BC
  return now - BigInt(Math.floor(random() * 4 * DAY * 1000));
}

/** A transaction as ledger rows hold it (TransactionRecord), random within the table's constraints. */
function randomRecord(random: Random, signed = false): TransactionRecord {
  const bank = random() < 0.3;
  const failed = random() < 0.3;
  return {
    transaction_id: uuidText(randomUuidBytes(random)),
    create_time_us: String(randomTimeUs(random)),
    request_id: random() < 0.3 ? null : uuidText(randomUuidBytes(random)),
    kind: bank ? 'bank' : 'transfer',
    src_account_id: bank ? null : uuidText(randomUuidBytes(random)),
    dst_account_id: uuidText(randomUuidBytes(random)),
    amount: String(randomAmount(random, signed)),
    direction: pick(random, ['debit', 'credit']),
    description: randomText(random),
    status: failed ? 'failed' : 'success',
    failure_reason: failed ? pick(random, ['insufficient_funds', 'balance_limit_exceeded', 'batch_aborted']) : null,
    failure_message: failed ? randomText(random) : '',
    initiated_by: random() < 0.3 ? '' : randomText(random),
  };
}

/** `record` as PostgreSQL's binary COPY sends it: one field per REPORT_ROW_COLUMNS entry. */
function binaryRowOf(record: TransactionRecord, overrides: Partial<Record<string, Buffer | null>> = {}): BinaryRow {
  const int64 = (value: bigint) => {
    const bytes = Buffer.alloc(8);
    bytes.writeBigInt64BE(value);
    return bytes;
  };
  const uuid = (text: string | null) => (text === null ? null : Buffer.from(text.replace(/-/g, ''), 'hex'));
  const text = (value: string | null) => (value === null ? null : Buffer.from(value, 'utf8'));
  const fields: Record<(typeof REPORT_ROW_COLUMNS)[number], Buffer | null> = {
    transaction_id: uuid(record.transaction_id),
    request_id: uuid(record.request_id),
    kind: text(record.kind),
    src_account_id: uuid(record.src_account_id),
    dst_account_id: uuid(record.dst_account_id),
    amount: int64(BigInt(record.amount)),
    direction: text(record.direction),
    description: text(record.description),
    status: text(record.status),
    failure_reason: text(record.failure_reason),
    failure_message: text(record.failure_message),
    initiated_by: text(record.initiated_by),
    create_time: int64(BigInt(record.create_time_us) - POSTGRES_EPOCH_US),
    ...overrides,
  };
  const values = REPORT_ROW_COLUMNS.map((column) => fields[column]);
  const row: BinaryRow = {
    bytes: Buffer.concat(values.map((value) => value ?? Buffer.alloc(0))),
    start: new Int32Array(values.length),
    length: new Int32Array(values.length),
  };
  let at = 0;
  values.forEach((value, i) => {
    row.start[i] = at;
    row.length[i] = value === null ? -1 : value.length;
    at += value?.length ?? 0;
  });
  return row;
}

/** The page the generated encoder writes for these rows (mapping.ts, then ListTransactionsResponse.encode). */
function generatedPage(records: TransactionRecord[], page: Omit<ListTransactionsResponse, 'transactions'>): Buffer {
  const transactions: Transaction[] = records.map((record) => transactionToProto(toLedgerTransaction(record)));
  return Buffer.from(ListTransactionsResponse.encode({ ...page, transactions }).finish());
}

const PAGE_FIELDS = {
  page: 3,
  pageSize: 97,
  totalSize: 1_000n,
  totalPages: 11,
  snapshotToken: 'snapshot-token',
  nextPageToken: 'next-page-token',
};

describe('written in memory', () => {
  it('writes exactly the generated encoding, row by row, over random rows', () => {
    const seed = Date.now() % 1_000_000;
    const random = prng(seed);
    for (let round = 0; round < 40; round++) {
      const records = Array.from({ length: 1 + Math.floor(random() * 60) }, () => randomRecord(random, true));
      const writer = new ReportPageWriter();
      for (const record of records) writer.add(binaryRowOf(record));
      const written = writer.finish(PAGE_FIELDS);
      const expected = generatedPage(records, PAGE_FIELDS);
      if (!written.equals(expected)) {
        throw new Error(
          `seed ${seed}, round ${round}: the pages differ (${written.length} vs ${expected.length} bytes)`,
        );
      }
      expect(writer.rows).toBe(records.length);
      const last = records.at(-1)!;
      expect(writer.lastRow()).toEqual({
        createTimeUs: BigInt(last.create_time_us),
        transactionId: last.transaction_id,
      });
    }
  });

  it('writes an empty page as the generated encoder does, with no cursor', () => {
    const writer = new ReportPageWriter();
    expect(writer.finish(PAGE_FIELDS).equals(generatedPage([], PAGE_FIELDS))).toBe(true);
    expect(writer.lastRow()).toBeNull();
  });

  it('fails a row whose value the contract has no enum number for, naming the column and the value', () => {
    const record = randomRecord(prng(7));
    const writer = new ReportPageWriter();
    expect(() => writer.add(binaryRowOf(record, { kind: Buffer.from('refund') }))).toThrow(
      'report row: kind refund has no proto value',
    );
    expect(() => writer.add(binaryRowOf(record, { status: Buffer.from('succes') }))).toThrow(
      'report row: status succes has no proto value',
    );
    expect(() => writer.add(binaryRowOf(record, { direction: null }))).toThrow(
      'report row: direction NULL has no proto value',
    );
  });
});

describe('the contract', () => {
  const messages = fromBinary(FileDescriptorSetSchema, readFileSync(join(protoRootDir(), DESCRIPTOR_SET_FILE)))
    .file.filter((file) => file.package === 'alfabet.accounts.v1')
    .flatMap((file) => file.messageType);
  const fieldsOf = (name: string) => messages.find((message) => message.name === name)!.field;

  it('writes every field Transaction has: a new field fails here until report-page-wire.ts writes it', () => {
    expect(fieldsOf('Transaction').map((field) => field.number)).toEqual(TRANSACTION_FIELDS_WRITTEN);
  });

  it('writes the transactions as field 1 of ListTransactionsResponse, before its other fields', () => {
    const numbers = fieldsOf('ListTransactionsResponse').map((field) => [field.name, field.number]);
    expect(numbers[0]).toEqual(['transactions', 1]);
    expect(numbers.slice(1).every(([, number]) => (number as number) > 1)).toBe(true);
  });
});

describe('read from PostgreSQL', () => {
  let ledger: TestLedger;
  let pool: pg.Pool;
  const ROWS = 500;
  let seed: number;

  beforeAll(async () => {
    await dropTestDatabase(DATABASE);
    ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: DATABASE_URL });
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    seed = Date.now() % 1_000_000;
    const random = prng(seed);
    for (let i = 0; i < ROWS; i++) {
      let record = randomRecord(random);
      while (record.dst_account_id === (record.src_account_id ?? BANK)) record = randomRecord(random); // from <> to
      const timeUs = BigInt(Date.now() - Math.floor(random() * 3 * DAY)) * 1000n + BigInt(Math.floor(random() * 1000));
      await pool.query(
        `INSERT INTO transactions (transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
                                   direction, description, status, failure_reason, failure_message, initiated_by,
                                   from_account_id, to_account_id)
         VALUES ($1, to_timestamp($2::numeric / 1000000), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [
          record.transaction_id,
          String(random() < 0.2 ? (timeUs / 1_000_000n) * 1_000_000n : timeUs),
          record.request_id,
          record.kind,
          record.src_account_id,
          record.dst_account_id,
          record.amount,
          record.direction,
          record.description,
          record.status,
          record.failure_reason,
          record.failure_message,
          record.initiated_by,
          record.src_account_id ?? BANK,
          record.dst_account_id,
        ],
      );
    }
    await forgetReportCounts(pool); // history written directly: its minute counts are taken again
  }, 120_000);
  afterAll(async () => {
    await pool?.end();
    await ledger?.stop();
  });

  it('reads the columns report_page() and report_account_page() return, in their order', async () => {
    for (const name of ['report_page', 'report_account_page']) {
      const { rows } = await pool.query<{ columns: string[] }>(
        `SELECT array_agg(a.name ORDER BY a.ord) AS columns
           FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(name, mode, ord)
          WHERE p.proname = $1 AND a.mode = 't'`,
        [name],
      );
      expect(rows[0]!.columns).toEqual(REPORT_ROW_COLUMNS);
    }
  });

  it('writes every page of a listing exactly as the generated encoder writes the same rows read as text', async () => {
    const filter = { startUs: microsOfDate(new Date(Date.now() - 4 * DAY)), endUs: null, accountId: null };
    const taken = await takeSnapshot(pool, filter);
    const snapshot: ReportSnapshot = { filter, pageSize: 97, takenAtMs: Date.now(), ...taken! };
    expect(snapshot.totalSize).toBe(BigInt(ROWS));
    const expected = (
      await pool.query<TransactionRecord>(
        `SELECT ${TRANSACTION_COLUMNS} FROM transactions ORDER BY create_time DESC, transaction_id DESC`,
      )
    ).rows;

    let position: PagePosition = { offset: 0 };
    for (let page = 0; page * snapshot.pageSize < ROWS; page++) {
      const writer = new ReportPageWriter();
      await readPage(pool, snapshot, position, (row) => writer.add(row));
      const rows = expected.slice(page * snapshot.pageSize, (page + 1) * snapshot.pageSize);
      const written = writer.finish(PAGE_FIELDS);
      if (!written.equals(generatedPage(rows, PAGE_FIELDS))) throw new Error(`seed ${seed}: page ${page + 1} differs`);
      const last = rows.at(-1)!;
      expect(writer.lastRow()).toEqual({
        createTimeUs: BigInt(last.create_time_us),
        transactionId: last.transaction_id,
      });
      position = { after: writer.lastRow()! };
    }
  });

  it('fails the read, and gives no rows, when the statement fails', async () => {
    const filter = { startUs: microsOfDate(new Date(Date.now() - 4 * DAY)), endUs: null, accountId: null };
    const taken = await takeSnapshot(pool, filter);
    // A snapshot text PostgreSQL refuses: the COPY fails before its first row.
    const snapshot: ReportSnapshot = { filter, pageSize: 10, takenAtMs: Date.now(), ...taken!, snapshot: '9:1:' };
    let rows = 0;
    await expect(readPage(pool, snapshot, { offset: 0 }, () => rows++)).rejects.toThrow(/pg_snapshot/);
    expect(rows).toBe(0);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]); // the pool goes on
  });
});

describe('a database that does not store UTF-8', () => {
  const LATIN1 = `${DATABASE}_latin1`;
  let ledger: TestLedger;
  let pool: pg.Pool;

  beforeAll(async () => {
    await dropTestDatabase(LATIN1);
    const admin = new pg.Client({ connectionString: testDatabaseUrl('postgres') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${LATIN1} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    await admin.end();
    ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: testDatabaseUrl(LATIN1) });
    pool = new pg.Pool({ connectionString: testDatabaseUrl(LATIN1), max: 1, client_encoding: 'UTF8' });
  }, 60_000);
  afterAll(async () => {
    await pool?.end();
    await ledger?.stop();
  });

  it('lists its text as UTF-8: node-postgres asks for client_encoding UTF8, and PostgreSQL converts', async () => {
    const record = { ...randomRecord(prng(11)), kind: 'bank', src_account_id: null, description: 'café à Zürich ø' };
    await pool.query(
      `INSERT INTO transactions (transaction_id, create_time, kind, dst_account_id, amount, direction, description,
                                 status, failure_reason, initiated_by, from_account_id, to_account_id)
       VALUES ($1, now(), 'bank', $2, 1, 'credit', $3, 'success', NULL, 'ß', $4, $2)`,
      [record.transaction_id, record.dst_account_id, record.description, BANK],
    );
    await forgetReportCounts(pool);
    const pages = await listAll(ledger.client, { pageSize: 10 });
    const listed = pages.flatMap((page) => page.transactions);
    expect(listed.map((t) => [t.transactionId, t.description, t.initiatedBy])).toEqual([
      [record.transaction_id, 'café à Zürich ø', 'ß'],
    ]);
  });
});

it('reads as microseconds what PostgreSQL stores (timestampOfMicros agrees with the wire)', () => {
  // The writer's seconds and nanos are the service's own conversion of the same instant.
  for (const us of [0n, -1n, 1_700_000_000_123_456n, -62_135_596_800_000_000n]) {
    const record = { ...randomRecord(prng(9)), create_time_us: String(us) };
    const writer = new ReportPageWriter();
    writer.add(binaryRowOf(record));
    const decoded = ListTransactionsResponse.decode(writer.finish(PAGE_FIELDS)).transactions[0]!;
    expect(decoded.createTime).toEqual(timestampOfMicros(us));
  }
});
