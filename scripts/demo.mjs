// npm run demo — drives a running stack (`npm start`, ideally with
// ADVANCE_PAYMENT_INTERVAL=2s) through a short story with the generated gRPC
// clients, and prints what happened: accounts, transfers (one refused for
// insufficient funds), the 5-day report page by page, and an advance whose
// first payment fails and rolls into the next until it is repaid.
import { credentials, Metadata } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import {
  AccountsServiceClient,
  Direction,
  failureReasonToJSON,
  TransactionKind,
  TransactionStatus,
} from '@alfabet/proto/accounts/v1';
import { AdvanceStatus, AdvancesServiceClient, PaymentStatus } from '@alfabet/proto/advances/v1';
import { dateOfTimestamp } from '@alfabet/service-kit/timestamps';
import { healthCheck } from './stack-health.mjs';

const env = process.env;
const ACCOUNTS = env.ACCOUNTS_GRPC_ADDR ?? '127.0.0.1:50051';
const ADVANCES = env.ADVANCES_GRPC_ADDR ?? '127.0.0.1:50052';
const TEMPORAL = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const UI = `http://${TEMPORAL.slice(0, TEMPORAL.lastIndexOf(':'))}:${Number(TEMPORAL.slice(TEMPORAL.lastIndexOf(':') + 1)) + 1000}`;
const NAMESPACE = env.TEMPORAL_NAMESPACE ?? 'default';
const CALL_DEADLINE_MS = 10_000;

const tty = process.stdout.isTTY;
const bold = (text) => (tty ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text) => (tty ? `\x1b[2m${text}\x1b[0m` : text);
const money = (minor) =>
  `${(BigInt(minor) / 100n).toLocaleString('en')}.${String(BigInt(minor) % 100n).padStart(2, '0')}`;
