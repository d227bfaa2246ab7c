// The load generator: a process of its own (so its CPU is not the server's),
// driving accounts-manager with N concurrent callers, each making one call
// after another for a fixed time, through the clients of bench/ledger-clients.mjs
// (`client`: "frames", the default, "http2" or "grpc-js"), each request with a new
// request id of bench/request-ids.mjs (`requestIds`: "v7", the default, or "v4").
//
//   node bench/load.mjs <spec.json>
//
// spec: { address, mode: "transfer" | "bank" | "batch", callers, warmupMs, durationMs,
//         accountsFile, repeatRatio, batchSize, client, requestIds: "v7" | "v4",
//         cpu: { pids: { name: pid }, database } }
//   → prints one JSON result line.
// In batch mode a call is one BatchTransfer of batchSize random transfers (atomic = false).
// Latencies are taken after the warm-up only; calls are never retried. The
// CPU each process spent per call (µs) is sampled over the same measured
// window: the named pids, the PostgreSQL backends of `database`, all of
// PostgreSQL, and this process.
import { status as grpcStatus } from '@grpc/grpc-js';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ledgerClients } from './ledger-clients.mjs';
import { Direction, TransactionStatus } from '@alfabet/proto/accounts/v1';
import { cpuPerCall, cpuSample } from './processes.mjs';
import { DEFAULT_REQUEST_IDS, requestIdMaker } from './request-ids.mjs';
import { summarize, round } from './stats.mjs';

const CALL_DEADLINE_MS = 10_000;
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = JSON.parse(readFileSync(spec.accountsFile, 'utf8'));
const clients = ledgerClients(spec.address, spec.callers, spec.client);
const newRequestId = requestIdMaker(spec.requestIds ?? DEFAULT_REQUEST_IDS);

const latencies = [];
const errors = {};
const outcomes = { SUCCESS: 0, FAILED: 0 };
let measuring = false;
let cpuAtStart = null;

// Bank mode: every request id's parameters and first answer, so a replay can
// be checked against it and the money moved can be summed once per id.
const issued = [];
const firstAnswer = new Map();
const bank = { unique: 0, replays: 0, replayMismatches: 0, netCreditedMinor: 0n, resolvedAfterError: 0 };
// Batch mode: answers that were not one transaction per item, in order.
const batch = { itemMismatches: 0 };
const unresolved = [];

const call = (client, method, request) => client.call(method, request, CALL_DEADLINE_MS);

function pickTwo() {
  const src = randomInt(accounts.length);
  let dst = randomInt(accounts.length - 1);
  if (dst >= src) dst += 1;
  return [accounts[src], accounts[dst]];
}

function randomTransfer() {
  const [srcAccountId, dstAccountId] = pickTwo();
  return {
    requestId: newRequestId(),
    srcAccountId,
    dstAccountId,
    amount: BigInt(randomInt(1, 101)),
    direction: Direction.DIRECTION_DEBIT,
  };
}

function nextRequest() {
  if (spec.mode === 'transfer') return { method: 'transfer', request: randomTransfer() };
  if (spec.mode === 'batch') {
    const transfers = Array.from({ length: spec.batchSize }, randomTransfer);
    return { method: 'batchTransfer', request: { requestId: newRequestId(), atomic: false, transfers } };
  }
  if (issued.length > 0 && Math.random() < spec.repeatRatio) {
    return { method: 'bankTransaction', request: issued[randomInt(issued.length)], replay: true };
  }
  const request = {
    requestId: newRequestId(),
    dstAccountId: accounts[randomInt(accounts.length)],
    amount: BigInt(randomInt(1, 101)),
    direction: Math.random() < 0.5 ? Direction.DIRECTION_CREDIT : Direction.DIRECTION_DEBIT,
    description: 'bench',
  };
  issued.push(request);
  return { method: 'bankTransaction', request };
}

function record(next, response) {
  if (spec.mode === 'batch') return recordBatch(next, response);
  const transaction = response.transaction;
  const ok = transaction.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS;
  if (measuring) outcomes[ok ? 'SUCCESS' : 'FAILED'] += 1;
  if (spec.mode !== 'bank') return;
  const first = firstAnswer.get(next.request.requestId);
  if (first) {
    bank.replays += 1;
    if (first !== transaction.transactionId) bank.replayMismatches += 1;
    return;
  }
  firstAnswer.set(next.request.requestId, transaction.transactionId);
  bank.unique += 1;
  if (ok)
    bank.netCreditedMinor +=
      next.request.direction === Direction.DIRECTION_CREDIT ? next.request.amount : -next.request.amount;
}

function recordBatch(next, response) {
  const asked = next.request.transfers.map((t) => t.requestId).join();
  if (response.transactions.map((t) => t.requestId).join() !== asked) batch.itemMismatches += 1;
  if (!measuring) return;
  for (const t of response.transactions)
    outcomes[t.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS ? 'SUCCESS' : 'FAILED'] += 1;
}

async function caller(index, until) {
  const client = clients[index % clients.length];
  while (Date.now() < until) {
    const next = nextRequest();
    const started = process.hrtime.bigint();
    try {
      const response = await call(client, next.method, next.request);
      if (measuring) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      record(next, response);
    } catch (error) {
      const code = grpcStatus[error.code] ?? String(error.code);
      errors[code] = (errors[code] ?? 0) + 1;
      // A first call that failed (e.g. DEADLINE_EXCEEDED) may or may not have
      // applied: it is not replayed during the run, and asked again at the end.
      if (spec.mode === 'bank' && !next.replay && !firstAnswer.has(next.request.requestId)) {
        issued.splice(issued.indexOf(next.request), 1);
        unresolved.push(next);
      }
    }
  }
}

const start = Date.now();
const end = start + spec.warmupMs + spec.durationMs;
setTimeout(() => {
  measuring = true;
  cpuAtStart = { sample: cpuSample(spec.cpu?.pids ?? {}, spec.cpu?.database), self: process.cpuUsage() };
}, spec.warmupMs);
const measuredFrom = start + spec.warmupMs;
await Promise.all(Array.from({ length: spec.callers }, (_, i) => caller(i, end)));
const seconds = (Date.now() - measuredFrom) / 1000;
const cpuAtEnd = cpuSample(spec.cpu?.pids ?? {}, spec.cpu?.database);
const selfUsed = process.cpuUsage(cpuAtStart?.self);
const cpuMicrosPerCall = cpuAtStart
  ? {
      ...cpuPerCall(cpuAtStart.sample, cpuAtEnd, latencies.length),
      loadGenerator: latencies.length ? Math.round((selfUsed.user + selfUsed.system) / latencies.length) : null,
    }
  : null;
// What a careful client does with an unknown outcome: ask again with the same
// request id, which returns the first outcome (or applies it now, once).
for (const next of unresolved) {
  record(next, await call(clients[0], next.method, next.request));
  bank.resolvedAfterError += 1;
}
for (const client of clients) client.close();

const summary = summarize(latencies);
const cpu = process.cpuUsage();
process.stdout.write(
  `${JSON.stringify({
    callers: spec.callers,
    calls: summary.count,
    rps: round(summary.count / seconds, 1),
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    maxMs: summary.maxMs,
    outcomes,
    errors,
    loadCpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    cpuMicrosPerCall,
    ...(spec.mode === 'bank' ? { bank: { ...bank, netCreditedMinor: String(bank.netCreditedMinor) } } : {}),
    ...(spec.mode === 'batch' ? { batch } : {}),
  })}\n`,
);
