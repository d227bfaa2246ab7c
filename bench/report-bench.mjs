// Benchmark 3: the transactions report on a large window. Each figure is
// printed next to what PostgreSQL itself needs for the same work, measured
// in the same run: the service's first page against the same two statements
// run directly, the stream's rows/s against COPY of the same rows.
import { credentials } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { AccountsServiceClient } from '@alfabet/proto/accounts/v1';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import { takeSnapshot, readPage } from '../accounts-manager/dist/src/db/report-queries.sql.js';
import { maintainReportCounts } from '../accounts-manager/dist/src/db/report-counts.sql.js';
import { readReportInProcess } from './report-reader-process.mjs';
import { cpuSample, cpuSecondsBetween, sampleMemory } from './processes.mjs';
import { summarize, round, ratio } from './stats.mjs';

const WINDOW_MS = 5 * 86_400_000;

/** Time from the call to the first page message (then the stream is cancelled). */
export function firstPage(client, request) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const stream = client.listTransactions(request, { deadline: Date.now() + 30_000 });
    stream.once('data', (page) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      stream.cancel();
      resolve({ ms, totalSize: Number(page.totalSize) });
    });
    stream.once('error', (error) => {
      if (error.code !== 1 /* CANCELLED */) reject(error);
    });
  });
}

/** The listing request without its window and page size. */
export const BASE_REQUEST = {
  pageSize: 0,
  pageToken: '',
  snapshotToken: '',
  page: 0,
  accountId: '',
  endTime: undefined,
};
/** The start of the listed window: the report's 5 days less 30 s (the COPY anchor uses the same bound). */
export const windowStart = () => new Date(Date.now() - WINDOW_MS + 30_000);

export async function reportBenchmark({ address, databaseUrl, pid, listings, say }) {
  const client = new AccountsServiceClient(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 << 20,
  });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    // What the service's own once-a-minute timer has done long before in steady state: seal the finished minutes.
    for (let i = 0; i < 2; i++) await maintainReportCounts(pool, new Date(Date.now() - WINDOW_MS - 3_600_000));
    const { first, firstDirect, totalSize } = await firstPageTimes(client, pool, listings, say);
    const { tenth, half, whole, rowsPerSecond, cpuMicrosPerRow, decodedStream } = await streamedWithMemory(
      { address, pid, database: new URL(databaseUrl).pathname.slice(1) },
      say,
    );
    const copy = await copyAnchor(databaseUrl);
    return {
      rowsInWindow: totalSize,
      firstPage: {
        ...first,
        listings,
        anchor: { what: 'the same SQL straight on PostgreSQL', ...firstDirect },
        ratioP50: ratio(first.p50Ms, firstDirect.p50Ms),
      },
      stream: {
        rows: whole.rows,
        pages: whole.pages,
        seconds: round(whole.seconds),
        rowsPerSecond: Math.round(rowsPerSecond),
        cpuMicrosPerRow,
        reader:
          'bench/h2-report-reader.mjs in a process of its own (report-reader-process.mjs): rows counted, not decoded',
        decodedByGeneratedClient: decodedStream,
        anchor: {
          what: 'psql COPY of the same rows, same order, lines counted',
          rows: copy.rows,
          rowsPerSecond: Math.round(copy.rowsPerSecond),
        },
        ratio: ratio(rowsPerSecond, copy.rowsPerSecond),
      },
      memory: [tenth, half, whole].map((r) => ({ rows: r.rows, ...r.memory })),
    };
  } finally {
    client.close();
    await pool.end();
  }
}

