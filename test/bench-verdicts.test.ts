import { describeVerdict, TARGETS, targetVerdicts } from '../bench/target-verdicts.mjs';

/**
 * How `npm run bench` judges its targets (bench/target-verdicts.mjs): on the
 * unrounded figures, so a ratio the table prints as the bound itself can still
 * be a miss. The results are made up, shaped as bench.mjs records them.
 */
const transfersRow = (callers: number, rps: number, tps: number, extra: Record<string, unknown> = {}) => ({
  callers,
  transfers10k: { rps, p99Ms: 18 },
  transfers10: { rps },
  pgbench: { tps },
  ...extra,
});

const growth = (grownRps: number, emptyRps: number) => ({
  transfers: { grown: { rps: grownRps }, empty: { rps: emptyRps } },
  report: { firstPage: { p99Ms: 13.8 }, stream: { rowsPerSecond: 466_341, anchor: { rowsPerSecond: 623_197 } } },
});

const verdictOf = (results: object, target: string) =>
  targetVerdicts(results, TARGETS).find((v) => v.target === target);

test('a grown ledger at 0.8975× of the empty one misses "within 10 %", though the table rounds it to 0.9×', () => {
  const missed = verdictOf({ growth: growth(4286.4, 4776) }, 'Transfer ×32 on the grown ledger vs the empty one');
  expect(missed).toMatchObject({ bound: '≥ 0.9×', met: false });
  expect(describeVerdict(missed!)).toBe('Transfer ×32 on the grown ledger vs the empty one: 0.8975× (≥ 0.9×): MISSED');
  const met = verdictOf({ growth: growth(4299, 4776) }, 'Transfer ×32 on the grown ledger vs the empty one');
  expect(met).toMatchObject({ met: true });
});

test('bounds are inclusive and each side of a bound is judged the right way', () => {
  const results = {
    transfers: {
      rows: [
        transfersRow(8, 700, 1_000),
        transfersRow(32, 1_199, 1_000, { transfers10k: { rps: 1_199, p99Ms: 25 } }),
        transfersRow(128, 5_000, 1_000, { memory: { accounts: { peakMiB: 200.1 } } }),
      ],
    },
    advances: { worker: { peakMiB: 400 } },
  };
  const verdicts = targetVerdicts(results, TARGETS);
  expect(verdicts.map((v) => [v.target, v.met])).toEqual([
    ['Transfer ×8 vs pgbench tpcb-like', true], // exactly 0.7×
    ['Transfer ×32 vs pgbench tpcb-like', false], // 1.199× < 1.2×
    ['Transfer ×32 p99', true], // exactly 25 ms
    ['Transfer ×32 on 10 hot accounts vs pgbench tpcb-like', true],
    ['accounts-manager RSS under Transfer ×128', false], // 200.1 MiB > 200 MiB
    ['advances worker RSS with advances in flight', true], // exactly 400 MiB
  ]);
  expect(describeVerdict(verdicts[4]!)).toBe('accounts-manager RSS under Transfer ×128: 200.1 MiB (≤ 200 MiB): MISSED');
});

test('every benchmark of the full plan has its verdicts; a benchmark not taken has none', () => {
  const full = {
    transfers: { rows: [transfersRow(32, 4_540, 2_624)] },
    bank: { rps: 3_753, anchors: { transfer32: { rps: 3_956.6 } } },
    batch: { transfersPerSecond: 16_780, anchors: { tpcbLike: { tps: 2_510.1 } } },
    report: { firstPage: { p99Ms: 14.9 }, stream: { rowsPerSecond: 582_212 } },
    growth: growth(4_776, 4_776),
    advances: { worker: { peakMiB: 352 } },
    reconciliation: { ratios: { hourlyVsSql: 0.6 } },
  };
  const verdicts = targetVerdicts(full, TARGETS);
  expect(verdicts).toHaveLength(12);
  expect(verdicts.every((v) => v.met)).toBe(true);
  expect(targetVerdicts({ bank: full.bank }, TARGETS).map((v) => v.target)).toEqual([
    'BankTransaction ×32 vs Transfer ×32 in turn',
  ]);
  expect(targetVerdicts({}, TARGETS)).toEqual([]);
});
