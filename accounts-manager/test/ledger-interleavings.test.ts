import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceClient, Direction, type Transaction } from '@alfabet/proto/accounts/v1';
import pg from 'pg';
import { verifyLedger } from '../src/db/ledger-verify.sql.js';
import { verifyReportCounts } from '../src/db/report-counts-verify.sql.js';
import { BANK_ACCOUNT_ID } from '../src/ledger/system-accounts.js';
import { freePort } from '../../test-support/temporal-dev-server.js';
import { startPrivatePostgres, type PrivatePostgres } from '../../test-support/private-postgres.js';
import { call, ledgerApi, startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { prng } from './support/prng.js';

/**
 * A property test of the posting paths together: random interleavings (seeded;
 * the seed is printed, rerun with LEDGER_INTERLEAVINGS_SEED) of concurrent
 * Transfers, BankTransactions and BatchTransfers in both modes, with request
 * ids shared between them — exact duplicates racing each other, batch items
 * replaying lone transfers' keys and the reverse, and keys reused with other
 * parameters. Afterwards the database must be exactly what replaying the
 * acknowledged answers one database transaction at a time, in commit order,
 * gives: every acknowledged transaction stored once and nothing else, each key
 * one transaction, each SUCCESS moving its money once and each FAILED none,
 * every FAILED justified (the payer really lacked the money at that point, or
 * an atomic batch's culprit did), no customer balance ever negative, and
 * ledger:verify. Commit order comes from PostgreSQL itself
 * (track_commit_timestamp, on a private server): two transactions touching
 * one account commit in the order they held its lock.
 */
const SEED = Number(process.env.LEDGER_INTERLEAVINGS_SEED ?? Date.now() % 1_000_000);
const OPERATIONS = 320;
const CALLERS = 16;
const ACCOUNTS = 6;
const FUNDING = 1_000n;

interface Item {
  key: string;
  src: string;
  dst: string;
  amount: bigint;
  direction: Direction;
}
type Operation =
  | ({ kind: 'transfer' } & Item)
  | { kind: 'bank'; key: string; dst: string; amount: bigint; direction: Direction }
  | { kind: 'batch'; key: string; atomic: boolean; items: Item[] };
interface Sent {
  operation: Operation;
  transactions: Transaction[] | null;
  error: ServiceError | null;
}
interface StoredRow {
  transaction_id: string;
  request_id: string | null;
  kind: string;
  src_account_id: string | null;
  dst_account_id: string;
  from_account_id: string;
  to_account_id: string;
  amount: string;
  direction: string;
  status: string;
  failure_reason: string | null;
  xid: string;
  commit_us: string;
}

let postgres: PrivatePostgres;
let ledger: TestLedger;
let db: pg.Pool;

beforeAll(async () => {
  postgres = startPrivatePostgres(await freePort(), ['track_commit_timestamp=on']);
}, 120_000);
afterAll(() => postgres?.stop());

/** Request ids from the seed too, so the whole run is replayable. */
function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/**
 * The operations, in the order the callers take them. Duplicates are placed
 * among the last few operations so they are in flight together. Batch items
 * may replay (or clash with) lone transfers' keys, and lone transfers batch
 * items' keys; a batch item never takes another batch's item key, so each
 * batch's own rows are told apart in the replay.
 */
function generate(random: () => number, accounts: string[]): Operation[] {
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)]!;
  const amount = () => BigInt(1 + Math.floor(random() * 400));
  const direction = () => (random() < 0.7 ? Direction.DIRECTION_DEBIT : Direction.DIRECTION_CREDIT);
  const lone: Item[] = []; // lone transfers: batch items and lone transfers may replay or clash with them
  const batched: Item[] = []; // batch items: lone transfers may replay or clash with them
  const freshItem = (): Item => {
    const src = pick(accounts);
    let dst = pick(accounts);
    while (dst === src) dst = pick(accounts);
    return { key: uuidFrom(random), src, dst, amount: amount(), direction: direction() };
  };
  const item = (taken: Set<string>, pool: Item[]): Item => {
    const earlier = pool.length > 0 ? pick(pool) : null;
    const roll = random();
    if (earlier && !taken.has(earlier.key) && roll < 0.08) return earlier; // replays a lone transfer
    if (earlier && !taken.has(earlier.key) && roll < 0.11) return { ...earlier, amount: earlier.amount + 1n }; // clashes
    return freshItem();
  };
  const operations: Operation[] = [];
  while (operations.length < OPERATIONS) {
    const roll = random();
    if (operations.length > 0 && roll < 0.12) {
      operations.push(pick(operations.slice(-6))); // the very same request again, racing the first
    } else if (roll < 0.45) {
      const transfer = item(new Set(), [...lone, ...batched]);
      if (!lone.includes(transfer) && !batched.includes(transfer)) lone.push(transfer);
      operations.push({ kind: 'transfer', ...transfer });
    } else if (roll < 0.62) {
      operations.push({
        kind: 'bank',
        key: uuidFrom(random),
        dst: pick(accounts),
        amount: amount(),
        direction: direction(),
      });
    } else {
      const taken = new Set<string>();
      const items = Array.from({ length: 1 + Math.floor(random() * 8) }, () => {
        const next = item(taken, lone);
        taken.add(next.key);
        if (!lone.includes(next)) batched.push(next);
        return next;
      });
      operations.push({ kind: 'batch', key: uuidFrom(random), atomic: random() < 0.5, items });
    }
  }
  return operations;
}

