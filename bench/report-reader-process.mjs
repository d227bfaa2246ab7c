// The report benchmark's reader, in a process of its own (as bench/load.mjs is
// for the load): `node bench/report-reader-process.mjs '<spec as JSON>'` streams
// one listing and prints { rows, pages, totalSize, seconds, cpuMicros } as its
// last line.
//
// Why a process of its own: read inside the benchmark's process, the stream's
// CPU was that process's whole CPU — its collector working through everything
// the benchmarks before had left on its heap, its timers and pipes. After a
// full run the lean reader cost 1.38 µs a row over the grown ledger, against
// 0.22–0.56 when the report ran alone, on the same two cores as the service it
// measures (docs/benchmarks.md, "A process of its own for the stream's reader").
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { AccountsServiceClient } from '@alfabet/proto/accounts/v1';
import { timestampOfDate } from '@alfabet/service-kit/timestamps';
import { readReport } from './h2-report-reader.mjs';

const run = promisify(execFile);

/**
 * spec: { address, startTimeMs, endTimeMs?, accountId?, pageSize, deadlineMs, client: 'counted' | 'decoded' }
 * - counted: bench/h2-report-reader.mjs, each page's rows counted, not decoded;
 * - decoded: the generated grpc-js client, every row decoded.
 * Resolves the child's answer; rejects with its error output if it fails.
 */
export async function readReportInProcess(spec) {
  const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(spec)]).catch(
    (error) => {
      throw new Error(`the report reader exited ${error.code}: ${String(error.stderr).trim()}`);
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** The listing the spec asks for, as the request message. */
function requestOf(spec) {
  return {
    pageSize: spec.pageSize,
    pageToken: '',
    snapshotToken: '',
    page: 0,
    accountId: spec.accountId ?? '',
    startTime: timestampOfDate(new Date(spec.startTimeMs)),
    endTime: spec.endTimeMs === undefined ? undefined : timestampOfDate(new Date(spec.endTimeMs)),
  };
}

/** Streams the whole listing through the generated client, every row decoded. */
function streamDecoded(address, request, deadlineMs) {
  const client = new AccountsServiceClient(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 << 20,
  });
  return new Promise((resolve, reject) => {
    let rows = 0;
    let pages = 0;
    let totalSize = 0;
    const stream = client.listTransactions(request, { deadline: Date.now() + deadlineMs });
    stream.on('data', (page) => {
      rows += page.transactions.length;
      pages += 1;
      totalSize = Number(page.totalSize);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve({ rows, pages, totalSize }));
  }).finally(() => client.close());
}

async function main(spec) {
  const request = requestOf(spec);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const listing =
    spec.client === 'decoded'
      ? await streamDecoded(spec.address, request, spec.deadlineMs)
      : await readReport(spec.address, request, spec.deadlineMs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(`${JSON.stringify({ ...listing, seconds, cpuMicros: cpu.user + cpu.system })}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(JSON.parse(process.argv[2])).catch((error) => {
    process.stderr.write(`${error.code !== undefined ? `code ${error.code}: ` : ''}${error.message}\n`);
    process.exit(1);
  });
}
