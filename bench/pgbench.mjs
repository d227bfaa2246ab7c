// The anchor: PostgreSQL's own pgbench against the same server in the same
// run. tpcb-like is its built-in TPC-B-like transaction (3 UPDATEs, 1 SELECT,
// 1 INSERT in a transaction: about what a transfer does); the hot-row script
// is the single-row UPDATE limit that any design serialising on one row meets.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { summarize, round } from './stats.mjs';

const run = promisify(execFile);
const PG = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];

/** Creates (once) the pgbench tables at `scale` in `database`. */
export async function initPgbench(database, scale) {
  await run('psql', [...PG, '-d', 'postgres', '-qc', `CREATE DATABASE ${database}`]).catch(() => {
    /* exists */
  });
  const branches = await run('psql', [...PG, '-d', database, '-Atc', 'SELECT count(*) FROM pgbench_branches']).catch(
    () => null,
  );
  if (branches && Number(branches.stdout.trim()) === scale) return;
  await run('pgbench', [...PG, '-i', '-q', '-s', String(scale), database], { maxBuffer: 16 << 20 });
}

/**
 * Runs pgbench for `seconds` with `clients` connections; `script` is
 * "tpcb-like" or "hot-row". Latency percentiles come from its per-transaction log.
 */
export async function runPgbench({ database, clients, seconds, script }) {
  const dir = mkdtempSync(join(tmpdir(), 'alfabet-pgbench-'));
  const scriptArgs =
    script === 'tpcb-like'
      ? ['-b', 'tpcb-like']
      : ['-f', writeScript(dir, 'hot-row.sql', 'UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1;\n')];
  try {
    const { stdout } = await run(
      'pgbench',
      [
        ...PG,
        '-n',
        '-M',
        'prepared',
        '-c',
        String(clients),
        '-j',
        String(Math.min(clients, 2)),
        '-T',
        String(seconds),
        '-l',
        '--log-prefix',
        join(dir, 'log'),
        ...scriptArgs,
        database,
      ],
      { maxBuffer: 16 << 20 },
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1]);
    const latencies = [];
    for (const file of readdirSync(dir).filter((name) => name.startsWith('log'))) {
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
        const fields = line.split(' ');
        if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000); // µs → ms
      }
    }
    const summary = summarize(latencies);
    return { clients, tps: round(tps, 1), p50Ms: summary.p50Ms, p99Ms: summary.p99Ms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeScript(dir, name, text) {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}
