import { ListTransactionsResponse } from '@alfabet/proto/accounts/v1';
import type { BinaryRow } from '../db/binary-copy-out.sql.js';
import { REPORT_ROW_COLUMNS, type RowKey } from '../db/report-queries.sql.js';
import { microsOfTimestamp, timestampOfMicros } from '@alfabet/service-kit/timestamps';
import { DIRECTION_TO_PROTO, KIND_TO_PROTO, REASON_TO_PROTO, STATUS_TO_PROTO } from './mapping.js';

/**
 * A ListTransactionsResponse written straight from the report's binary rows
 * (db/report-queries.sql.ts reads them with COPY … (FORMAT binary)): each row's
 * bytes become one `Transaction` on the wire without becoming JavaScript
 * strings, objects or BigInts first. Reading a page as text and encoding it
 * with the generated code cost accounts-manager 6–8 µs of CPU a row, the
 * stream's limit; this costs a third of that (docs/benchmarks.md).
 *
 * The bytes are exactly those the generated encoder writes for the message
 * grpc/mapping.ts makes of the same row: fields in number order, proto3
 * defaults (empty strings, NULLs, zero enums) left out, the transactions
 * before the page's other fields. report-page-wire.test.ts holds it to that
 * over random rows, and fails when `Transaction` gains a field this file does
 * not write — it is a second encoder of one message, kept in step by that test.
 */

const column = (name: (typeof REPORT_ROW_COLUMNS)[number]) => REPORT_ROW_COLUMNS.indexOf(name);
const ID = column('transaction_id');
const REQUEST_ID = column('request_id');
const KIND = column('kind');
const SRC = column('src_account_id');
const DST = column('dst_account_id');
const AMOUNT = column('amount');
const DIRECTION = column('direction');
const DESCRIPTION = column('description');
const STATUS = column('status');
const REASON = column('failure_reason');
const MESSAGE = column('failure_message');
const INITIATED_BY = column('initiated_by');
const CREATED = column('create_time');

/** Transaction's field numbers (accounts.proto), in the order they are written. */
export const TRANSACTION_FIELDS_WRITTEN = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

/** A field's key byte: field number and wire type (0 varint, 2 length-delimited). */
const key = (field: number, wireType: 0 | 2) => (field << 3) | wireType;

/** The database's text values as their bytes, with mapping.ts's proto enum numbers for them. */
const KINDS = enumBytes(KIND_TO_PROTO);
const DIRECTIONS = enumBytes(DIRECTION_TO_PROTO);
const STATUSES = enumBytes(STATUS_TO_PROTO);
const REASONS = enumBytes(REASON_TO_PROTO);

/** PostgreSQL's timestamptz counts microseconds from 2000-01-01; the Unix epoch is that many before. */
const POSTGRES_EPOCH_US = 946_684_800_000_000;
/** An int8 whose high 32 bits lie strictly within ±2^20 is below 2^52 in size: a double holds it, and the epoch added, exactly. */
const SAFE_HIGH = 2 ** 20;
const UUID_TEXT_BYTES = 36;

/** Where a page ends: its last row's create_time and transaction_id. */
export type PageCursor = RowKey;

/** One page's transactions, written as they arrive; then the page's own fields (finish). */
export class ReportPageWriter {
  private out = Buffer.allocUnsafe(64 * 1024);
  private at = 0;
  /** The last row's create_time, as Timestamp's fields. */
  private seconds = 0;
  private nanos = 0;
  private readonly lastId = Buffer.alloc(UUID_TEXT_BYTES);
  /** Rows written so far. */
  rows = 0;

  /** Bytes the rows written so far take. */
  get bytes(): number {
    return this.at;
  }

