import { bankBenchmark } from '../bench/bank-bench.mjs';
import { combineRuns } from '../bench/stats.mjs';

/**
 * How the benchmarks whose anchor is the service itself sum their turns
 * (bench/bank-bench.mjs, bench/growth-bench.mjs): a ratio of two loads taken
 * in turns is only as good as the way the turns are added up and ordered, and
 * the bank's money check must span every turn. The loads here are made up —
 * this is the harness's arithmetic, not the ledger (test/bench-harness.test.ts
 * runs the real thing).
 */
const run = (calls: number, seconds: number, extra: Record<string, unknown> = {}) => ({
  calls,
  rps: calls / seconds,
  p50Ms: 1,
  p99Ms: 5,
  maxMs: 9,
  cpuMicrosPerCall: { accountsManager: 100 },
  outcomes: { SUCCESS: calls, FAILED: 0 },
  errors: {},
  ...extra,
});

test('runs are combined by calls over time, CPU weighted by calls, the worst latencies kept', () => {
  const combined = combineRuns([
    run(1_000, 10, { cpuMicrosPerCall: { accountsManager: 100, postgresBackends: 50 }, p99Ms: 7 }),
    run(3_000, 5, {
      cpuMicrosPerCall: { accountsManager: 200 },
      outcomes: { SUCCESS: 2_990, FAILED: 10 },
      errors: { UNAVAILABLE: 2 },
      maxMs: 40,
    }),
  ]);
  expect(combined).toEqual({
    runs: 2,
    calls: 4_000,
    rps: 266.7, // 4 000 calls in 15 s: neither the mean of 100 and 600 a second nor their mean weighted by calls
    p50Ms: 1,
    p99Ms: 7,
    maxMs: 40,
    cpuMicrosPerCall: { accountsManager: 175, postgresBackends: 13 },
    outcomes: { SUCCESS: 3_990, FAILED: 10 },
    errors: { UNAVAILABLE: 2 },
  });
});

/** A bank whose balance and rows move exactly as each bank run's bookkeeping says, unless told otherwise. */
function fakeLedger({ skewMinor = 0n, mismatches = 0 } = {}) {
  const state = { balance: 1_000_000n, rows: 0 };
  const order: string[] = [];
  const load = async ({ mode, repeatRatio }: { mode: string; repeatRatio: number }) => {
    order.push(mode);
    if (mode === 'transfer') {
      expect(repeatRatio).toBe(0);
      return run(4_000, 5);
    }
    expect(repeatRatio).toBe(0.1);
    state.balance -= 250n + skewMinor;
    state.rows += 90;
    const bank = {
      unique: 90,
      replays: 10,
      replayMismatches: mismatches,
      resolvedAfterError: 0,
      netCreditedMinor: '250',
    };
    return run(3_000, 5, { bank });
  };
  return { load, bankState: async () => ({ ...state }), order };
}

const bankBench = (ledger: ReturnType<typeof fakeLedger>, rounds: number) =>
  bankBenchmark({
    load: ledger.load,
    accountsFile: 'unused',
    rounds,
    seconds: 5,
    bankState: ledger.bankState,
    say: () => {},
  });

test('BankTransaction and Transfer take turns, the other first every other round, and are summed over all of them', async () => {
  const ledger = fakeLedger();
  const result = await bankBench(ledger, 4);
  expect(ledger.order).toEqual(['transfer', 'bank', 'bank', 'transfer', 'transfer', 'bank', 'bank', 'transfer']);
  expect(result.runs).toBe(4);
  expect(result.transfer32.runs).toBe(4);
  expect(result.rps).toBe(600);
  expect(result.transfer32.rps).toBe(800);
  expect(result.ratioTransfer32).toBe(0.75);
  expect(result.proof).toEqual({
    bankBalanceChangeMinor: '1000',
    netCreditedByUniqueRequestsMinor: '1000',
    rowsWritten: 360,
    uniqueRequestIds: 360,
    replays: 40,
    replaysAnsweredWithAnotherTransaction: 0,
  });
  expect(result.moneyChecked).toBe(true);
});

test('the money check fails when the bank moved money a request did not, or a replay got another transaction', async () => {
  expect((await bankBench(fakeLedger({ skewMinor: 1n }), 2)).moneyChecked).toBe(false);
  expect((await bankBench(fakeLedger({ mismatches: 1 }), 2)).moneyChecked).toBe(false);
});
