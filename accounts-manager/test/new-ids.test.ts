import { validate, version } from 'uuid';
import { newId } from '../src/db/new-ids.js';

/** The 48-bit Unix milliseconds at the front of a v7 id. */
const msecsOf = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);

describe('newId: the ids of new transactions and accounts', () => {
  it('makes RFC 9562 version 7 ids, strictly ascending and distinct, across many pool refills', () => {
    const before = Date.now();
    // 20 000 ids: 78 refills of the 256-id random pool, most of them within one millisecond of each other.
    const ids = Array.from({ length: 20_000 }, () => newId());
    const after = Date.now();
    for (const id of ids) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect('89ab').toContain(id[19]); // the RFC 4122 variant bits, 10xx
    }
    expect(new Set(ids).size).toBe(ids.length);
    const outOfOrder = ids.findIndex((id, i) => i > 0 && ids[i - 1]! >= id);
    expect(outOfOrder).toBe(-1);
    // A wrapped sequence may borrow a millisecond ahead; never one behind.
    expect(msecsOf(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(msecsOf(ids.at(-1)!)).toBeLessThanOrEqual(after + 1);
  });

  it('draws fresh randomness for every id: the random tails of 20 000 ids are distinct', () => {
    const tails = Array.from({ length: 20_000 }, () => newId().slice(24));
    expect(new Set(tails).size).toBe(tails.length);
  });
});
