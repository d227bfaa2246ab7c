import type pg from 'pg';

/**
 * One row of `COPY … TO STDOUT (FORMAT binary)`, as PostgreSQL sent it:
 * field i is bytes[start[i], start[i] + length[i]), length -1 for NULL.
 * Valid only during the callback that receives it: the bytes belong to
 * node-postgres's read buffer, which the next read overwrites.
 */
export interface BinaryRow {
  bytes: Buffer;
  start: Int32Array;
  length: Int32Array;
}

/** The 11-byte signature that opens a binary COPY (PostgreSQL's "COPY" page, "Binary Format"). */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Runs `text`, a `COPY (…) TO STDOUT (FORMAT binary)` of `columns` columns,
 * on one connection and hands each row to `onRow` as it arrives (a node-postgres
 * Submittable: client.query(copy), then await copy.done).
 *
 * Raw SQL, on purpose: the transactions report reads its pages this way
 * (report-queries.sql.ts). Rows read as ordinary query results become a
 * JavaScript string per field; these stay bytes until they are written as
 * protobuf, and accounts-manager's CPU per streamed row fell from 8.95 to
 * 2.7–3.1 µs (docs/benchmarks.md, "The report's pages in binary").
 *
 * The backend sends one CopyData message per row (PostgreSQL's protocol:
 * "messages sent from the backend will always correspond to single data
 * rows"), the file header inside the first and the trailer (-1) in its own.
 * Anything else is a protocol error and fails the read.
 */
export class BinaryCopyOut implements pg.Submittable {
  /** Settles when the statement is over: the connection is ready for the next, or has failed. */
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private failure: Error | null = null;
  private headerRead = false;
  private ended = false;
  private readonly row: BinaryRow;

  constructor(
    /** The statement (a test reads it back). */
    readonly text: string,
    private readonly columns: number,
    private readonly onRow: (row: BinaryRow) => void,
  ) {
    this.row = { bytes: SIGNATURE, start: new Int32Array(columns), length: new Int32Array(columns) };
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.failure) return; // the rest of a read that already failed: drained, not read
    try {
      this.readMessage(message.chunk);
    } catch (error) {
      this.failure = error as Error;
    }
  }

  handleCommandComplete(): void {
    if (!this.failure && !this.ended) this.failure = new Error('binary COPY ended without its trailer');
  }

  handleReadyForQuery(): void {
    if (this.failure) this.reject(this.failure);
    else this.resolve();
  }

  /** A backend error (the statement ends, the connection stays usable) or a dead connection. */
  handleError(error: Error): void {
    this.reject(error);
  }

  private readMessage(chunk: Buffer): void {
    let at = 0;
    if (!this.headerRead) {
      if (chunk.length < 19 || !chunk.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a binary COPY');
      // Flags (4 bytes; bit 16, OIDs, is never set by COPY (SELECT …)), then the header extension's length.
      at = 19 + chunk.readInt32BE(15);
      this.headerRead = true;
      if (at === chunk.length) return; // the header alone
    }
    const fields = chunk.readInt16BE(at);
    at += 2;
    if (fields === -1) {
      this.ended = true;
      return;
    }
    if (fields !== this.columns || this.ended)
      throw new Error(`binary COPY row of ${fields} fields, not ${this.columns}`);
    const { start, length } = this.row;
    for (let i = 0; i < fields; i++) {
      const size = chunk.readInt32BE(at);
      at += 4;
      start[i] = at;
      length[i] = size;
      if (size > 0) at += size;
    }
    if (at !== chunk.length) throw new Error('binary COPY message is not exactly one row');
    this.row.bytes = chunk;
    this.onRow(this.row);
  }
}
