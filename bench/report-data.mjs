// A ledger's history, written by SQL for the benchmarks that need millions of
// rows (the report, the growth benchmark): `hot` transactions spread over the
// last 4.4 days (inside the 5-day window) and `archived` ones over days 8–40
// ago, in the archive schema. With `requests`, every row carries a request_id
// and its row in transaction_requests, as traffic through the API leaves them
// (the idempotency index grows with the ledger, never pruned). Written once
// and reused while it is still in the window (12 h), because writing millions
// of rows takes minutes. Every row is a successful bank credit and the
// balances are set to match, so ledger:verify holds on this database too.
//
// Each day's rows are loaded into a table of their own, which then becomes
// that day's partition (hot or archived): its indexes are built once, sorted,
// instead of row by row — the transactions table's five indexes made writing
// hot rows the slow part (~10× slower through the parent table).
import pg from 'pg';
import { forgetReportCounts } from '../accounts-manager/dist/src/db/report-counts.sql.js';
import { BANK_ACCOUNT_ID as BANK } from './accounts-runner.mjs';

const ACCOUNTS = 1_000;
const HOT_SPREAD_DAYS = 4.4;
const ARCHIVE_DAYS = { from: 40, to: 8 }; // days ago
const REUSE_HOURS = 12;
const DAY_SECONDS = 86_400;

const columnsOf = (requests) =>
  `transaction_id, create_time, kind, dst_account_id, amount, direction, description,
  status, failure_message, from_account_id, to_account_id${requests ? ', request_id' : ''}`;
/** Rows i = $1..$2 of a seed (`createTime` of i): a bank credit of 1.00 to one of the seed accounts. */
const rowsSelect = (createTime, requests) => `
  SELECT gen_random_uuid(), ${createTime}, 'bank', a.account_id, 100, 'credit', 'bench seed',
         'success', '', '${BANK}'::uuid, a.account_id${requests ? ', gen_random_uuid()' : ''}
  FROM generate_series($1::bigint, $2::bigint) AS i
  JOIN bench_seed_accounts a ON a.n = i % ${ACCOUNTS}`;

/**
 * Makes sure `databaseUrl` (already migrated by accounts-manager) holds the
 * seed; returns its description. `requests`: give every row a request_id.
 */
export async function ensureReportData(databaseUrl, { hot, archived, requests = false }, say) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const existing = await seedOf(db);
    if (
      existing &&
      Number(existing.hot) === hot &&
      Number(existing.archived) === archived &&
      existing.requests === requests &&
      Date.now() - existing.seeded_at.getTime() < REUSE_HOURS * 3_600_000
    ) {
      say(
        `seed data: reusing ${hot.toLocaleString('en')} hot + ${archived.toLocaleString('en')} archived rows (seeded ${existing.seeded_at.toISOString()})`,
      );
      return { hot, archived, requests, seededAt: existing.seeded_at.toISOString(), seconds: 0 };
    }
    if (existing) throw new Error(`${databaseUrl} holds another or a stale seed: drop it and run again`);
    return await seed(db, { hot, archived, requests }, say);
  } finally {
    await db.end();
  }
}

/** What an earlier run seeded here, if anything. */
export async function seedOf(db) {
  await db.query('CREATE TABLE IF NOT EXISTS bench_seed (hot bigint, archived bigint, seeded_at timestamptz)');
  await db.query('ALTER TABLE bench_seed ADD COLUMN IF NOT EXISTS requests boolean NOT NULL DEFAULT false');
  return (await db.query('SELECT hot, archived, requests, seeded_at FROM bench_seed')).rows[0] ?? null;
}

async function seed(db, { hot, archived, requests }, say) {
  const started = Date.now();
  await db.query(`CREATE TABLE bench_seed_accounts (n int PRIMARY KEY, account_id uuid NOT NULL)`);
  await db.query(
    `INSERT INTO bench_seed_accounts SELECT n, gen_random_uuid() FROM generate_series(0, ${ACCOUNTS - 1}) n`,
  );
  await db.query(
    `INSERT INTO accounts (account_id, display_name) SELECT account_id, 'bench ' || n FROM bench_seed_accounts`,
  );
  const {
    rows: [{ now }],
  } = await db.query('SELECT now() AS now');
  await seedHot(db, { hot, requests, now }, say);
  await seedArchived(db, { archived, requests, now }, say);
  if (requests) await seedRequests(db, say);
  await settleBalances(db);
  await db.query('INSERT INTO bench_seed (hot, archived, requests, seeded_at) VALUES ($1, $2, $3, $4)', [
    hot,
    archived,
    requests,
    now,
  ]);
  const seconds = Math.round((Date.now() - started) / 1000);
  say(`seed data: seeded in ${seconds} s`);
  return { hot, archived, requests, seededAt: now.toISOString(), seconds };
}

/**
 * Hot rows, newest 1 minute before `now`, spread evenly over HOT_SPREAD_DAYS:
 * row i of `hot` at now − 1 min − i × spread / hot. Each UTC day's share
 * becomes that day's partition of `transactions`.
 */
