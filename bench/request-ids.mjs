// The request ids the load generator sends. DESIGN §3 asks callers for time-ordered
// ids (UUID version 7, "v7 preferred") and accounts-manager makes its own ids that
// way (accounts-manager/src/db/new-ids.ts); the default follows the contract.
// "v4", random ids, is the worse case for the ledger: each lands on a random page
// of the index of every id ever used, and the first change of a page after a
// checkpoint writes the whole page into the WAL (docs/ledger.md#idempotency).
// The growth benchmark measures both.
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

export const REQUEST_ID_KINDS = ['v7', 'v4'];
export const DEFAULT_REQUEST_IDS = 'v7';

/** Throws unless `kind` is one of REQUEST_ID_KINDS; `flag` names where it came from. */
export function assertRequestIds(kind, flag) {
  if (!REQUEST_ID_KINDS.includes(kind))
    throw new Error(`${flag} must be one of ${REQUEST_ID_KINDS.join(', ')}, not ${JSON.stringify(kind)}`);
}

/** A function that makes a new request id of `kind` at each call. */
export function requestIdMaker(kind) {
  assertRequestIds(kind, 'requestIds');
  return kind === 'v7' ? () => uuidv7() : () => randomUUID();
}