const say = (text = '') => console.log(text);
const step = (text) => say(`\n${bold(`▸ ${text}`)}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A unary call as a promise, with a deadline and a correlation id. */
function call(client, method, request) {
  const metadata = new Metadata();
  metadata.set('x-correlation-id', `demo-${randomUUID()}`);
  return new Promise((resolve, reject) =>
    client[method](request, metadata, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

async function main() {
  if (!(await healthCheck(ACCOUNTS)) || !(await healthCheck(ADVANCES))) {
    say(`The stack is not running (accounts-manager on ${ACCOUNTS}, advances on ${ADVANCES}).`);
    say('Start it in another terminal first:  ADVANCE_PAYMENT_INTERVAL=2s npm start');
    process.exitCode = 1;
    return;
  }
  const ledger = new AccountsServiceClient(ACCOUNTS, credentials.createInsecure());
  const advances = new AdvancesServiceClient(ADVANCES, credentials.createInsecure());
  try {
    await story(ledger, advances);
  } finally {
    ledger.close();
    advances.close();
  }
}

async function story(ledger, advances) {
  const { alice, bob, carol } = await openAccounts(ledger);
  await creditAlice(ledger, alice);
  await transfersAndBalances(ledger, { alice, bob, carol });
  await listBobsTransactions(ledger, bob);
  const { advance, disbursed, intervalMs } = await requestCarolsAdvance(advances, carol);
  if (intervalMs > 60_000) {
    explainSlowPayments(intervalMs, advance);
    return;
  }
  await failCarolsNextPayment(ledger, advances, { advance, carol, bob, intervalMs });
  await waitForRepayment(advances, { advance, disbursed, intervalMs });
  showWorkflow(advance, carol);
}

async function openAccounts(ledger) {
  step('Opening accounts');
  const open = async (displayName) =>
    (await call(ledger, 'createAccount', { requestId: randomUUID(), displayName })).account;
  const alice = await open('Alice');
  const bob = await open('Bob');
  const carol = await open('Carol');
  for (const account of [alice, bob, carol]) say(`  ${account.displayName.padEnd(6)} ${dim(account.accountId)}`);
  return { alice, bob, carol };
}

async function creditAlice(ledger, alice) {
  step('The bank credits Alice 1,000.00');
  const deposit = await call(ledger, 'bankTransaction', {
    requestId: randomUUID(),
    dstAccountId: alice.accountId,
    amount: 100_000n,
    direction: Direction.DIRECTION_CREDIT,
    description: 'opening deposit',
  });
  say(`  ${describe(deposit.transaction)}`);
}

/** A transfer of `amount` (minor units) from `src` to `dst`; resolves the transaction, SUCCESS or FAILED. */
async function transfer(ledger, src, dst, amount) {
  return (
    await call(ledger, 'transfer', {
      requestId: randomUUID(),
      srcAccountId: src.accountId,
      dstAccountId: dst.accountId,
      amount,
      direction: Direction.DIRECTION_DEBIT,
    })
  ).transaction;
}

/** Two transfers that succeed and one refused for insufficient funds, then the three balances. */
async function transfersAndBalances(ledger, { alice, bob, carol }) {
  step('Transfers');
  say(`  Alice → Bob   250.00: ${describe(await transfer(ledger, alice, bob, 25_000n))}`);
  say(`  Bob   → Carol  40.00: ${describe(await transfer(ledger, bob, carol, 4_000n))}`);
  say(`  Bob → Alice   999.00: ${describe(await transfer(ledger, bob, alice, 99_900n))}`);
  for (const account of [alice, bob, carol]) {
    const { account: now } = await call(ledger, 'getAccount', { accountId: account.accountId });
    say(`  ${now.displayName.padEnd(6)} balance ${money(now.balance).padStart(9)}`);
  }
}

async function listBobsTransactions(ledger, bob) {
  step("Bob's transactions of the last 5 days, 2 per page (one stream, one message per page)");
  await new Promise((resolve, reject) => {
    const stream = ledger.listTransactions({
      accountId: bob.accountId,
      pageSize: 2,
      startTime: undefined,
      endTime: undefined,
      pageToken: '',
      snapshotToken: '',
      page: 0,
    });
    stream.on('data', (page) => {
      say(`  page ${page.page}/${page.totalPages} (${page.totalSize} in the snapshot)`);
      for (const t of page.transactions)
        say(`    ${dateOfTimestamp(t.createTime).toISOString().slice(11, 23)}  ${describe(t)}`);
    });
    stream.on('error', reject);
    stream.on('end', resolve);
  });
}

/** Requests the advance and waits for its disbursement; resolves it with the interval between payments. */
async function requestCarolsAdvance(advances, carol) {
  step('Carol asks for an advance of 120.00');
  const { advance } = await call(advances, 'requestAdvance', {
    requestId: randomUUID(),
    accountId: carol.accountId,
    amount: 12_000n,
  });
  say(`  advance ${dim(advance.advanceId)}: ${advance.payments.length || 12} payments`);
  const disbursed = await waitFor(
    advances,
    advance.advanceId,
    (a) => a.disbursementTransactionId !== '',
    'the disbursement',
  );
  const dueMs = (payment) => dateOfTimestamp(payment.dueTime).getTime();
  const intervalMs = dueMs(disbursed.payments[1]) - dueMs(disbursed.payments[0]);
  say(`  credited; payments of ${money(disbursed.payments[0].amount)} every ${Math.round(intervalMs / 1000)} s`);
  return { advance, disbursed, intervalMs };
}

/** Payments hours apart: the demo stops here and says how to watch a repayment. */
function explainSlowPayments(intervalMs, advance) {
  say(`\n  The stack takes a payment every ${Math.round(intervalMs / 3_600_000)} h: restart it with`);
  say('  ADVANCE_PAYMENT_INTERVAL=2s npm start   to watch the advance being repaid.');
  say(`  The workflow: ${UI}/namespaces/${NAMESPACE}/workflows/${advance.workflowId}`);
}

/** Carol empties her account so a payment fails and rolls into the next; then Bob sends her enough to repay. */
async function failCarolsNextPayment(ledger, advances, { advance, carol, bob, intervalMs }) {
  step('Carol moves all her money to Bob: her next payment will fail and roll into the one after');
  const { account: carolNow } = await call(ledger, 'getAccount', { accountId: carol.accountId });
  say(`  Carol → Bob ${money(carolNow.balance)}: ${describe(await transfer(ledger, carol, bob, carolNow.balance))}`);
  const firstFailed = (a) => a.payments.find((p) => p.status === PaymentStatus.PAYMENT_STATUS_FAILED);
  const failed = await waitFor(advances, advance.advanceId, firstFailed, 'a failed payment', intervalMs * 3 + 15_000);
  const miss = firstFailed(failed);
  const next = failed.payments.find((p) => p.number === miss.rolledInto);
  say(
    `  payment ${miss.number} of ${money(miss.amount)}: FAILED (${failureReasonToJSON(miss.failureReason)}), rolled into payment ${miss.rolledInto}`,
  );
  say(`  payment ${next.number} is now ${money(next.amount)}`);
  say(`  Bob → Carol 150.00: ${describe(await transfer(ledger, bob, carol, 15_000n))}`);
}

async function waitForRepayment(advances, { advance, disbursed, intervalMs }) {
  step('Waiting for the advance to be repaid');
  const timeoutMs = intervalMs * (disbursed.payments.length + 3) + 30_000;
  const repaid = await waitFor(
    advances,
    advance.advanceId,
    (a) => a.status === AdvanceStatus.ADVANCE_STATUS_REPAID,
    'repayment',
    timeoutMs,
    true,
  );
  say('');
  for (const p of repaid.payments) {
    const status = p.status === PaymentStatus.PAYMENT_STATUS_PAID ? 'PAID' : `FAILED, rolled into ${p.rolledInto}`;
    say(`  payment ${String(p.number).padStart(2)}  ${money(p.amount).padStart(7)}  ${status}`);
  }
  say(`  paid ${money(repaid.paidAmount)} of ${money(repaid.amount)}; outstanding ${money(repaid.outstandingAmount)}`);
}

function showWorkflow(advance, carol) {
  step('The workflow in the Temporal Web UI (timers, payment activities, the schedule query)');
  say(`  ${UI}/namespaces/${NAMESPACE}/workflows/${advance.workflowId}`);
  say(
    `  all of Carol's advances: ${UI}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent(`AdvanceAccountId="${carol.accountId}"`)}`,
  );
}

