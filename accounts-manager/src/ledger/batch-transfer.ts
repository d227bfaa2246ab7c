/**
 * BatchTransfer (DESIGN.md §3): up to MAX_BATCH_SIZE transfers in one call, in
 * request order, each exactly as if it had been sent alone with its own
 * request_id — checked as a lone Transfer is, replayed by its key as a lone
 * Transfer is (and a lone Transfer with an item's key replays the item).
 * atomic = false: each item succeeds or fails on its own; atomic = true: if
 * any item would fail, nothing moves and every item is stored FAILED (the
 * culprit with its reason, the others FAILURE_REASON_BATCH_ABORTED).
 *
 * Anything wrong with the request as a whole stores nothing: an empty or
 * oversize batch, a bad field in any item (named `transfers[3].amount`), two
 * items with one request_id, an item naming an unknown account (NOT_FOUND,
 * naming the item's field), an item's request_id used before for another
 * request (ALREADY_EXISTS, naming the item). A lone Transfer with an unknown
 * account also stores nothing; in a batch the same item makes the whole
 * batch store nothing, so a caller never has to work out which half of a
 * batch happened. An item replayed by its key is answered with what its key
 * recorded and takes no part beyond that — except that in an atomic batch an
 * item replayed as FAILED means the batch cannot all succeed, so the new
 * items are aborted.
 *
 * The whole batch is one statement, ledger_post_batch() (db/ledger-post-batch.sql.ts).
 */
import { alreadyExists, FieldError, invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import { DependencyUnavailable } from '@alfabet/service-kit/service-errors';
import {
  BatchAccountNotFound,
  BatchKeyConflict,
  BatchReplayArchiving,
  callLedgerPostBatch,
  type BatchItem,
} from '../db/ledger-post-batch.sql.js';
import type { Posting } from '../db/ledger-post.sql.js';
import { transferPosting, type LedgerDeps, type TransferCommand } from './post-transaction.js';
import type { LedgerTransaction } from './types.js';

export interface BatchLedgerDeps extends LedgerDeps {
  /** MAX_BATCH_SIZE: the most transfers one BatchTransfer may hold. */
  maxBatchSize: number;
}

export interface BatchTransferCommand {
  /** The batch's own idempotency key: a repeat replays the whole answer. */
  requestId: string | null;
  atomic: boolean;
  transfers: TransferCommand[];
}

export interface BatchPosted {
  /** One per item, in request order. */
  transactions: LedgerTransaction[];
  /** Per item: answered from what its key (or the batch's) recorded earlier, moving nothing now. */
  replayed: boolean[];
}

/** The request's name for a field of item `index`: transfers[3].amount. */
export const itemField = (index: number, field: string) => `transfers[${index}].${field}`;

/** Runs the checks of item `index`; a field error they raise names the field within the item. */
export function withinItem<T>(index: number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof FieldError)) throw error;
    const reason = error.message.slice(error.field.length + 2);
    throw new FieldError(error.kind, itemField(index, error.field), reason);
  }
}

/** An empty batch or one beyond MAX_BATCH_SIZE is refused before any item is read. */
export function checkBatchSize(count: number, maxBatchSize: number): void {
  if (count === 0) throw invalidArgument('transfers', 'must hold at least one transfer');
  if (count > maxBatchSize)
    throw invalidArgument('transfers', `must hold at most ${maxBatchSize} transfers (MAX_BATCH_SIZE), got ${count}`);
}

export async function batchTransfer(deps: BatchLedgerDeps, command: BatchTransferCommand): Promise<BatchPosted> {
  checkBatchSize(command.transfers.length, deps.maxBatchSize);
  const items = command.transfers.map((transfer, index) =>
    batchItemOf(withinItem(index, () => transferPosting(transfer, deps.maxAmountMinor))),
  );
  checkDistinctKeys(items);
  try {
    const outcomes = await callLedgerPostBatch(deps.pool, {
      requestId: command.requestId,
      atomic: command.atomic,
      lenient: false,
      items,
    });
    return {
      transactions: outcomes.map((answer) => {
        if (!('transaction' in answer))
          throw new Error(`ledger_post_batch answered ${answer.outcome} outside lenient mode`);
        return answer.transaction;
      }),
      replayed: outcomes.map((answer) => answer.outcome === 'replayed'),
    };
  } catch (error) {
    throw batchFieldError(error, items);
  }
}

/** A transfer's posting as an item of ledger_post_batch() (a BatchTransfer's, or a group commit's). */
export function batchItemOf(posting: Posting): BatchItem {
  if (posting.kind !== 'transfer' || posting.srcAccountId === null)
    throw new Error('ledger_post_batch posts transfers only');
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

/** Two items with one key could not both be "as if sent alone": the second would replay the first. */
function checkDistinctKeys(items: BatchItem[]): void {
  const firstWith = new Map<string, number>();
  items.forEach((item, index) => {
    if (item.requestId === null) return;
    const first = firstWith.get(item.requestId);
    if (first !== undefined)
      throw invalidArgument(
        itemField(index, 'request_id'),
        `repeats transfers[${first}].request_id: every transfer of a batch needs a request_id of its own`,
      );
    firstWith.set(item.requestId, index);
  });
}

/** ledger_post_batch()'s refusals as the field errors the caller is told (nothing was stored). */
function batchFieldError(error: unknown, items: BatchItem[]): unknown {
  if (error instanceof BatchAccountNotFound) {
    const item = items[error.index];
    const field = item?.srcAccountId === error.accountId ? 'src_account_id' : 'dst_account_id';
    return notFound(itemField(error.index, field), `no account ${error.accountId}`);
  }
  if (error instanceof BatchKeyConflict) {
    if (error.index === null)
      return alreadyExists('request_id', 'was already used for another batch; use a new request_id');
    return alreadyExists(
      itemField(error.index, 'request_id'),
      `was already used for another request (transaction ${error.transactionId}); use a new request_id`,
    );
  }
  if (error instanceof BatchReplayArchiving)
    return new DependencyUnavailable(
      "an item's earlier transaction is being archived; retry the batch with the same request_ids",
    );
  return error;
}
