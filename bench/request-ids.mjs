// The request ids the load generator sends. DESIGN §3 asks callers for time-ordered
// ids (UUID version 7, "v7 preferred"); the default follows the contract, made by
// accounts-manager's own generator (accounts-manager/src/db/new-ids.ts: ordered within
// the process, its random bytes drawn 256 ids at a time, not once an id — the load
// generator's CPU is taken from the service's two cores).
// "v4", random ids, is the worse case for the ledger: each lands on a random page
// of the index of every id ever used, and the first change of a page after a
// checkpoint writes the whole page into the WAL (docs/ledger.md#idempotency).
// The growth benchmark measures both.
import { randomUUID } from 'node:crypto';
import { newId } from '../accounts-manager/dist/src/db/new-ids.js';

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
  return kind === 'v7' ? newId : () => randomUUID();
}
