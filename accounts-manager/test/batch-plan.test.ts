import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { callLedgerPostBatch, type BatchPosting } from '../src/db/ledger-post-batch.sql.js';
import { testPool } from './support/db.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * What ledger_post_batch() runs to answer (Migration20261209000000_batch_answers_unreplayed):
 * when no item replays, its closing statement touches no daily partition — the lookup of
 * replayed transactions names every one, hot and archived, and PostgreSQL starts a scan of
 * each at every execution, so a ledger with years archived would pay for it on every group of
 * lone transfers. Read from the plans PostgreSQL logs for the function's own statements
 * (auto_explain, nested statements, sent to this session as notices).
 */
let ledger: TestLedger;
let pool: pg.Pool;
const plans: string[] = [];

beforeAll(async () => {
  ledger = await startTestLedger();
  // One connection, so the session settings below are the ones every call runs under.
  pool = testPool(1);
  pool.on('connect', (client) => client.on('notice', (notice) => plans.push(notice.message ?? '')));
  await pool.query(`LOAD 'auto_explain'`);
  for (const setting of [
    'auto_explain.log_min_duration = 0',
    'auto_explain.log_nested_statements = on',
    'auto_explain.log_level = notice',
    'client_min_messages = notice',
  ]) {
    await pool.query(`SET ${setting}`);
  }
});
afterAll(async () => {
  await pool.end();
  await ledger.stop();
});

/** The plan of the function's closing statement (the one that inserts the rows) during `post`. */
async function closingPlanOf(post: () => Promise<unknown>): Promise<string> {
  plans.length = 0;
  await post();
  const closing = plans.filter((plan) => plan.includes('INSERT INTO transactions AS s'));
  expect(closing).toHaveLength(1);
  return closing[0]!;
}

const PARTITION_SCAN = /Scan[^\n]* on transactions_p\d{8}/;

it('answers new items from the rows it inserted, starting no scan of any partition; a replay still looks them up', async () => {
  const api = ledgerApi(ledger.client);
  const payer = await api.fundedAccount(1_000n, 'batch plan payer');
  const payee = (await api.createAccount('batch plan payee')).accountId;
  const batch: BatchPosting = {
    requestId: null,
    atomic: false,
    lenient: true,
    items: [
      {
        requestId: randomUUID(),
        srcAccountId: payer,
        dstAccountId: payee,
        amountMinor: 10n,
        direction: 'debit',
        fromAccountId: payer,
        toAccountId: payee,
        initiatedBy: '',
      },
    ],
  };

  const posted = await closingPlanOf(() => callLedgerPostBatch(pool, batch));
  expect(posted).toMatch(/Insert on transactions/);
  expect(posted).not.toMatch(PARTITION_SCAN);

  // The same request again: a replay, answered by looking its transaction up (so the check above can fail).
  const replayed = await closingPlanOf(() => callLedgerPostBatch(pool, batch));
  expect(replayed).toMatch(PARTITION_SCAN);
});
