/**
 * PostgreSQL snapshots as report tokens carry them ("xmin:xmax:xip,…", the text
 * of pg_snapshot), compared without the database.
 *
 * A transaction x is visible in snapshot S when x < S.xmax and x is not in
 * S.xip (every xid below S.xmin has ended, and S.xip holds only xids from
 * S.xmin on, so x < S.xmin needs no case of its own).
 */
interface Snapshot {
  xmax: bigint;
  xip: Set<bigint>;
}

function parse(text: string): Snapshot {
  const match = /^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$/.exec(text);
  if (!match) throw new Error(`not a pg_snapshot: ${text}`);
  return { xmax: BigInt(match[2]!), xip: new Set(match[3] ? match[3].split(',').map(BigInt) : []) };
}

/**
 * True when every transaction visible in `snapshot` is visible in `bound` too: a
 * listing of `snapshot` needs no row that a copy taken at `bound` lacks. Exact for
 * the transactions' visibility; it cannot tell a transaction that wrote no ledger
 * row, so a snapshot taken after `bound` may be refused though it would have shown
 * the same rows — never the other way round.
 */
export function seesNoMoreThan(snapshot: string, bound: string): boolean {
  const s = parse(snapshot);
  const b = parse(bound);
  // Visible in s and not in b: an xid below s.xmax, not in s.xip, but at or above b.xmax or in b.xip.
  // Every xid from b.xmax up to s.xmax must be in s.xip: more of them than s.xip holds cannot be.
  if (s.xmax - b.xmax > BigInt(s.xip.size)) return false;
  for (let x = b.xmax; x < s.xmax; x++) if (!s.xip.has(x)) return false;
  for (const x of b.xip) if (x < s.xmax && !s.xip.has(x)) return false;
  return true;
}
