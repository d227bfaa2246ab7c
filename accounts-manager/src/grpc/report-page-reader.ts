import type pg from 'pg';
import { readPage, readRowsAfter, type PagePosition } from '../db/report-queries.sql.js';
import type { BinaryRow } from '../db/binary-copy-out.sql.js';
import type { ReportSnapshot } from '../reports/report-types.js';
import { ReportPageWriter, type PageCursor } from './report-page-wire.js';

/** The most rows one read asks for: its planning (~1.5 ms) is then a few per cent of it. */
export const READ_ROWS_MAX = 16_000;
/** A read asks for no more pages than this many bytes of them, as the pages read so far weigh. */
export const READ_BYTES_MAX = 4 * 1024 * 1024;

/**
 * A listing's pages, read from PostgreSQL ahead of the stream that sends them.
 *
 * The first page is one call of report_page() (or report_account_page()),
 * whose statement is planned once a session: the quickest way to a first page
 * of any size, or to page N by its offset. After it, a whole-window listing
 * reads many pages at once with one plain statement (db readRowsAfter): it is
 * planned at every execution, about a millisecond, but it has no result store
 * — its rows leave PostgreSQL as the index walk finds them, so PostgreSQL
 * finds rows while this process writes the ones before, where report_page()
 * computes a whole page before its first row leaves and the two take turns
 * (docs/benchmarks.md, "Session 19").
 *
 * How far ahead: a read starts when at most one page is left for the stream,
 * and asks for as many pages as the read before it, twice as many if the
 * stream had to wait for a page meanwhile (the database was the slower side),
 * up to READ_ROWS_MAX rows and READ_BYTES_MAX bytes. A client that reads
 * slowly never makes reads grow, so memory stays within one read's pages; one that
 * keeps up soon gets reads long enough that their planning costs little. Each
 * read is one autocommit statement that runs at the database's pace and never
 * waits for the client: no statement stays open on a slow reader.
 *
 * One account's listings read a page a call: report_account_page() merges its
 * two per-account index walks, which one plain statement of many pages would
 * have to plan at every read; they are seldom long.
 */
export class ReportPageReader {
  private readonly pages: ReportPageWriter[] = [];
  private filling = new ReportPageWriter();
  /** The last row of the last full page: where the next read starts. */
  private cursor: PageCursor | null = null;
  /** Rows of the listing no read has asked for yet. */
  private rowsLeft: number;
  private pagesARead = 1;
  private reading = false;
  /** A read gave fewer rows than it asked for: the end (or rows gone), nothing more to read. */
  private exhausted = false;
  private failure: Error | null = null;
  private closed = false;
  /** The bytes of the last full page: what the next read's pages will weigh, about. */
  private lastPageBytes = 0;
  /** The stream waited for a page while a read was under way. */
  private starved = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly snapshot: ReportSnapshot,
    firstPage: number,
    position: PagePosition,
    /** Counts each page read from the database (ledger_report_pages_total). */
    private readonly pagesRead: { inc(): void } = { inc: () => undefined },
  ) {
    const rowsBefore = BigInt(firstPage - 1) * BigInt(snapshot.pageSize);
    this.rowsLeft = Number(snapshot.totalSize > rowsBefore ? snapshot.totalSize - rowsBefore : 0n);
    this.read(snapshot.pageSize, (onRow) => readPage(pool, snapshot, position, onRow));
  }

  /**
   * The next page: full, except the listing's last — or a page cut short (or
   * empty) when rows of the snapshot are gone, which the caller tells apart
   * from the end by the snapshot's page count.
   */
  async next(): Promise<ReportPageWriter> {
    for (;;) {
      const page = this.pages.shift();
      if (page) {
        this.readAhead();
        return page;
      }
      if (this.failure) throw this.failure;
      if (!this.reading) this.readAhead();
      if (!this.reading) {
        const last = this.filling;
        this.filling = new ReportPageWriter();
        return last;
      }
      this.starved = true;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Starts no more reads; one under way finishes on its own and gives its connection back. */
  close(): void {
    this.closed = true;
  }

  /** Starts the next read if the stream is down to its last page and rows are left to read. */
  private readAhead(): void {
    if (this.reading || this.closed || this.failure || this.exhausted || this.rowsLeft <= 0) return;
    if (this.pages.length > 1 || !this.cursor) return;
    if (this.starved) this.pagesARead = Math.min(this.pagesARead * 2, this.mostPagesARead());
    this.starved = false;
    const rows = Math.min(this.pagesARead * this.snapshot.pageSize, this.rowsLeft);
    const cursor = this.cursor;
    this.read(rows, (onRow) =>
      rows <= this.snapshot.pageSize
        ? readPage(this.pool, this.snapshot, { after: cursor }, onRow)
        : readRowsAfter(this.pool, this.snapshot, cursor, rows, onRow),
    );
  }

  /** Whole-window listings only, by READ_ROWS_MAX and the bytes of the last full page. */
  private mostPagesARead(): number {
    if (this.snapshot.filter.accountId) return 1;
    const byRows = Math.floor(READ_ROWS_MAX / this.snapshot.pageSize);
    const byBytes = this.lastPageBytes > 0 ? Math.floor(READ_BYTES_MAX / this.lastPageBytes) : byRows;
    return Math.max(1, Math.min(byRows, byBytes));
  }

  private read(rows: number, reading: (onRow: (row: BinaryRow) => void) => Promise<void>): void {
    const pageSize = this.snapshot.pageSize;
    this.rowsLeft -= rows;
    this.reading = true;
    let got = 0;
    const onRow = (row: BinaryRow) => {
      got++;
      this.filling.add(row);
      if (this.filling.rows === pageSize) this.pageFilled();
    };
    reading(onRow).then(
      () => {
        this.reading = false;
        if (got < rows) this.exhausted = true;
        // The listing's last page, or one cut short: no read will add to it.
        if ((this.exhausted || this.rowsLeft <= 0) && this.filling.rows > 0) this.pageFilled();
        this.readAhead();
        this.wakeUp();
      },
      (error: Error) => {
        this.reading = false;
        this.failure = error;
        this.wakeUp();
      },
    );
  }

  private pageFilled(): void {
    this.pagesRead.inc();
    this.cursor = this.filling.lastRow();
    this.lastPageBytes = this.filling.bytes;
    this.pages.push(this.filling);
    this.filling = new ReportPageWriter();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
