// Benchmark: BatchTransfer (batches of 100 independent transfers). bench.mjs
// calls it with its own `load` (bench/load.mjs in a process of its own) and
// pgbench runner.

/** What one BatchTransfer call carries. */
export const BATCH_SIZE = 100;
/**
 * Concurrent batch callers: 4 × 100 = 400 transfers in flight, 12 times what Transfer ×32 keeps in
 * flight. More callers mostly wait for each other: two batches of 100 random transfers over the
 * 10 000 accounts share an account ~96 % of the time, and one batch holds its accounts until it
 * commits (measured on ledger_post_batch() alone with pgbench: 2–4 concurrent batches did best, 8
 * a third fewer batches/s). `--batch-callers N` measures another count.
 */
export const BATCH_CALLERS_DEFAULT = 4;
export const BATCH_TARGETS = {
  /** Transfers/s through BatchTransfer against pgbench tpcb-like ×32 transactions/s. */
  batchRatioTpcb: 5,
};

/**
 * Transfers/s through BatchTransfer (atomic = false, 100 random transfers over
 * the 10 000 accounts each), against pgbench tpcb-like ×32 measured just before
 * it (on a shared machine the load changes by the minute; the transfers
 * benchmark's ×32 anchor is minutes older).
 */
export async function batchBenchmark({ load, accountsFile, callers, seconds, tpcb, say }) {
  const run = await load({ mode: 'batch', callers, accountsFile, seconds, batchSize: BATCH_SIZE });
  const transfersPerSecond = Math.round(run.rps * BATCH_SIZE);
  const ratioTpcb = tpcb.tps ? Math.round((transfersPerSecond / tpcb.tps) * 100) / 100 : null;
  say(
    `BatchTransfer ×${callers} (${BATCH_SIZE} transfers each): ${run.rps} batches/s = ${transfersPerSecond} transfers/s, p99 ${run.p99Ms} ms per batch; pgbench tpcb-like ×${tpcb.clients}: ${tpcb.tps}/s (${ratioTpcb}×)`,
  );
  return {
    callers,
    batchSize: BATCH_SIZE,
    ...run,
    transfersPerSecond,
    anchors: { tpcbLike: tpcb },
    ratioTpcb,
    target: BATCH_TARGETS.batchRatioTpcb,
    answersComplete: run.batch.itemMismatches === 0,
  };
}

/** The BatchTransfer line of the results table. */
export function batchRow(row, b) {
  row(
    `BatchTransfer ×${b.callers}, ${b.batchSize} transfers a batch, atomic = false, 10 000 accounts`,
    `${b.transfersPerSecond}/s transfers (${b.rps} batches/s), p50 ${b.p50Ms} ms, p99 ${b.p99Ms} ms a batch`,
    `pgbench tpcb-like ×${b.anchors.tpcbLike.clients}: ${b.anchors.tpcbLike.tps}/s`,
    `${b.ratioTpcb}×`,
    `≥ ${b.target}×`,
  );
}
