import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { advancesApi, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';
import { ledgerPool } from './support/ledger-facts.js';

/**
 * Against a ledger that checks its callers, the advances service presents
 * itself as `advances` (LEDGER_AUTH_TOKEN here; a CN=advances certificate
 * works the same), and the ledger records it on every transaction an advance
 * makes: the disbursement and each payment (`initiated_by`, DESIGN.md §3).
 */
const ADVANCES_TOKEN = 'advances-token-0123456789abcdef';
const OPS_TOKEN = 'ops-token-0123456789abcdef';
let stack: AdvancesStack;
const pool = ledgerPool();

beforeAll(async () => {
  stack = await startAdvancesStack({
    ledgerEnv: { ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTH_TOKENS: `advances:${ADVANCES_TOKEN}, ops:${OPS_TOKEN}` },
    env: { LEDGER_AUTH_TOKEN: ADVANCES_TOKEN, ADVANCE_INSTALLMENTS: '3' },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pool.end();
});

test('every ledger transaction of an advance says it was made by advances', async () => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${OPS_TOKEN}`);
  const accountId = await new Promise<string>((resolve, reject) =>
    stack.ledger.client.createAccount(
      { requestId: '', displayName: 'Borrower' },
      metadata,
      (error: ServiceError | null, response) => (error ? reject(error) : resolve(response!.account!.accountId)),
    ),
  );
  const requested = await advancesApi(stack.client).requestAdvance({
    accountId,
    amount: 3_000n,
    requestId: randomUUID(),
  });
  const view = (await stack.temporal.client.workflow.getHandle(requested.workflowId).result()) as AdvanceView;
  expect(view.status).toBe('REPAID');

  const rows = await pool.query<{ direction: string; initiated_by: string }>(
    `SELECT direction, initiated_by FROM transactions WHERE dst_account_id = $1 ORDER BY create_time`,
    [accountId],
  );
  expect(rows.rows).toEqual([
    { direction: 'credit', initiated_by: 'advances' },
    ...Array(3).fill({ direction: 'debit', initiated_by: 'advances' }),
  ]);
});