function send(client: AccountsServiceClient, operation: Operation): Promise<Transaction[]> {
  const transfer = (i: Item) => ({
    requestId: i.key,
    srcAccountId: i.src,
    dstAccountId: i.dst,
    amount: i.amount,
    direction: i.direction,
  });
  if (operation.kind === 'transfer')
    return call<object, { transaction: Transaction }>(client, 'transfer', transfer(operation)).then((r) => [
      r.transaction,
    ]);
  if (operation.kind === 'bank')
    return call<object, { transaction: Transaction }>(client, 'bankTransaction', {
      requestId: operation.key,
      dstAccountId: operation.dst,
      amount: operation.amount,
      direction: operation.direction,
      description: 'interleavings',
    }).then((r) => [r.transaction]);
  return call<object, { transactions: Transaction[] }>(client, 'batchTransfer', {
    requestId: operation.key,
    atomic: operation.atomic,
    transfers: operation.items.map(transfer),
  }).then((r) => r.transactions);
}

// Each lone Transfer posted alone, and with lone Transfers coalesced by the group commit (ledger/group-commit.ts).
describe.each(['off', 'on'])('ACCOUNTS_GROUP_COMMIT=%s', (groupCommit) => {
  beforeAll(async () => {
    const url = postgres.url(`alfabet_accounts_group_commit_${groupCommit}`);
    ledger = await startTestLedger({ ACCOUNTS_DATABASE_URL: url, ACCOUNTS_GROUP_COMMIT: groupCommit });
    db = new pg.Pool({ connectionString: url, max: 3 });
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await ledger?.stop();
  });

  it(`stores exactly the serial replay of ${OPERATIONS} interleaved transfers, bank transactions and batches`, async () => {
    await interleaveAndReplay(groupCommit === 'on');
  }, 180_000);
});

