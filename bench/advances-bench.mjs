// Benchmark 4: many advances at once on the real Temporal dev server, with
// payments `interval` apart. Measures the time until every advance is repaid,
// payments per second and the worker's CPU and memory; then checks the
// ledger: per advance exactly one credit, and debits adding up to its amount.
import { credentials } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AdvancesServiceClient } from '@alfabet/proto/advances/v1';
import { cpuSeconds, sampleMemory } from './processes.mjs';
import { round } from './stats.mjs';

const AMOUNT = 12_000n; // 120.00 in 12 payments of 10.00
const REQUEST_CONCURRENCY = 64;

export async function advancesBenchmark({
  advancesAddress,
  accountsUrl,
  advancesUrl,
  pids,
  count,
  intervalMs,
  timeoutMs,
  say,
}) {
  const ledger = new pg.Pool({ connectionString: accountsUrl, max: 2 });
  const store = new pg.Pool({ connectionString: advancesUrl, max: 2 });
  const client = new AdvancesServiceClient(advancesAddress, credentials.createInsecure());
  try {
    const accounts = await createAdvanceAccounts(ledger, count);
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const memory = sampleMemory(pids, 200);
    const started = Date.now();
    await requestAdvances(client, accounts);
    const requestedSeconds = (Date.now() - started) / 1000;
    say(
      `advances: ${count} requested in ${round(requestedSeconds, 1)} s; waiting for repayment (payments ${intervalMs / 1000} s apart)…`,
    );

    const { repaid, mostInFlight } = await waitForRepayment(store, accounts, { started, timeoutMs, say });
    const seconds = (Date.now() - started) / 1000;
    const peaks = memory.stop();
    say(
      `advances: worker peak RSS ${peaks.worker.peakMiB} MiB with up to ${mostInFlight} advances in flight (idle before: ${peaks.worker.startMiB} MiB)`,
    );
    // CPU of each process over the run, in cores (1.0 = one core busy all along).
    const processes = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        { cpuCores: round((cpuSeconds(pid) - cpuBefore[name]) / seconds, 2), ...peaks[name] },
      ]),
    );
    const { payments, activities, ledgerCheck } = await checkLedger(ledger, store, accounts);
    return {
      advances: count,
      intervalSeconds: intervalMs / 1000,
      requestSeconds: round(requestedSeconds, 1),
      repaid,
      allRepaid: repaid === count,
      secondsUntilAllRepaid: repaid === count ? round(seconds, 1) : null,
      // The floor: the last payment is due installments × interval after the disbursement.
      idealSeconds: 12 * (intervalMs / 1000),
      payments,
      paymentsPerSecond: round(payments / seconds, 1),
      activities,
      activitiesPerSecond: round(activities / seconds, 1),
      worker: { ...processes.worker, mostInFlight },
      processes,
      ledgerCheck,
    };
  } finally {
    client.close();
    await ledger.end();
    await store.end();
  }
}

/** One fresh account per advance: the advance's own credit pays its payments. */
async function createAdvanceAccounts(ledger, count) {
  const { rows } = await ledger.query(
    `INSERT INTO accounts (account_id, display_name) SELECT gen_random_uuid(), 'bench advance ' || n FROM generate_series(1, $1) n RETURNING account_id`,
    [count],
  );
  return rows.map((row) => row.account_id);
}

/** Requests one advance per account, REQUEST_CONCURRENCY at a time. */
async function requestAdvances(client, accounts) {
  let next = 0;
  await Promise.all(
    Array.from({ length: REQUEST_CONCURRENCY }, async () => {
      while (next < accounts.length) {
        const accountId = accounts[next++];
        await new Promise((resolve, reject) =>
          client.requestAdvance(
            { requestId: randomUUID(), accountId, amount: AMOUNT },
            { deadline: Date.now() + 30_000 },
            (error) => (error ? reject(error) : resolve()),
          ),
        );
      }
    }),
  );
}

/**
 * Polls the advances store until every advance is REPAID or timeoutMs has
 * passed since `started`; returns how many are, and the most that were in
 * flight (requested, not yet repaid) at once.
 */
async function waitForRepayment(store, accounts, { started, timeoutMs, say }) {
  let repaid = 0;
  let lastSay = 0;
  let mostInFlight = 0;
  while (Date.now() - started < timeoutMs) {
    repaid = Number(
      (
        await store.query(
          `SELECT count(*) AS n FROM advances WHERE status = 'REPAID' AND account_id = ANY($1::uuid[])`,
          [accounts],
        )
      ).rows[0].n,
    );
    mostInFlight = Math.max(mostInFlight, accounts.length - repaid);
    if (repaid === accounts.length) break;
    if (Date.now() - lastSay > 10_000) {
      say(`advances: ${repaid} / ${accounts.length} repaid`);
      lastSay = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { repaid, mostInFlight };
}

/**
 * The ledger's view, per advance account: exactly one credit of AMOUNT and debits adding up to it —
 * for every advance the store has REPAID, and none over-credited or over-debited. The store is read
 * first: an advance is marked REPAID only after its last debit committed in the ledger, so the ledger
 * may be ahead of the store (workflows still paying when the bound hits), never behind it.
 */
async function checkLedger(ledger, store, accounts) {
  const repaidInStore = (
    await store.query(`SELECT account_id FROM advances WHERE status = 'REPAID' AND account_id = ANY($1::uuid[])`, [
      accounts,
    ])
  ).rows.map((row) => row.account_id);
  const ledgerRows = (
    await ledger.query(
      `SELECT dst_account_id,
            count(*) FILTER (WHERE direction = 'credit' AND status = 'success') AS credits,
            coalesce(sum(amount) FILTER (WHERE direction = 'credit' AND status = 'success'), 0) AS credited,
            count(*) FILTER (WHERE direction = 'debit' AND status = 'success') AS debits,
            coalesce(sum(amount) FILTER (WHERE direction = 'debit' AND status = 'success'), 0) AS debited
     FROM transactions WHERE kind = 'bank' AND dst_account_id = ANY($1::uuid[]) GROUP BY dst_account_id`,
      [accounts],
    )
  ).rows;
  const repaidAccounts = ledgerRows.filter(
    (row) => Number(row.credits) === 1 && BigInt(row.credited) === AMOUNT && BigInt(row.debited) === AMOUNT,
  );
  const wholeInLedger = new Set(repaidAccounts.map((row) => row.dst_account_id));
  const notWholeInLedger = repaidInStore.filter((account) => !wholeInLedger.has(account));
  const payments = ledgerRows.reduce((sum, row) => sum + Number(row.debits), 0);
  // Every ledger call the workflows' activities made (credits, debits, failed ones too).
  const activities = Number(
    (
      await ledger.query(
        `SELECT count(*) AS n FROM transactions WHERE kind = 'bank' AND dst_account_id = ANY($1::uuid[])`,
        [accounts],
      )
    ).rows[0].n,
  );
  const wrong = ledgerRows.filter(
    (row) => Number(row.credits) !== 1 || BigInt(row.credited) !== AMOUNT || BigInt(row.debited) > AMOUNT,
  );
  return {
    payments,
    activities,
    ledgerCheck: {
      advancesWithOneCreditAndExactDebits: repaidAccounts.length,
      advancesWithAnError: wrong.length,
      repaidInStoreNotWholeInLedger: notWholeInLedger.length,
      ok: wrong.length === 0 && notWholeInLedger.length === 0,
    },
  };
}