async function seedHot(db, { hot, requests, now }, say) {
  if (hot === 0) return;
  const spreadSeconds = HOT_SPREAD_DAYS * DAY_SECONDS;
  const newestSeconds = now.getTime() / 1000 - 60;
  const timeOf = `$3::timestamptz - interval '1 minute' - make_interval(secs => i * ${spreadSeconds}::float8 / ${hot})`;
  let written = 0;
  for (
    let day = Math.floor(newestSeconds / DAY_SECONDS);
    day * DAY_SECONDS > newestSeconds - spreadSeconds - DAY_SECONDS;
    day--
  ) {
    const [from, to] = [day * DAY_SECONDS, (day + 1) * DAY_SECONDS];
    // The rows whose time falls in the day (one more each side, the exact cut is made on the time itself).
    const first = Math.max(1, Math.floor(((newestSeconds - to) * hot) / spreadSeconds));
    const last = Math.min(hot, Math.ceil(((newestSeconds - from) * hot) / spreadSeconds) + 1);
    if (first > last) continue;
    const rows = `SELECT * FROM (${rowsSelect(timeOf, requests)}) r(${columnsOf(requests)})
                  WHERE r.create_time >= to_timestamp(${from}) AND r.create_time < to_timestamp(${to})`;
    written += await loadDayPartition(db, {
      schema: 'public',
      day: dayName(from),
      columns: columnsOf(requests),
      rows,
      values: [first, last, now],
    });
    say(`seed data: ${written.toLocaleString('en')} / ${hot.toLocaleString('en')} hot rows`);
  }
  if (written !== hot) throw new Error(`seed data: wrote ${written} hot rows, not ${hot}`);
}

/** Archived rows: `archived` spread over days 8–40 ago, one partition of archive.transactions per day. */
async function seedArchived(db, { archived, requests, now }, say) {
  const days = ARCHIVE_DAYS.from - ARCHIVE_DAYS.to + 1;
  const perDay = Math.ceil(archived / days);
  let written = 0;
  for (let ago = ARCHIVE_DAYS.from; ago >= ARCHIVE_DAYS.to && written < archived; ago--) {
    const count = Math.min(perDay, archived - written);
    const from = (Math.floor(now.getTime() / 1000 / DAY_SECONDS) - ago) * DAY_SECONDS;
    const timeOf = `to_timestamp(${from}) + make_interval(secs => (i - $1) * 86399.0 / ${count})`;
    written += await loadDayPartition(db, {
      schema: 'archive',
      day: dayName(from),
      columns: columnsOf(requests),
      rows: rowsSelect(timeOf, requests),
      values: [written, written + count - 1],
    });
    if (ago % 8 === 0 || written === archived)
      say(`seed data: ${written.toLocaleString('en')} / ${archived.toLocaleString('en')} archived rows`);
  }
}

/**
 * Loads one day's rows into a table of their own, then makes it the day's
 * partition of `schema`.transactions (attaching builds the table's indexes,
 * sorted, in one go). A hot day the service already made a partition for is
 * replaced while it is still empty; one holding rows gets them the slow way.
 */
async function loadDayPartition(db, { schema, day, columns, rows, values }) {
  const table = `${schema}.transactions_p${day.replaceAll('-', '')}`;
  const parent = `${schema}.transactions`;
  const parentColumns = (await db.query(`SELECT * FROM ${parent} LIMIT 0`)).fields.length;
  const existing = (await db.query('SELECT to_regclass($1) IS NOT NULL AS found', [table])).rows[0].found;
  if (existing) {
    if ((await db.query(`SELECT EXISTS (SELECT 1 FROM ${table}) AS busy`)).rows[0].busy) {
      return (await db.query(`INSERT INTO ${parent} (${columns}) ${rows}`, values)).rowCount;
    }
    await db.query(`ALTER TABLE ${parent} DETACH PARTITION ${table}`);
    await db.query(`DROP TABLE ${table}`);
  }
  await db.query(`CREATE TABLE ${table} (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  if ((await db.query(`SELECT * FROM ${table} LIMIT 0`)).fields.length !== parentColumns)
    throw new Error(`seed data: ${table} does not have the columns of ${parent}`);
  const { rowCount } = await db.query(`INSERT INTO ${table} (${columns}) ${rows}`, values);
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + DAY_SECONDS * 1000).toISOString().slice(0, 10);
  await db.query(
    `ALTER TABLE ${parent} ATTACH PARTITION ${table} FOR VALUES FROM ('${day} 00:00:00+00') TO ('${next} 00:00:00+00')`,
  );
  return rowCount;
}

/**
 * Every row's request_id in transaction_requests, inserted in key order: a
 * random key's insert into a 10-million-key index would read a page from
 * disk each time, the ordered load appends to the index as it grows.
 */
async function seedRequests(db, say) {
  const { rowCount } = await db.query(`
    INSERT INTO transaction_requests (request_id, transaction_id, create_time)
    SELECT request_id, transaction_id, create_time FROM ledger_transactions_all
    WHERE request_id IS NOT NULL ORDER BY request_id`);
  say(`seed data: ${rowCount.toLocaleString('en')} request ids`);
}

/** Balances that match the rows (every row credits its account from the bank), then fresh statistics. */
async function settleBalances(db) {
  await db.query(`UPDATE accounts a SET balance = s.total
                  FROM (SELECT to_account_id, sum(amount) AS total FROM ledger_transactions_all GROUP BY to_account_id) s
                  WHERE a.account_id = s.to_account_id`);
  await db.query(
    // The bank's balance is its row plus its shards: the row takes what the shards do not hold.
    `UPDATE accounts SET balance = -(SELECT coalesce(sum(balance), 0) FROM accounts WHERE NOT is_system)
                                   - (SELECT coalesce(sum(balance), 0) FROM bank_balance_shards) WHERE account_id = $1`,
    [BANK],
  );
  // History attached past the trigger: the minute counts are taken again (report-counts.sql.ts).
  await forgetReportCounts(db);
  await db.query('ANALYZE');
}

/** YYYY-MM-DD of the UTC day starting at `seconds`. */
function dayName(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}
