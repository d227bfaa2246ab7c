import { validate, version } from 'uuid';
import { REQUEST_ID_KINDS, requestIdMaker } from '../bench/request-ids.mjs';

/**
 * The load generator's request ids (bench/request-ids.mjs): "v7" must be what
 * DESIGN §3 asks of callers — ids that sort in the order they were made, which
 * is what keeps the ledger's index of request ids writing at its right edge —
 * and "v4" random ones, the worse case the growth benchmark measures beside it.
 */
test('v7 ids are UUID version 7 and sort in the order they were made, within a millisecond too', () => {
  const next = requestIdMaker('v7');
  const ids = Array.from({ length: 5_000 }, next);
  for (const id of ids) {
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
  }
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(ids);
});

test('v4 ids are random UUID version 4: a run of them is not in order', () => {
  const next = requestIdMaker('v4');
  const ids = Array.from({ length: 1_000 }, next);
  for (const id of ids) expect(version(id)).toBe(4);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).not.toEqual(ids);
});

test('an unknown kind is refused, naming the kinds there are', () => {
  expect(REQUEST_ID_KINDS).toEqual(['v7', 'v4']);
  expect(() => requestIdMaker('v5')).toThrow('requestIds must be one of v7, v4, not "v5"');
});
