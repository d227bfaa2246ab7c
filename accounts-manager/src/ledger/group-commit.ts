/**
 * Group commit (ACCOUNTS_GROUP_COMMIT, on by default): lone Transfers that
 * arrive together are posted as one call of ledger_post_batch() in its
 * lenient, independent mode, and lone BankTransactions as one call of
 * ledger_post_bank_group() (ledger/group-posting.ts) — one round trip, one
 * database transaction and one commit (one WAL flush) for the whole group
 * instead of one each. That is what lets the ledger post more transfers a
 * second than pgbench's tpcb-like runs transactions (docs/benchmarks.md).
 *
 * How groups form, with no timer: a transfer joins the open group; the open
 * group goes to the database at the end of the current turn of the event loop
 * (so calls that arrived in one read of the sockets go together) as long as
 * fewer than GROUP_COMMIT_IN_FLIGHT groups are in the database; otherwise it
 * goes as soon as one of them is answered. A call alone on an idle ledger
 * waits for nothing; under load, groups grow by themselves to what arrives
 * during one group's round trip.
 *
 * Each caller still gets exactly the answer it would have got alone: its own
 * transaction posted (SUCCESS or FAILED) or replayed by its request_id, or its
 * own error — its key used for another request (ALREADY_EXISTS), an unknown
 * account (NOT_FOUND). No item's failure, business or not, touches another's
 * answer; only an outage of the database itself (the whole statement failing)
 * fails every caller of the group, as it would have failed each alone.
 *
 * Two postings with one request_id never share a group (the second closes the
 * open group and starts the next), so a key is claimed once per statement.
 * Groups are posted concurrently, on connections of their own: two groups
 * holding one key race for it exactly as two lone calls would — one applies
 * the posting, the other replays it, whichever arrived first. Within a group,
 * postings are applied in arrival order.
 */
import type { Posting } from '../db/ledger-post.sql.js';
import type { Posted } from './post-transaction.js';

/**
 * How many groups of one kind may be in the database at once. Measured
 * (docs/benchmarks.md, "Group commit"): 1, 2, 4 and 8 gave the same
 * throughput within noise; 4 keeps most of the pool for everything else.
 */
export const GROUP_COMMIT_IN_FLIGHT = 4;

/** Posts a group in one statement; each posting's own answer (or error) is its promise. */
export type PostGroup = (postings: Posting[]) => Promise<Promise<Posted>[]>;

interface Waiting {
  posting: Posting;
  resolve: (posted: Posted) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private open: Waiting[] = [];
  private openKeys = new Set<string>();
  private scheduled = false;
  private inFlight = 0;

  constructor(
    /** The most postings in one group (MAX_BATCH_SIZE): a full group goes at once. */
    private readonly maxGroup: number,
    private readonly postGroup: PostGroup,
  ) {}

  /** Posts one posting with whatever others arrive with it; resolves or rejects with its own answer. */
  submit(posting: Posting): Promise<Posted> {
    return new Promise<Posted>((resolve, reject) => {
      if (posting.requestId !== null && this.openKeys.has(posting.requestId)) this.flush();
      this.open.push({ posting, resolve, reject });
      if (posting.requestId !== null) this.openKeys.add(posting.requestId);
      if (this.open.length >= this.maxGroup) this.flush();
      else this.scheduleFlush();
    });
  }

  /** At the end of this turn of the event loop, unless every slot is busy (then when one frees). */
  private scheduleFlush(): void {
    if (this.scheduled || this.inFlight >= GROUP_COMMIT_IN_FLIGHT) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight < GROUP_COMMIT_IN_FLIGHT) this.flush();
    });
  }

  /** Closes the open group and posts it; the next posting opens a new one. */
  private flush(): void {
    const group = this.open;
    this.open = [];
    this.openKeys = new Set();
    if (group.length > 0) void this.post(group);
  }

  private async post(group: Waiting[]): Promise<void> {
    this.inFlight++;
    let answers: Promise<Posted>[];
    try {
      answers = await this.postGroup(group.map((waiting) => waiting.posting));
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
      return;
    } finally {
      this.inFlight--;
      if (this.inFlight < GROUP_COMMIT_IN_FLIGHT) this.flush();
    }
    group.forEach((waiting, index) => answers[index]!.then(waiting.resolve, waiting.reject));
  }
}