/** Time to first page, the service vs the same statements straight on PostgreSQL. */
async function firstPageTimes(client, pool, listings, say) {
  await firstPage(client, { ...BASE_REQUEST, startTime: timestampOfDate(windowStart()) }); // warm-up
  const service = [];
  const direct = [];
  let totalSize = 0;
  for (let i = 0; i < listings; i++) {
    const answer = await firstPage(client, { ...BASE_REQUEST, startTime: timestampOfDate(windowStart()) });
    service.push(answer.ms);
    totalSize = answer.totalSize;
    const started = process.hrtime.bigint();
    const filter = { startUs: BigInt(windowStart().getTime()) * 1000n, endUs: null, accountId: null };
    const taken = await takeSnapshot(pool, filter);
    // The snapshot's epoch too: without it no row is visible, and PostgreSQL answers an empty page without reading.
    const page = { filter, pageSize: 100, takenAtMs: Date.now(), ...taken };
    let rows = 0;
    await readPage(pool, page, { offset: 0 }, () => rows++);
    if (rows !== 100) throw new Error(`the direct first page held ${rows} rows, not 100`);
    direct.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const first = summarize(service);
  const firstDirect = summarize(direct);
  say(
    `report: first page p50 ${first.p50Ms} ms, p99 ${first.p99Ms} ms over ${listings} listings of ${totalSize.toLocaleString('en')} rows (PostgreSQL alone: p50 ${firstDirect.p50Ms} ms)`,
  );
  return { first, firstDirect, totalSize };
}

/**
 * A tenth, a half, then the whole window at 1000 a page, memory sampled
 * for each: the peak must level off, not follow the report's size. Each
 * stream is read by a process of its own (bench/report-reader-process.mjs),
 * whose CPU is its own: not this process's heap, timers and pipes.
 */
async function streamedWithMemory({ address, pid, database }, say) {
  const spec = (fraction, client = 'counted') => ({
    address,
    client,
    pageSize: 1000,
    deadlineMs: 600_000,
    startTimeMs: (fraction === 1 ? windowStart() : new Date(Date.now() - WINDOW_MS * fraction)).getTime(),
  });
  const measured = async (fraction) => {
    const sampler = sampleMemory({ accounts: pid });
    const streamed = await readReportInProcess(spec(fraction));
    if (streamed.rows !== streamed.totalSize)
      throw new Error(`streamed ${streamed.rows} rows of ${streamed.totalSize}`);
    return { ...streamed, memory: sampler.stop().accounts };
  };
  const tenth = await measured(0.1);
  const half = await measured(0.5);
  // CPU per row of the whole window: accounts-manager, its PostgreSQL backends and the reader (µs, as for calls).
  const before = cpuSample({ accountsManager: pid }, database);
  const whole = await measured(1);
  const cpuMicrosPerRow = {
    ...cpuPerRow(before, cpuSample({ accountsManager: pid }, database), whole.rows),
    reader: round(whole.cpuMicros / whole.rows, 2),
  };
  const rowsPerSecond = whole.rows / whole.seconds;
  say(
    `report: streamed ${whole.rows.toLocaleString('en')} rows in ${whole.pages} pages at ${Math.round(rowsPerSecond).toLocaleString('en')} rows/s; accounts-manager RSS peak ${tenth.memory.peakMiB} / ${half.memory.peakMiB} / ${whole.memory.peakMiB} MiB streaming ${[tenth, half, whole].map((r) => r.rows.toLocaleString('en')).join(' / ')} rows`,
  );
  say(
    `report: CPU per streamed row: accounts-manager ${cpuMicrosPerRow.accountsManager} µs, its PostgreSQL backends ${cpuMicrosPerRow.postgresBackends} µs, the reader ${cpuMicrosPerRow.reader} µs`,
  );
  // The same window once more through the generated client, which decodes every row: printed, not the ratio's figure.
  const decoded = await readReportInProcess(spec(1, 'decoded'));
  const decodedStream = {
    rows: decoded.rows,
    rowsPerSecond: Math.round(decoded.rows / decoded.seconds),
    readerMicrosPerRow: round(decoded.cpuMicros / decoded.rows, 2),
  };
  say(
    `report: the same window through the generated client, every row decoded: ${decodedStream.rowsPerSecond.toLocaleString('en')} rows/s, the reader ${decodedStream.readerMicrosPerRow} µs of CPU a row`,
  );
  return { tenth, half, whole, rowsPerSecond, cpuMicrosPerRow, decodedStream };
}

/** Microseconds of CPU per row, to a hundredth (a row costs far less than a call). */
function cpuPerRow(before, after, rows) {
  const used = cpuSecondsBetween(before, after);
  return {
    accountsManager: round((used.accountsManager * 1e6) / rows, 2),
    postgresBackends: round(((used.postgresBackends ?? 0) * 1e6) / rows, 2),
  };
}

/** PostgreSQL's own streaming rate for the same rows in the same order. */
async function copyAnchor(databaseUrl) {
  const copyStarted = process.hrtime.bigint();
  const rows = await countCopiedRows(
    databaseUrl,
    `COPY (SELECT transaction_id, create_time, kind, src_account_id, dst_account_id, amount, direction, description, status, failure_reason, failure_message, initiated_by
             FROM transactions WHERE create_time >= now() - interval '5 days' + interval '30 seconds'
             ORDER BY create_time DESC, transaction_id DESC) TO STDOUT`,
  );
  const seconds = Number(process.hrtime.bigint() - copyStarted) / 1e9;
  return { rows, rowsPerSecond: rows / seconds };
}

/** Runs a COPY … TO STDOUT through psql and counts the lines it streams. */
function countCopiedRows(databaseUrl, sql) {
  return new Promise((resolve, reject) => {
    const psql = spawn('psql', ['-d', databaseUrl, '-Atc', sql], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    psql.stdout.on('data', (chunk) => {
      for (const byte of chunk) if (byte === 10) lines += 1;
    });
    psql.once('error', reject);
    psql.once('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`psql COPY exited ${code}`))));
  });
}
