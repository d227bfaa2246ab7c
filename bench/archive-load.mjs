// Transfer load for the archive benchmark: a process of its own, N callers
// through the generated gRPC client, as bench/load.mjs drives it, but it runs
// until its stdin closes (the benchmark closes it once the archive is done)
// and reports every call after the warm-up with its start time, so the calls
// made while a partition moved can be picked out.
//
//   node bench/archive-load.mjs <spec.json>   spec: { address, callers, warmupMs, maxMs, accountsFile }
//
// Prints one JSON line: { startedAt, calls: [[startMs, latencyMs], …], errors } (startMs since startedAt).
import { status as grpcStatus } from '@grpc/grpc-js';
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ledgerClients } from './ledger-clients.mjs';
import { Direction } from '@alfabet/proto/accounts/v1';

const CALL_DEADLINE_MS = 10_000;
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = JSON.parse(readFileSync(spec.accountsFile, 'utf8'));
// The generated client, as when the archive's figures in docs/benchmarks.md were taken.
const clients = ledgerClients(spec.address, spec.callers, 'grpc-js');

const startedAt = Date.now();
const measureFrom = startedAt + spec.warmupMs;
const calls = [];
const errors = {};
let running = true;
process.stdin.on('end', () => {
  running = false;
});
process.stdin.resume();
const deadline = setTimeout(() => {
  running = false;
}, spec.maxMs);

function transfer(client) {
  const src = randomInt(accounts.length);
  let dst = randomInt(accounts.length - 1);
  if (dst >= src) dst += 1;
  const request = {
    requestId: randomUUID(),
    srcAccountId: accounts[src],
    dstAccountId: accounts[dst],
    amount: BigInt(randomInt(1, 101)),
    direction: Direction.DIRECTION_DEBIT,
  };
  return client.call('transfer', request, CALL_DEADLINE_MS);
}

async function caller(index) {
  const client = clients[index % clients.length];
  while (running) {
    const start = Date.now();
    const started = process.hrtime.bigint();
    try {
      await transfer(client);
      if (start >= measureFrom) calls.push([start - startedAt, Number(process.hrtime.bigint() - started) / 1e6]);
    } catch (error) {
      const code = grpcStatus[error.code] ?? String(error.code);
      errors[code] = (errors[code] ?? 0) + 1;
    }
  }
}

await Promise.all(Array.from({ length: spec.callers }, (_, i) => caller(i)));
clearTimeout(deadline);
for (const client of clients) client.close();
// Exit only once the line is written: stdout into a pipe is asynchronous, and exiting at once cut
// a line of 146 kB short (as soon as the group commit made the calls that many).
process.stdout.write(
  `${JSON.stringify({ startedAt, calls: calls.map(([s, l]) => [s, Math.round(l * 1000) / 1000]), errors })}\n`,
  () => process.exit(0),
);
