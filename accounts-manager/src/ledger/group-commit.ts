/**
 * Group commit (ACCOUNTS_GROUP_COMMIT=on; off by default): lone Transfers that
 * arrive within about a millisecond of each other are posted together, as one
 * call of ledger_post_batch() in its lenient, independent mode — one round
 * trip, one database transaction and one commit (one WAL flush) for the whole
 * group instead of one each.
 *
 * Each caller still gets exactly the answer it would have got alone: its own
 * transaction posted (SUCCESS or FAILED) or replayed by its request_id, or its
 * own error — its key used for another request (ALREADY_EXISTS), an unknown
 * account (NOT_FOUND). No item's failure, business or not, touches another's
 * answer; only an outage of the database itself (the whole statement failing)
 * fails every caller of the group, as it would have failed each alone.
 *
 * Two transfers with one request_id never share a group (the second closes the
 * open group and starts the next), so a key is claimed once per statement.
 * Groups are posted concurrently, on connections of their own: two groups
 * holding one key race for it exactly as two lone calls would — one applies
 * the transfer, the other replays it, whichever arrived first. Within a group,
 * transfers are applied in arrival order.
 */
import type pg from 'pg';
import { callLedgerPostBatch, type BatchItem, type BatchItemOutcome } from '../db/ledger-post-batch.sql.js';
import type { Posting } from '../db/ledger-post.sql.js';
import type { Posted } from './post-transaction.js';

/** How long a group stays open for more transfers after its first. */
export const GROUP_COMMIT_WINDOW_MS = 1;

interface Waiting {
  posting: Posting;
  resolve: (posted: Posted) => void;
  reject: (error: unknown) => void;
}

/** What a group's item answered, as the lone transfer's answer or error (the rules of post-transaction.ts). */
export type ItemAnswer = (posting: Posting, outcome: BatchItemOutcome) => Posted;

export class TransferGroupCommit {
  private open: Waiting[] = [];
  private openKeys = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: pg.Pool,
    /** The most transfers in one group (MAX_BATCH_SIZE): a full group goes at once. */
    private readonly maxGroup: number,
    private readonly answer: ItemAnswer,
  ) {}

  /** Posts one transfer with whatever others arrive within the window; resolves or rejects with its own answer. */
  submit(posting: Posting): Promise<Posted> {
    return new Promise<Posted>((resolve, reject) => {
      if (posting.requestId !== null && this.openKeys.has(posting.requestId)) this.flush();
      this.open.push({ posting, resolve, reject });
      if (posting.requestId !== null) this.openKeys.add(posting.requestId);
      if (this.open.length >= this.maxGroup) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), GROUP_COMMIT_WINDOW_MS);
    });
  }

  /** Closes the open group and posts it; the next transfer opens a new one. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const group = this.open;
    this.open = [];
    this.openKeys = new Set();
    if (group.length > 0) void this.post(group);
  }

  private async post(group: Waiting[]): Promise<void> {
    let outcomes: BatchItemOutcome[];
    try {
      outcomes = await callLedgerPostBatch(this.pool, {
        requestId: null,
        atomic: false,
        lenient: true,
        items: group.map(({ posting }) => itemOf(posting)),
      });
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
      return;
    }
    group.forEach((waiting, index) => {
      try {
        waiting.resolve(this.answer(waiting.posting, outcomes[index]!));
      } catch (error) {
        waiting.reject(error);
      }
    });
  }
}

function itemOf(posting: Posting): BatchItem {
  if (posting.kind !== 'transfer' || posting.srcAccountId === null)
    throw new Error('the group commit posts transfers only');
  return {
    requestId: posting.requestId,
    srcAccountId: posting.srcAccountId,
    dstAccountId: posting.dstAccountId,
    amountMinor: posting.amountMinor,
    direction: posting.direction,
    fromAccountId: posting.fromAccountId,
    toAccountId: posting.toAccountId,
    initiatedBy: posting.initiatedBy,
  };
}
