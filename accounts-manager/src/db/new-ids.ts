import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/**
 * The ids of new transactions and accounts: UUID version 7 (RFC 9562 §5.7),
 * time-ordered, so a day's rows land at the right edge of their indexes.
 *
 * The `uuid` package lays the bits out; this module only feeds it. Called
 * without options, `v7()` asks the operating system for 16 random bytes per
 * id (`crypto.getRandomValues`), 2.9 % of accounts-manager's CPU under
 * Transfer ×32 (`npm run bench -- --cpu-prof`). Here they come from a pool
 * refilled 256 ids at a time by the same generator. The order of ids made in
 * one process is kept as `v7()` keeps it: a new millisecond starts a 31-bit
 * sequence at a random value, each id within that millisecond adds one, and a
 * sequence that wraps borrows the next millisecond.
 */

const IDS_PER_REFILL = 256;
const pool = new Uint8Array(16 * IDS_PER_REFILL);
let used = IDS_PER_REFILL;
const state = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

/** A new UUID v7, in its canonical text form. */
export function newId(): string {
  if (used === IDS_PER_REFILL) {
    randomFillSync(pool);
    used = 0;
  }
  // The id's 16 random bytes (v7 reads bytes 6–15: the sequence's seed and the random tail).
  const random = pool.subarray(used * 16, (used + 1) * 16);
  used += 1;
  const now = Date.now();
  if (now > state.msecs) {
    state.msecs = now;
    state.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    state.seq = (state.seq + 1) | 0;
    if (state.seq === 0) state.msecs += 1;
  }
  return uuidv7({ random, msecs: state.msecs, seq: state.seq });
}
