import { splitIntoInstallments, formatMinorUnits } from '../src/domain/schedule.js';

// Property-style: for many amounts and installment counts, the split adds up
// exactly, no two payments differ by more than one minor unit, the larger
// ones come first, and none is zero.
test('splitIntoInstallments: whole units that add up exactly, remainder spread over the first payments', () => {
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const amounts = [
    1n,
    11n,
    12n,
    13n,
    100n,
    120_007n,
    999_999_999_999n,
    10n ** 12n,
    ...Array.from({ length: 500 }, () => BigInt(Math.floor(random() * 1e12)) + 1n),
  ];
  for (const amount of amounts) {
    for (const installments of [1, 2, 7, 12, 52]) {
      const shares = splitIntoInstallments(amount, installments);
      expect(shares.reduce((a, b) => a + b, 0n)).toBe(amount);
      expect(shares.length).toBe(amount >= BigInt(installments) ? installments : Number(amount));
      expect(shares.every((share) => share > 0n)).toBe(true);
      expect(shares[0]! - shares.at(-1)!).toBeLessThanOrEqual(1n);
      expect([...shares].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).toEqual(shares);
    }
  }
});

test('splitIntoInstallments refuses what cannot be split', () => {
  expect(() => splitIntoInstallments(0n, 12)).toThrow(RangeError);
  expect(() => splitIntoInstallments(-5n, 12)).toThrow(RangeError);
  expect(() => splitIntoInstallments(100n, 0)).toThrow(RangeError);
});

test('formatMinorUnits shows cents as people read them', () => {
  expect(formatMinorUnits(123_456n)).toBe('1,234.56');
  expect(formatMinorUnits('5')).toBe('0.05');
  expect(formatMinorUnits(-100_000_000n)).toBe('-1,000,000.00');
});
