import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dropDatabase } from '../bench/accounts-runner.mjs';

/**
 * bench/report-under-load.mjs, briefly: it seeds its ledger, samples first
 * pages before, during and after a load of transfers, and says how many of
 * the window's rows no sealed minute holds. Its figures are the benchmark's
 * to print; this holds only that they are there and follow the load (the rows
 * the load added are in the window, not yet in a sealed minute, and the live
 * counts that stand for them are folded).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

interface Sample {
  label: string;
  p50Ms: number;
  p99Ms: number;
  coldMs: number;
  rows: number;
  unsealed: number;
  liveCountRows: number;
}

test('samples the first page before, under and after a load of transfers', async () => {
  const suffix = `${process.env.ALFABET_TEST_DB_SUFFIX ?? ''}_underload`;
  const args = ['--minutes', '0.2', '--every', '4', '--listings', '3', '--hot', '2000', '--db-suffix', suffix];
  const { stdout } = await run(process.execPath, [join(ROOT, 'bench/report-under-load.mjs'), ...args], {
    cwd: ROOT,
    maxBuffer: 1 << 20,
  });
  const { callers, transfersPerSecond, samples } = JSON.parse(stdout.trim().split('\n').pop()!) as {
    callers: number;
    transfersPerSecond: number;
    samples: Sample[];
  };
  expect(callers).toBe(8);
  expect(transfersPerSecond).toBeGreaterThan(0);
  const labels = samples.map((sample) => sample.label);
  expect(labels[0]).toBe('before the load');
  expect(labels.at(-1)).toBe('after the load');
  expect(labels.filter((label) => label === 'Transfer ×8').length).toBeGreaterThanOrEqual(1);
  const [before, after] = [samples[0]!, samples.at(-1)!];
  for (const sample of samples) {
    expect(sample.p99Ms).toBeGreaterThanOrEqual(sample.p50Ms);
    expect(sample.coldMs).toBeGreaterThan(0);
    expect(sample.unsealed).toBeLessThanOrEqual(sample.rows);
  }
  // 12 s of transfers: every one of them is in the window and in no sealed minute yet (the mark waits 5 minutes;
  // the service's timer may meanwhile seal a minute of the seed's, so the count before is no exact baseline).
  const added = after.rows - before.rows;
  expect(added).toBeGreaterThan(0);
  expect(after.unsealed).toBeGreaterThanOrEqual(added);
  expect(after.unsealed - before.unsealed).toBeLessThanOrEqual(added);
  // Those rows are counted by the live counts, which the service folds every second: a few rows a minute,
  // not a row a posting (the last second's postings may not be folded yet).
  expect(after.liveCountRows).toBeGreaterThan(0);
  expect(after.liveCountRows).toBeLessThan(added / 4);
}, 120_000);

afterAll(async () => {
  await dropDatabase(`alfabet_accounts_bench_reportload${process.env.ALFABET_TEST_DB_SUFFIX ?? ''}_underload`);
});
