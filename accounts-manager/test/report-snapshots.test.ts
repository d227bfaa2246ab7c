import { seesNoMoreThan } from '../src/reports/snapshots.js';

/**
 * seesNoMoreThan(token, backup): whether a report token's snapshot sees only
 * transactions a backup's snapshot saw too — what decides, on a restored
 * ledger, whether a token of the backup's epoch can still be answered.
 * Snapshots are pg_snapshot text, "xmin:xmax:xip,…".
 */
const BACKUP = '102:110:102,107'; // sees every xid below 110 but 102 and 107

it.each<[string, string, boolean]>([
  ['the same snapshot', BACKUP, true],
  ['a snapshot taken before it (102 still running, 105 not yet begun)', '100:105:102', true],
  ['one taken later in which 102 and 107 still run and 110 too', '102:111:102,107,110', true],
  ['one that saw 107 commit', '102:110:102', false],
  ['one that saw 110 commit (beyond the backup)', '102:111:102,107', false],
  ['one that saw 111 commit though 110 still runs', '102:112:102,107,110', false],
  ['one taken long after it', '2000000:2000000:', false],
])('%s', (_name, token, expected) => {
  expect(seesNoMoreThan(token, BACKUP)).toBe(expected);
});

it('answers across a gap of four billion xids (a walk xid by xid would outlast the test)', () => {
  expect(seesNoMoreThan('5000000000:9000000000:5000000000', '5:10:')).toBe(false);
});

it('refuses text that is no snapshot', () => {
  expect(() => seesNoMoreThan('1:2', BACKUP)).toThrow(/not a pg_snapshot/);
});