function describe(transaction) {
  const ok = transaction.status === TransactionStatus.TRANSACTION_STATUS_SUCCESS;
  const what =
    transaction.kind === TransactionKind.TRANSACTION_KIND_TRANSFER
      ? 'transfer'
      : transaction.direction === Direction.DIRECTION_CREDIT
        ? 'bank credit'
        : 'bank debit';
  return `${what} ${money(transaction.amount)} ${ok ? 'SUCCESS' : `FAILED — ${transaction.failureMessage}`}`;
}

/** Polls GetAdvance until `done`, showing a one-line progress display while it waits. */
async function waitFor(advances, advanceId, done, what, timeoutMs = 60_000, progress = false) {
  const deadline = Date.now() + timeoutMs;
  const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
  for (let tick = 0; ; tick++) {
    const { advance } = await call(advances, 'getAdvance', { advanceId });
    if (progress && tty) {
      const marks = advance.payments
        .map(
          (p) =>
            ({
              [PaymentStatus.PAYMENT_STATUS_PAID]: '●',
              [PaymentStatus.PAYMENT_STATUS_FAILED]: '✗',
              [PaymentStatus.PAYMENT_STATUS_PROCESSING]: '◐',
            })[p.status] ?? '○',
        )
        .join('');
      process.stdout.write(
        `\r  ${spinner[tick % spinner.length]} ${marks}  paid ${money(advance.paidAmount)} / ${money(advance.amount)}   `,
      );
    }
    if (done(advance)) return advance;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} of advance ${advanceId}`);
    await sleep(250);
  }
}

main().catch((error) => {
  console.error(`\ndemo failed: ${error.details ?? error.message}`);
  process.exitCode = 1;
});