  /** Writes `row` as field 1 (`transactions`) of the page. */
  add(row: BinaryRow): void {
    const { bytes, start, length } = row;
    this.readInstant(bytes, start[CREATED]!);
    const { seconds, nanos } = this;
    const timestampSize =
      (seconds === 0 ? 0 : 1 + signedVarintSize(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos));
    const amountHigh = bytes.readUInt32BE(start[AMOUNT]!);
    const amountLow = bytes.readUInt32BE(start[AMOUNT]! + 4);
    const size =
      uuidFieldSize(length[ID]!) +
      uuidFieldSize(length[REQUEST_ID]!) +
      2 +
      timestampSize +
      2 + // kind
      uuidFieldSize(length[SRC]!) +
      uuidFieldSize(length[DST]!) +
      (amountHigh === 0 && amountLow === 0 ? 0 : 1 + varint64Size(amountLow, amountHigh)) +
      2 + // direction
      textFieldSize(length[DESCRIPTION]!) +
      2 + // status
      (length[REASON]! > 0 ? 2 : 0) +
      textFieldSize(length[MESSAGE]!) +
      textFieldSize(length[INITIATED_BY]!);
    this.reserve(1 + varintSize(size) + size);

    const out = this.out;
    let at = this.at;
    out[at++] = key(1, 2);
    at = writeVarint(out, at, size);
    at = writeUuidField(out, at, 1, row, ID);
    at = writeUuidField(out, at, 2, row, REQUEST_ID);
    out[at++] = key(3, 2);
    out[at++] = timestampSize;
    if (seconds !== 0) {
      out[at++] = key(1, 0);
      at = writeSignedVarint(out, at, seconds);
    }
    if (nanos !== 0) {
      out[at++] = key(2, 0);
      at = writeVarint(out, at, nanos);
    }
    at = writeEnumField(out, at, 4, enumOf(KINDS, 'kind', row, KIND));
    at = writeUuidField(out, at, 5, row, SRC);
    at = writeUuidField(out, at, 6, row, DST);
    if (amountHigh !== 0 || amountLow !== 0) {
      out[at++] = key(7, 0);
      at = writeVarint64(out, at, amountLow, amountHigh);
    }
    at = writeEnumField(out, at, 8, enumOf(DIRECTIONS, 'direction', row, DIRECTION));
    at = writeTextField(out, at, 9, row, DESCRIPTION);
    at = writeEnumField(out, at, 10, enumOf(STATUSES, 'status', row, STATUS));
    if (length[REASON]! > 0) at = writeEnumField(out, at, 11, enumOf(REASONS, 'failure_reason', row, REASON));
    at = writeTextField(out, at, 12, row, MESSAGE);
    at = writeTextField(out, at, 13, row, INITIATED_BY);
    this.at = at;

    this.rows++;
    writeUuid(this.lastId, 0, bytes, start[ID]!);
  }

  /** Where the page after this one starts: after its last row (null for an empty page). */
  lastRow(): PageCursor | null {
    if (this.rows === 0) return null;
    return {
      createTimeUs: microsOfTimestamp({ seconds: BigInt(this.seconds), nanos: this.nanos }),
      transactionId: this.lastId.toString('latin1'),
    };
  }

  /**
   * The timestamptz at `at` (microseconds from 2000-01-01) as the Timestamp's seconds and nanos, kept on
   * this writer (the last row's are the page's cursor). In doubles while exact (until the year 2255), else in BigInts.
   */
  private readInstant(bytes: Buffer, at: number): void {
    const high = bytes.readInt32BE(at);
    if (high > -SAFE_HIGH && high < SAFE_HIGH) {
      const unixUs = high * 2 ** 32 + bytes.readUInt32BE(at + 4) + POSTGRES_EPOCH_US;
      this.seconds = Math.floor(unixUs / 1e6);
      this.nanos = (unixUs - this.seconds * 1e6) * 1000;
      return;
    }
    const { seconds, nanos } = timestampOfMicros(bytes.readBigInt64BE(at) + BigInt(POSTGRES_EPOCH_US));
    this.seconds = Number(seconds);
    this.nanos = nanos;
  }

  /** The whole message: the transactions written, then the page's other fields. */
  finish(page: Omit<ListTransactionsResponse, 'transactions'>): Buffer {
    const rest = ListTransactionsResponse.encode({ ...page, transactions: [] }).finish();
    this.reserve(rest.length);
    this.out.set(rest, this.at);
    return this.out.subarray(0, this.at + rest.length);
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + bytes));
    this.out.copy(grown, 0, 0, this.at);
    this.out = grown;
  }
}

const uuidFieldSize = (length: number) => (length > 0 ? 2 + UUID_TEXT_BYTES : 0);
const textFieldSize = (length: number) => (length > 0 ? 1 + varintSize(length) + length : 0);

/** A uuid column (16 bytes) as its 36-character text, the proto's string; NULL is left out. */
function writeUuidField(out: Buffer, at: number, field: number, row: BinaryRow, column: number): number {
  if (row.length[column]! <= 0) return at;
  out[at] = key(field, 2);
  out[at + 1] = UUID_TEXT_BYTES;
  return writeUuid(out, at + 2, row.bytes, row.start[column]!);
}

/**
 * A text column's UTF-8 bytes, copied as they are: node-postgres opens every connection with
 * client_encoding UTF8, so PostgreSQL converts text from whatever the database stores.
 */
function writeTextField(out: Buffer, at: number, field: number, row: BinaryRow, column: number): number {
  const length = row.length[column]!;
  if (length <= 0) return at;
  out[at] = key(field, 2);
  at = writeVarint(out, at + 1, length);
  const from = row.start[column]!;
  row.bytes.copy(out, at, from, from + length);
  return at + length;
}

function writeEnumField(out: Buffer, at: number, field: number, value: number): number {
  out[at] = key(field, 0);
  return writeVarint(out, at + 1, value);
}

