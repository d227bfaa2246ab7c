// Benchmark 2: BankTransaction ×32 with 10 % replayed request ids against
// Transfer ×32 on the same 10 000 accounts — the bank's side of issue 13 (no
// hot bank row). The two loads take turns, round after round (Transfer then
// BankTransaction, then the other way round, …), each summed over its rounds:
// on a shared two-core machine one 10 s run followed by another moved their
// ratio between 0.87 and 1.11, wider than the target's margin
// (docs/benchmarks.md, session 20); four turns of 5 s each, rather than two
// of 10 s, put both loads through more of the machine's swings in the same
// time. bench.mjs passes its own `load` (bench/load.mjs in a process of its
// own) and reads the bank's state for the money check.
import { describeCpuPerCall } from './processes.mjs';
import { combineRuns, ratio } from './stats.mjs';

export const BANK_CALLERS = 32;
/** Issue 13: BankTransaction ×32 against Transfer ×32, both on the 10 000 accounts. */
export const BANK_TARGET_VS_TRANSFER32 = 0.9;
const REPLAY_RATIO = 0.1;

/**
 * `rounds` rounds of `seconds` of each load, alternating which goes first. The money check spans
 * them all: from before the first round to after the last, the bank's balance (bankState()) moved
 * by exactly what the unique requests that succeeded moved, one row was written per unique request
 * id, and every replay was answered with its first answer's transaction — the Transfer rounds in
 * between touch neither the bank's balance nor its rows.
 */
export async function bankBenchmark({ load, accountsFile, rounds, seconds, bankState, say }) {
  const runs = { transfer: [], bank: [] };
  const before = await bankState();
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? ['transfer', 'bank'] : ['bank', 'transfer']) {
      const repeatRatio = mode === 'bank' ? REPLAY_RATIO : 0;
      const run = await load({ mode, callers: BANK_CALLERS, accountsFile, seconds, repeatRatio });
      runs[mode].push(run);
      say(
        `bank round ${round + 1}: ${mode === 'bank' ? 'BankTransaction' : 'Transfer'} ×${BANK_CALLERS} ${run.rps}/s p99 ${run.p99Ms} ms; CPU per call: ${describeCpuPerCall(run.cpuMicrosPerCall)}`,
      );
    }
  }
  const after = await bankState();
  const bank = { ...combineRuns(runs.bank), bank: replaysOf(runs.bank) };
  const transfer32 = combineRuns(runs.transfer);
  const proof = {
    bankBalanceChangeMinor: String(before.balance - after.balance),
    netCreditedByUniqueRequestsMinor: bank.bank.netCreditedMinor,
    rowsWritten: after.rows - before.rows,
    uniqueRequestIds: bank.bank.unique,
    replays: bank.bank.replays,
    replaysAnsweredWithAnotherTransaction: bank.bank.replayMismatches,
  };
  const moneyChecked =
    proof.bankBalanceChangeMinor === proof.netCreditedByUniqueRequestsMinor &&
    proof.rowsWritten === proof.uniqueRequestIds &&
    proof.replaysAnsweredWithAnotherTransaction === 0;
  return {
    ...bank,
    proof,
    moneyChecked,
    transfer32,
    ratioTransfer32: ratio(bank.rps, transfer32.rps),
    rounds: runs,
  };
}

/** The bank runs' replay bookkeeping (bench/load.mjs, bank mode) added up; money as exact minor units. */
function replaysOf(runs) {
  const sum = (field) => runs.reduce((total, run) => total + run.bank[field], 0);
  return {
    unique: sum('unique'),
    replays: sum('replays'),
    replayMismatches: sum('replayMismatches'),
    resolvedAfterError: sum('resolvedAfterError'),
    netCreditedMinor: String(runs.reduce((total, run) => total + BigInt(run.bank.netCreditedMinor), 0n)),
  };
}
