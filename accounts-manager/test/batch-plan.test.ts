import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { callLedgerPostBatch, type BatchPosting } from '../src/db/ledger-post-batch.sql.js';
import { testPool } from './support/db.js';
import { ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * What ledger_post_batch() runs to answer. When no item replays, its rows' insert and its answer
 * touch no daily partition (Migration20261209000000_batch_answers_unreplayed) — the lookup of
 * replayed transactions names every one, hot and archived, and PostgreSQL starts a scan of
 * each at every execution, so a ledger with years archived would pay for it on every group of
 * lone transfers. And no statement of it matches every item against every row
 * (Migration20261210000000_batch_answers_linear): a batch of 1 000 made a million comparisons
 * under the accounts' locks. Read from the plans PostgreSQL logs for the function's own
 * statements (auto_explain, nested statements, sent to this session as notices).
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

/** The plans of the rows' insert and of the answer during `post` (the statements that write and read the rows). */
async function insertAndAnswerPlansOf(post: () => Promise<unknown>): Promise<string> {
  plans.length = 0;
  await post();
  const insert = plans.filter((plan) => plan.includes('INSERT INTO transactions AS s'));
  const answer = plans.filter((plan) => plan.includes('WITH ORDINALITY answer('));
  expect([insert.length, answer.length]).toEqual([1, 1]);
  return `${insert[0]}\n${answer[0]}`;
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

  const posted = await insertAndAnswerPlansOf(() => callLedgerPostBatch(pool, batch));
  expect(posted).toMatch(/Insert on transactions/);
  expect(posted).not.toMatch(PARTITION_SCAN);

  // The same request again: a replay, answered by looking its transaction up (so the check above can fail).
  const replayed = await insertAndAnswerPlansOf(() => callLedgerPostBatch(pool, batch));
  expect(replayed).toMatch(PARTITION_SCAN);
});

it('matches no item against every other: no statement of a batch of 200 discards more joined rows than it has items', async () => {
  const api = ledgerApi(ledger.client);
  const payer = await api.fundedAccount(1_000_000n, 'batch plan big payer');
  const payees = await Promise.all(Array.from({ length: 4 }, (_, i) => api.createAccount(`batch plan payee ${i}`)));
  const items = Array.from({ length: 200 }, (_, i) => ({
    requestId: randomUUID(),
    srcAccountId: payer,
    dstAccountId: payees[i % payees.length]!.accountId,
    amountMinor: 1n,
    direction: 'debit' as const,
    fromAccountId: payer,
    toAccountId: payees[i % payees.length]!.accountId,
    initiatedBy: '',
  }));
  await pool.query('SET auto_explain.log_analyze = on');
  try {
    const discarded = async (batch: BatchPosting) => {
      plans.length = 0;
      const answers = await callLedgerPostBatch(pool, batch);
      expect(answers).toHaveLength(200);
      // "Rows Removed by Join Filter: N" — what a nested loop compared and threw away.
      return Math.max(
        0,
        ...plans.flatMap((plan) => [...plan.matchAll(/Rows Removed by Join Filter: (\d+)/g)].map((m) => Number(m[1]))),
      );
    };
    const fresh = { requestId: null, atomic: false, lenient: true, items };
    expect(await discarded(fresh)).toBeLessThanOrEqual(200);
    // Half of them again (replays), half new: the answer also looks transactions up.
    const mixed = {
      ...fresh,
      items: items.map((item, i) => (i % 2 === 0 ? item : { ...item, requestId: randomUUID() })),
    };
    expect(await discarded(mixed)).toBeLessThanOrEqual(200);
  } finally {
    await pool.query('SET auto_explain.log_analyze = off');
  }
});