async function interleaveAndReplay(groupCommit: boolean): Promise<void> {
  console.log(`ledger-interleavings: seed ${SEED} (rerun with LEDGER_INTERLEAVINGS_SEED=${SEED})`);
  const random = prng(SEED);
  const api = ledgerApi(ledger.client);
  const accounts: string[] = [];
  const sent: Sent[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const account = (await api.createAccount(`interleavings ${i}`)).accountId;
    accounts.push(account);
    const operation: Operation = {
      kind: 'bank',
      key: uuidFrom(random),
      dst: account,
      amount: FUNDING,
      direction: Direction.DIRECTION_CREDIT,
    };
    sent.push({ operation, transactions: await send(ledger.client, operation), error: null });
  }
  const operations = generate(random, accounts);

  const negative = await sampleNegativeBalances(async () => {
    const clients = Array.from(
      { length: CALLERS / 4 },
      () => new AccountsServiceClient(ledger.address, credentials.createInsecure()),
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        while (next < operations.length) {
          const operation = operations[next++]!;
          const answer = await send(clients[caller % clients.length]!, operation).then(
            (transactions) => ({ transactions, error: null }),
            (error: ServiceError) => ({ transactions: null, error }),
          );
          sent.push({ operation, ...answer });
        }
      }),
    );
    for (const client of clients) client.close();
  });
  expect(negative).toEqual([]);

  const rows = await storedRows();
  expect(refusalsNotJustified(sent, rows)).toEqual([]);
  expect(answersNotMatchingTheirRequests(sent)).toEqual([]);
  const acknowledged = acknowledgedTransactions(sent);
  expect(acknowledged.keysWithTwoTransactions).toEqual([]);
  // Every acknowledged transaction is stored as answered, and nothing else is stored.
  expect(rows.map((row) => row.transaction_id).sort()).toEqual([...acknowledged.byId.keys()].sort());
  for (const row of rows) expect(rowOf(acknowledged.byId.get(row.transaction_id)!)).toEqual(rowFacts(row));

  const replay = replaySerially(rows, sent);
  // The replay's order is PostgreSQL's commit order: it must tell apart any two writers of one account.
  expect(tiedCommits(rows)).toEqual([]);
  expect(replay.unjustified).toEqual([]);
  for (const account of [...accounts, BANK_ACCOUNT_ID])
    expect({ account, balance: (await api.getAccount(account)).balance }).toEqual({
      account,
      balance: replay.balances.get(account) ?? 0n,
    });
  // The run did what it is for: money moved and failed, batches aborted, keys clashed and replayed.
  expect(replay.outcomes.success).toBeGreaterThan(50);
  expect(replay.outcomes.insufficient_funds).toBeGreaterThan(0);
  expect(sent.some((s) => s.error?.code === status.ALREADY_EXISTS)).toBe(true);
  expect(await verifyLedger(db)).toMatchObject({ ok: true, balanceSumMinor: 0n, mismatchedAccounts: [] });
  // And the report's counts: every minute's rows equal its sealed or live count (report-live-counts.sql.ts).
  expect(await verifyReportCounts(db)).toMatchObject({ miscounted: [] });
  // With the group commit on, lone transfers really were posted together: some database transaction holds several.
  if (groupCommit) {
    console.log(
      `lone transfers / bank transactions that shared a database transaction: ${lonesSharingATransaction(rows, sent, 'transfer')} / ${lonesSharingATransaction(rows, sent, 'bank')}`,
    );
    expect(lonesSharingATransaction(rows, sent, 'transfer')).toBeGreaterThan(0);
    expect(lonesSharingATransaction(rows, sent, 'bank')).toBeGreaterThan(0);
  }
}

/** Lone transfers (not batch items) or bank transactions whose database transaction also wrote another of their kind. */
function lonesSharingATransaction(rows: StoredRow[], sent: Sent[], kind: 'transfer' | 'bank'): number {
  const lone = new Set(
    sent.filter((s) => s.operation.kind === kind).flatMap((s) => (s.transactions ?? []).map((t) => t.transactionId)),
  );
  const perXid = new Map<string, number>();
  for (const row of rows) if (lone.has(row.transaction_id)) perXid.set(row.xid, (perXid.get(row.xid) ?? 0) + 1);
  return [...perXid.values()].filter((n) => n > 1).reduce((sum, n) => sum + n, 0);
}

/** Runs `work` while sampling the customer balances every few ms; the negative ones seen. */
async function sampleNegativeBalances(work: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await db.query<{ account_id: string; balance: string }>(
        'SELECT account_id, balance FROM accounts WHERE NOT is_system AND balance < 0',
      );
      seen.push(...rows.map((row) => `${row.account_id}=${row.balance}`));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  try {
    await work();
  } finally {
    sampling = false;
    await sampler;
  }
  return seen;
}

/** Database transactions that committed in the same microsecond and touched a common account (none expected). */
function tiedCommits(rows: StoredRow[]): string[] {
  const accountsOf = new Map<string, { commit: string; accounts: Set<string> }>();
  for (const row of rows) {
    const entry = accountsOf.get(row.xid) ?? { commit: row.commit_us, accounts: new Set<string>() };
    entry.accounts.add(row.from_account_id).add(row.to_account_id);
    accountsOf.set(row.xid, entry);
  }
  const byCommit = new Map<string, string[]>();
  for (const [xid, { commit }] of accountsOf) byCommit.set(commit, [...(byCommit.get(commit) ?? []), xid]);
  const tied: string[] = [];
  for (const xids of byCommit.values())
    for (const [i, a] of xids.entries())
      for (const b of xids.slice(i + 1)) {
        const shared = [...accountsOf.get(a)!.accounts].some(
          (id) => id !== BANK_ACCOUNT_ID && accountsOf.get(b)!.accounts.has(id),
        );
        if (shared) tied.push(`${a} and ${b}`);
      }
  return tied;
}

/** Every stored transaction with the database transaction that wrote it and when that committed. */
async function storedRows(): Promise<StoredRow[]> {
  const { rows } = await db.query<StoredRow>(
    `SELECT transaction_id, request_id, kind, src_account_id, dst_account_id, from_account_id, to_account_id,
            amount::text, direction, status, failure_reason, xmin::text AS xid,
            (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint::text AS commit_us
       FROM transactions`,
  );
  return rows.sort(
    (a, b) =>
      Number(BigInt(a.commit_us) - BigInt(b.commit_us)) ||
      Number(BigInt(a.xid) - BigInt(b.xid)) ||
      (a.transaction_id < b.transaction_id ? -1 : 1),
  );
}

