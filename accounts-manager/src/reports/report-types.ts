/**
 * A report's vocabulary. Times are microseconds since the Unix epoch (bigint),
 * PostgreSQL's own precision, so a page cursor names a row exactly.
 */

/** What a listing shows: its window and, optionally, one account. */
export interface ReportFilter {
  /** Inclusive start of the window. */
  startUs: bigint;
  /** Exclusive end of the window; null: up to the snapshot. */
  endUs: bigint | null;
  accountId: string | null;
}

/** One listing's frozen set of transactions, as its snapshot_token carries it. */
export interface ReportSnapshot {
  filter: ReportFilter;
  pageSize: number;
  /** pg_current_snapshot() when the listing began, as text ("xmin:xmax:xip,…"). */
  snapshot: string;
  /**
   * The ledger epoch the snapshot was taken in (db/ledger-epochs.sql.ts): its xids are that
   * epoch's cluster's, rows of earlier epochs are in it and rows of later ones are not.
   */
  epoch: number;
  /** That epoch's cluster (system identifier); null for a token from before epochs, read as epoch 1. */
  cluster: string | null;
  /** Transactions in the set; fixed for the life of the snapshot. */
  totalSize: bigint;
  /** When the snapshot was taken (ms since epoch); its tokens expire a TTL later. */
  takenAtMs: number;
}

/** Where a page starts: after the last row of the previous page. */
export interface PageCursor {
  /** The 1-based number of the page that starts here. */
  page: number;
  afterCreateTimeUs: bigint;
  afterTransactionId: string;
}

export function totalPagesOf(snapshot: ReportSnapshot): number {
  return Number((snapshot.totalSize + BigInt(snapshot.pageSize) - 1n) / BigInt(snapshot.pageSize));
}

/** Microseconds since the epoch → the ISO-8601 text PostgreSQL parses to exactly that instant. */
export function isoOfMicros(us: bigint): string {
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const micros = us - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString(); // …SS.mmmZ
  return `${iso.slice(0, -1)}${micros.toString().padStart(3, '0')}Z`;
}

export const microsOfDate = (date: Date): bigint => BigInt(date.getTime()) * 1000n;