/** Each byte value's two lowercase hex digits, as character codes: HIGH[byte], LOW[byte]. */
const HEX_DIGITS = '0123456789abcdef';
const HIGH = Uint8Array.from({ length: 256 }, (_, byte) => HEX_DIGITS.charCodeAt(byte >> 4));
const LOW = Uint8Array.from({ length: 256 }, (_, byte) => HEX_DIGITS.charCodeAt(byte & 15));
const DASH = 0x2d;

/**
 * 16 bytes as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, written position by position rather than in a loop
 * that tests for dashes: a row's four uuids were 13 % of accounts-manager's CPU streaming a report, and
 * unrolled the page writer runs 12–17 % fewer instructions a row (docs/benchmarks.md, session 18).
 */
function writeUuid(out: Buffer, at: number, bytes: Buffer, from: number): number {
  hexByte(out, at, bytes[from]!);
  hexByte(out, at + 2, bytes[from + 1]!);
  hexByte(out, at + 4, bytes[from + 2]!);
  hexByte(out, at + 6, bytes[from + 3]!);
  out[at + 8] = DASH;
  hexByte(out, at + 9, bytes[from + 4]!);
  hexByte(out, at + 11, bytes[from + 5]!);
  out[at + 13] = DASH;
  hexByte(out, at + 14, bytes[from + 6]!);
  hexByte(out, at + 16, bytes[from + 7]!);
  out[at + 18] = DASH;
  hexByte(out, at + 19, bytes[from + 8]!);
  hexByte(out, at + 21, bytes[from + 9]!);
  out[at + 23] = DASH;
  hexByte(out, at + 24, bytes[from + 10]!);
  hexByte(out, at + 26, bytes[from + 11]!);
  hexByte(out, at + 28, bytes[from + 12]!);
  hexByte(out, at + 30, bytes[from + 13]!);
  hexByte(out, at + 32, bytes[from + 14]!);
  hexByte(out, at + 34, bytes[from + 15]!);
  return at + UUID_TEXT_BYTES;
}

function hexByte(out: Buffer, at: number, byte: number): void {
  out[at] = HIGH[byte]!;
  out[at + 1] = LOW[byte]!;
}

type EnumBytes = { text: Buffer; value: number }[];

function enumBytes(values: Readonly<Record<string, number>>): EnumBytes {
  return Object.entries(values).map(([text, value]) => ({ text: Buffer.from(text, 'latin1'), value }));
}

/** The enum number of a text column's value; a value the contract does not know fails the page. */
function enumOf(values: EnumBytes, name: string, row: BinaryRow, column: number): number {
  const { bytes } = row;
  const from = row.start[column]!;
  const length = row.length[column]!;
  for (const { text, value } of values) {
    if (text.length !== length) continue;
    let i = 0;
    while (i < length && bytes[from + i] === text[i]) i++;
    if (i === length) return value;
  }
  const shown = length < 0 ? 'NULL' : bytes.toString('utf8', from, from + length);
  throw new Error(`report row: ${name} ${shown} has no proto value`);
}

const UINT31 = 0x7fffffff;

function varintSize(value: number): number {
  if (value <= UINT31) return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
  return varint64Size(value % 2 ** 32, Math.floor(value / 2 ** 32));
}

/** A non-negative safe integer as a varint. */
function writeVarint(out: Buffer, at: number, value: number): number {
  if (value > UINT31) return writeVarint64(out, at, value % 2 ** 32, Math.floor(value / 2 ** 32));
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** int64 varints: a negative value is written as its 64-bit two's complement (10 bytes), as protobuf does. */
function varint64Size(low: number, high: number): number {
  let size = 1;
  while (high !== 0 || low >= 128) {
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
    size++;
  }
  return size;
}

function writeVarint64(out: Buffer, at: number, low: number, high: number): number {
  while (high !== 0 || low >= 128) {
    out[at++] = (low & 127) | 128;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  out[at++] = low;
  return at;
}

/** A safe integer's 64-bit two's complement as its two unsigned 32-bit halves. */
function halvesOf(value: number): [low: number, high: number] {
  const magnitude = Math.abs(value);
  let low = magnitude % 2 ** 32;
  let high = Math.floor(magnitude / 2 ** 32);
  if (value < 0) {
    low = (~low + 1) >>> 0;
    high = (~high + (low === 0 ? 1 : 0)) >>> 0;
  }
  return [low, high];
}

const signedVarintSize = (value: number) => (value >= 0 ? varintSize(value) : varint64Size(...halvesOf(value)));

function writeSignedVarint(out: Buffer, at: number, value: number): number {
  return value >= 0 ? writeVarint(out, at, value) : writeVarint64(out, at, ...halvesOf(value));
}