const REASONS = ['', 'insufficient_funds', 'balance_limit_exceeded', 'batch_aborted'];
/** The facts of a transaction both an answer and a row carry, in one shape. */
function rowOf(t: Transaction) {
  return {
    requestId: t.requestId,
    src: t.srcAccountId,
    dst: t.dstAccountId,
    amount: t.amount,
    direction: t.direction === Direction.DIRECTION_DEBIT ? 'debit' : 'credit',
    status: t.status === 1 ? 'success' : 'failed',
    reason: REASONS[t.failureReason]!,
  };
}
function rowFacts(row: StoredRow) {
  return {
    requestId: row.request_id ?? '',
    src: row.src_account_id ?? '',
    dst: row.dst_account_id,
    amount: BigInt(row.amount),
    direction: row.direction,
    status: row.status,
    reason: row.failure_reason ?? '',
  };
}

/** Answers that are not the transaction their request asked for (one per item, in order, with its parameters). */
function answersNotMatchingTheirRequests(sent: Sent[]): string[] {
  const asked = (operation: Operation) => {
    const transfer = (i: Item) => ({
      requestId: i.key,
      src: i.src,
      dst: i.dst,
      amount: i.amount,
      direction: i.direction,
    });
    if (operation.kind === 'transfer') return [transfer(operation)];
    if (operation.kind === 'bank')
      return [
        {
          requestId: operation.key,
          src: '',
          dst: operation.dst,
          amount: operation.amount,
          direction: operation.direction,
        },
      ];
    return operation.items.map(transfer);
  };
  const wrong: string[] = [];
  for (const { operation, transactions } of sent) {
    if (!transactions) continue;
    const got = transactions.map((t) => ({
      requestId: t.requestId,
      src: t.srcAccountId,
      dst: t.dstAccountId,
      amount: t.amount,
      direction: t.direction,
    }));
    if (
      JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? String(v) : v)) !==
      JSON.stringify(asked(operation), (_, v) => (typeof v === 'bigint' ? String(v) : v))
    )
      wrong.push(`${operation.kind} ${operation.key}`);
  }
  return wrong;
}

/** The transactions the answers acknowledged, by id; and any key answered with two different transactions. */
function acknowledgedTransactions(sent: Sent[]) {
  const byId = new Map<string, Transaction>();
  const byKey = new Map<string, Set<string>>();
  for (const { transactions } of sent)
    for (const t of transactions ?? []) {
      byId.set(t.transactionId, t);
      if (t.requestId) byKey.set(t.requestId, (byKey.get(t.requestId) ?? new Set()).add(t.transactionId));
    }
  const keysWithTwoTransactions = [...byKey].filter(([, ids]) => ids.size > 1).map(([key]) => key);
  return { byId, keysWithTwoTransactions };
}

/**
 * The only refusals a valid request may get: ALREADY_EXISTS for a key that
 * holds a transaction with other parameters (whichever request claimed the key
 * first wins it). A refused batch stored nothing of its own.
 */
function refusalsNotJustified(sent: Sent[], rows: StoredRow[]): string[] {
  const byKey = new Map(rows.filter((row) => row.request_id).map((row) => [row.request_id!, row]));
  const differs = (item: Item, row: StoredRow | undefined) =>
    !row ||
    row.src_account_id !== item.src ||
    row.dst_account_id !== item.dst ||
    BigInt(row.amount) !== item.amount ||
    row.direction !== (item.direction === Direction.DIRECTION_DEBIT ? 'debit' : 'credit');
  const usersOfKey = new Map<string, Set<Operation>>();
  for (const { operation } of sent)
    for (const key of operation.kind === 'batch' ? operation.items.map((i) => i.key) : [operation.key])
      usersOfKey.set(key, (usersOfKey.get(key) ?? new Set()).add(operation));
  const wrong: string[] = [];
  for (const { operation, error } of sent) {
    if (!error) continue;
    const field = error.metadata.get('alfabet-error-field')[0];
    const what = `${operation.kind} ${operation.key}: ${status[error.code]} ${error.details}`;
    if (error.code !== status.ALREADY_EXISTS) wrong.push(what);
    else if (operation.kind === 'transfer' && !(field === 'request_id' && differs(operation, byKey.get(operation.key))))
      wrong.push(what);
    else if (operation.kind === 'batch') {
      const index = Number(/^transfers\[(\d+)\]\.request_id$/.exec(String(field))?.[1] ?? -1);
      const clash = operation.items[index];
      if (!clash || !differs(clash, byKey.get(clash.key))) wrong.push(what);
      // Its items no other operation names must not have been stored.
      const own = operation.items.filter((i) => (usersOfKey.get(i.key)?.size ?? 0) === 1);
      if (own.some((i) => byKey.has(i.key))) wrong.push(`${what} (yet its own items are stored)`);
    } else if (operation.kind === 'bank') wrong.push(what);
  }
  return wrong;
}

