import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench -- --quick` proves the benchmark harness works end to end:
 * the stack starts, every benchmark runs against it, pgbench anchors are
 * measured, the correctness checks the benchmarks carry pass (bank replays
 * moved no money, each advance paid exactly its amount, a healthy book
 * reconciled without a finding, every seeded row archived while transfers ran,
 * ledger:verify on the stack's ledger and on the grown one), and
 * the results JSON and chart are written. No figure is compared with a speed:
 * speed belongs to the benchmark's own output, never to a test.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

test('the benchmark harness runs every benchmark in --quick mode and its correctness checks hold', async () => {
  const resultsDir = mkdtempSync(join(tmpdir(), 'alfabet-bench-results-'));
  try {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolveRun) => {
      const bench = spawn(
        process.execPath,
        [
          join(ROOT, 'bench/bench.mjs'),
          '--quick',
          '--db-suffix',
          process.env.ALFABET_TEST_DB_SUFFIX ?? '',
          '--results-dir',
          resultsDir,
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      bench.stdout.on('data', (chunk) => {
        text += String(chunk);
      });
      bench.stderr.on('data', (chunk) => {
        text += String(chunk);
      });
      bench.once('exit', (exitCode) => resolveRun({ code: exitCode, output: text }));
    });
    // On a failure, the bench's last words (expect.any(String) would hide them in the diff).
    if (code !== 0) console.error(`bench --quick exited with ${code}:\n${output.slice(-3_000)}`);
    expect(code).toBe(0);

    const files = readdirSync(resultsDir).sort();
    expect(files).toEqual([
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}-quick-transfers\.svg$/),
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}-quick\.json$/),
    ]);
    const results = JSON.parse(readFileSync(join(resultsDir, files[1]!), 'utf8'));

    expect(results.checks).toEqual({
      reconciliationHealthy: true,
      bankReplaysMovedNoMoney: true,
      archiveMovedEveryRow: true,
      batchAnswersComplete: true,
      growthLedgerVerify: true,
      advancesLedger: true,
      ledgerVerify: true,
    });
    // Benchmark 1: each caller count measured for both account sets, next to its pgbench anchor.
    for (const row of results.transfers.rows) {
      expect(row.pgbench.tps).toBeGreaterThan(0);
      for (const run of [row.transfers10k, row.transfers10]) {
        expect(run.calls).toBeGreaterThan(0);
        expect(run.errors).toEqual({});
        expect(run.p99Ms).toBeGreaterThanOrEqual(run.p50Ms);
      }
      expect(row.ratio10k).toBeCloseTo(row.transfers10k.rps / row.pgbench.tps, 1);
    }
    // Benchmark 2: the replays happened, and the money proof compared real numbers.
    expect(results.bank.proof.replays).toBeGreaterThan(0);
    expect(results.bank.proof.rowsWritten).toBe(results.bank.proof.uniqueRequestIds);
    expect(results.bank.proof.bankBalanceChangeMinor).toBe(results.bank.proof.netCreditedByUniqueRequestsMinor);
    // The archive's cost: the real command moved the seeded day while Transfer ran, next to the same load alone.
    expect(results.archive).toMatchObject({ rows: results.plan.archive.rows, movedEveryRow: true });
    for (const run of [results.archive.alone, results.archive.duringMove]) {
      expect(run.calls).toBeGreaterThan(0);
      expect(run.p99Ms).toBeGreaterThanOrEqual(run.p50Ms);
    }
    expect(results.archive.move.lockedMs).toBeGreaterThanOrEqual(0);
    expect(results.archive.lockWait.samples).toBeGreaterThan(0);
    expect(output).toMatch(/\| Archive a day of [\d,]+ rows under Transfer ×32 \| while it moved/);
    // …next to Transfer ×32 of the same run.
    expect(results.bank.anchors.transfer32.rps).toBeGreaterThan(0);
    expect(results.bank.ratioTransfer32).toBeCloseTo(results.bank.rps / results.bank.anchors.transfer32.rps, 1);
    // The BatchTransfer line: batches of 100 answered item by item, as transfers/s next to pgbench tpcb-like ×32.
    expect(results.batch).toMatchObject({ batchSize: 100, errors: {}, answersComplete: true });
    expect(results.batch.calls).toBeGreaterThan(0);
    expect(results.batch.transfersPerSecond).toBeCloseTo(results.batch.rps * 100, -1);
    expect(results.batch.anchors.tpcbLike).toMatchObject({ clients: 32 });
    // Benchmark 3: the whole window was streamed, exactly the seeded hot rows and none of the archived ones.
    expect(results.report.rowsInWindow).toBe(results.plan.report.hot);
    expect(results.report.stream.rows).toBe(results.plan.report.hot);
    expect(results.report.stream.anchor.rows).toBe(results.plan.report.hot);
    expect(results.report.verified).toBe(true);
    // Benchmark 6: the grown ledger holds at least its seed, each row with its request id; Transfer ran
    // on it and on the empty one without an error; its report streamed exactly the rows in the window,
    // the same rows COPY read.
    const { growth } = results;
    expect(growth.stored.transactions).toBeGreaterThanOrEqual(results.plan.growth.hot + results.plan.growth.archived);
    expect(growth.stored.requests).toBeGreaterThanOrEqual(results.plan.growth.hot + results.plan.growth.archived);
    // The rounds sent the default time-ordered request ids; one more round each sent random ones.
    expect(results.plan.requestIds).toBe('v7');
    expect(growth.transfers.requestIds).toBe('v7');
    const randomIds = growth.transfers.randomIds;
    // Then the accounts-manager that streamed the window took turns with the grown ledger's own, two rounds each.
    const afterStream = growth.transfers.afterStream;
    expect(afterStream.streamed.wal).toHaveLength(2);
    expect(afterStream.grown.wal).toHaveLength(2);
    const sides = [growth.transfers.grown, growth.transfers.empty, randomIds.grown, randomIds.empty];
    for (const side of [...sides, afterStream.streamed, afterStream.grown]) {
      expect(side.calls).toBeGreaterThan(0);
      // Each round says what PostgreSQL's checkpoints did meanwhile: what its full-page images depend on.
      for (const wal of side.wal) {
        expect(wal.checkpoints).toBeGreaterThanOrEqual(wal.checkpointsForWalSize);
        expect(wal.checkpointsForWalSize).toBeGreaterThanOrEqual(0);
        expect(wal.maxWalSize).toMatch(/^\d+[kMGT]?B$/);
      }
    }
    expect(growth.report.rowsInWindow).toBeGreaterThanOrEqual(results.plan.growth.hot);
    expect(growth.report.stream.rows).toBe(growth.report.rowsInWindow);
    expect(growth.report.stream.anchor.rows).toBe(growth.report.stream.rows);
    // Benchmark 4: every advance repaid, one credit and exactly its amount in debits each.
    expect(results.advances).toMatchObject({ allRepaid: true, repaid: results.plan.advances.count });
    expect(results.advances.ledgerCheck.advancesWithOneCreditAndExactDebits).toBe(results.plan.advances.count);
    expect(results.advances.payments).toBeGreaterThanOrEqual(12 * results.plan.advances.count);
    // …next to its anchor: as many empty workflows of the same shape, run to completion on the same server.
    expect(results.advances.anchor).toMatchObject({
      completed: results.plan.advances.count,
      activities: 13 * results.plan.advances.count,
    });
    // Benchmark 5: both full sweeps checked every seeded advance, the hourly run exactly the
    // ones that paid since, and none raised anything, next to anchors that read the same 3
    // ledger rows per advance.
    const { first, second, hourly } = results.reconciliation.runs;
    for (const run of [first, second]) {
      expect(run).toMatchObject({
        advancesChecked: results.plan.reconciliation.count,
        findingsRaised: 0,
        openFindings: 0,
      });
    }
    expect(hourly.changed).toBe(Math.ceil(results.plan.reconciliation.count / 168));
    expect(hourly).toMatchObject({ advancesChecked: hourly.changed, findingsRaised: 0, openFindings: 0 });
    expect(results.reconciliation.anchors.sql.rows).toBe(3 * results.plan.reconciliation.count);
    expect(results.reconciliation.anchors.stream.rows).toBeGreaterThanOrEqual(3 * results.plan.reconciliation.count);
    // The chart has the three series.
    const svg = readFileSync(join(resultsDir, files[0]!), 'utf8');
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(output).toMatch(/\| Transfer ×8, 10 000 accounts \| [\d.]+\/s/);
  } finally {
    rmSync(resultsDir, { recursive: true, force: true });
  }
}, 300_000);