/**
 * Replays the stored transactions one database transaction at a time, in
 * commit order, from empty balances, as the ledger's rules say they must have
 * gone; returns the balances it ends with and every row whose stored outcome
 * the replay does not reproduce.
 */
function replaySerially(rows: StoredRow[], sent: Sent[]) {
  const balances = new Map<string, bigint>();
  const balance = (id: string) => balances.get(id) ?? 0n;
  const unjustified: string[] = [];
  const outcomes: Record<string, number> = { success: 0 };
  const groups: StoredRow[][] = [];
  for (const row of rows) {
    const last = groups.at(-1);
    if (last && last[0]!.xid === row.xid) last.push(row);
    else groups.push([row]);
  }
  const xidOf = new Map(rows.map((row) => [row.transaction_id, row]));
  for (const group of groups) {
    if (group.some((row) => row.failure_reason === 'batch_aborted')) {
      unjustified.push(...replayAbortedBatch(group, sent, xidOf, balance));
      for (const row of group) outcomes[row.failure_reason!] = (outcomes[row.failure_reason!] ?? 0) + 1;
      continue;
    }
    for (const row of group) {
      const amount = BigInt(row.amount);
      const covered = row.from_account_id === BANK_ACCOUNT_ID || balance(row.from_account_id) >= amount;
      const expected = covered ? 'success' : 'failed insufficient_funds';
      const stored = row.status === 'success' ? 'success' : `failed ${row.failure_reason}`;
      if (stored !== expected) unjustified.push(`${row.transaction_id}: stored ${stored}, replay ${expected}`);
      if (row.status === 'success') {
        balances.set(row.from_account_id, balance(row.from_account_id) - amount);
        balances.set(row.to_account_id, balance(row.to_account_id) + amount);
      }
      const outcome = row.status === 'success' ? 'success' : row.failure_reason!;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  }
  return { balances, unjustified, outcomes };
}

/**
 * An aborted atomic batch: evaluated in its request order (its answer), its own
 * items against the balances at its commit, an item it replayed by its FAILED
 * outcome; the first that fails is the culprit, every other own item must be
 * BATCH_ABORTED, and nothing moved.
 */
function replayAbortedBatch(
  group: StoredRow[],
  sent: Sent[],
  rowOfId: Map<string, StoredRow>,
  balance: (id: string) => bigint,
): string[] {
  const ids = new Set(group.map((row) => row.transaction_id));
  const answer = sent.find(
    (s) => s.operation.kind === 'batch' && s.operation.atomic && s.transactions?.some((t) => ids.has(t.transactionId)),
  )?.transactions;
  if (!answer) return [`${group[0]!.transaction_id}: aborted, but no atomic batch answered it`];
  const running = new Map<string, bigint>();
  const funds = (id: string) => running.get(id) ?? balance(id);
  let culprit: string | null = null;
  for (const t of answer) {
    const row = rowOfId.get(t.transactionId)!;
    if (!ids.has(t.transactionId)) {
      if (row.status === 'failed') culprit = t.transactionId;
    } else if (funds(row.from_account_id) < t.amount) culprit = t.transactionId;
    else {
      running.set(row.from_account_id, funds(row.from_account_id) - t.amount);
      running.set(row.to_account_id, funds(row.to_account_id) + t.amount);
    }
    if (culprit) break;
  }
  const wrong: string[] = [];
  for (const row of group) {
    const expected = row.transaction_id === culprit ? 'insufficient_funds' : 'batch_aborted';
    if (row.status !== 'failed' || row.failure_reason !== expected)
      wrong.push(`${row.transaction_id}: stored ${row.status} ${row.failure_reason}, replay failed ${expected}`);
  }
  if (!culprit) wrong.push(`${group[0]!.transaction_id}: aborted batch without a culprit in the replay`);
  return wrong;
}
