// The report benchmark's data: `hot` transactions spread over the last 4.4
// days (inside the 5-day window) and `archived` ones over days 8–40 ago,
// moved to the archive schema. Written once and reused while it is still in
// the window (a day), because writing millions of rows takes minutes.
// Every row is a successful bank credit and the balances are set to match,
// so ledger:verify holds on this database too.
import pg from 'pg';

const BANK = '00000000-0000-7000-8000-000000000001';
const ACCOUNTS = 1_000;
const HOT_SPREAD_DAYS = 4.4;
const ARCHIVE_DAYS = { from: 40, to: 8 }; // days ago
const REUSE_HOURS = 12;
const CHUNK = 250_000;

const ROW_COLUMNS = `transaction_id, create_time, kind, dst_account_id, amount, direction, description,
  status, failure_message, from_account_id, to_account_id`;
/** Rows i = $1..$2 of a seed: a bank credit of 1.00 to one of the seed accounts. */
const rowsSelect = (createTime) => `
  SELECT gen_random_uuid(), ${createTime}, 'bank', a.account_id, 100, 'credit', 'bench seed',
         'success', '', '${BANK}'::uuid, a.account_id
  FROM generate_series($1::bigint, $2::bigint) AS i
  JOIN bench_seed_accounts a ON a.n = i % ${ACCOUNTS}`;

/** Makes sure `databaseUrl` (already migrated by accounts-manager) holds the seed; returns its description. */
export async function ensureReportData(databaseUrl, { hot, archived }, say) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('CREATE TABLE IF NOT EXISTS bench_seed (hot bigint, archived bigint, seeded_at timestamptz)');
    const existing = (await db.query('SELECT hot, archived, seeded_at FROM bench_seed')).rows[0];
    if (
      existing &&
      Number(existing.hot) === hot &&
      Number(existing.archived) === archived &&
      Date.now() - existing.seeded_at.getTime() < REUSE_HOURS * 3_600_000
    ) {
      say(
        `report data: reusing ${hot.toLocaleString('en')} hot + ${archived.toLocaleString('en')} archived rows (seeded ${existing.seeded_at.toISOString()})`,
      );
      return { hot, archived, seededAt: existing.seeded_at.toISOString() };
    }
    if (existing) throw new Error('the report database holds another or a stale seed: drop it and run again');
    return await seed(db, { hot, archived }, say);
  } finally {
    await db.end();
  }
}

async function seed(db, { hot, archived }, say) {
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

  // Hot rows, newest 1 minute ago, through the partitioned table as the service writes them.
  const spreadSeconds = HOT_SPREAD_DAYS * 86_400;
  for (let from = 1; from <= hot; from += CHUNK) {
    const to = Math.min(hot, from + CHUNK - 1);
    await db.query(
      `INSERT INTO transactions (${ROW_COLUMNS}) ${rowsSelect(`$3::timestamptz - interval '1 minute' - make_interval(secs => i * ${spreadSeconds}::float8 / ${hot})`)}`,
      [from, to, now],
    );
    say(`report data: ${to.toLocaleString('en')} / ${hot.toLocaleString('en')} hot rows`);
  }

  // Archived rows: one day-table each, loaded before its indexes exist (much
  // faster), then attached to archive.transactions as transactions:archive leaves them.
  const days = ARCHIVE_DAYS.from - ARCHIVE_DAYS.to + 1;
  const perDay = Math.ceil(archived / days);
  let written = 0;
  for (let ago = ARCHIVE_DAYS.from; ago >= ARCHIVE_DAYS.to && written < archived; ago--) {
    const count = Math.min(perDay, archived - written);
    const {
      rows: [{ day, next }],
    } = await db.query(
      `SELECT to_char(d, 'YYYY-MM-DD') AS day, to_char(d + 1, 'YYYY-MM-DD') AS next
       FROM (SELECT (($1::timestamptz AT TIME ZONE 'UTC')::date - $2::int) AS d) x`,
      [now, ago],
    );
    const table = `archive.transactions_p${day.replaceAll('-', '')}`;
    await db.query(`CREATE TABLE ${table} (LIKE archive.transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await db.query(
      `INSERT INTO ${table} (${ROW_COLUMNS}) ${rowsSelect(`'${day} 00:00:00+00'::timestamptz + make_interval(secs => (i - $1) * 86399.0 / ${count})`)}`,
      [written, written + count - 1],
    );
    await db.query(
      `ALTER TABLE archive.transactions ATTACH PARTITION ${table} FOR VALUES FROM ('${day} 00:00:00+00') TO ('${next} 00:00:00+00')`,
    );
    written += count;
    if (ago % 8 === 0 || written === archived)
      say(`report data: ${written.toLocaleString('en')} / ${archived.toLocaleString('en')} archived rows`);
  }

  // Balances that match the rows (every row credits its account from the bank).
  await db.query(`UPDATE accounts a SET balance = s.total
                  FROM (SELECT to_account_id, sum(amount) AS total FROM ledger_transactions_all GROUP BY to_account_id) s
                  WHERE a.account_id = s.to_account_id`);
  await db.query(
    // The bank's balance is its row plus its shards: the row takes what the shards do not hold.
    `UPDATE accounts SET balance = -(SELECT coalesce(sum(balance), 0) FROM accounts WHERE NOT is_system)
                                   - (SELECT coalesce(sum(balance), 0) FROM bank_balance_shards) WHERE account_id = $1`,
    [BANK],
  );
  // History written directly, not by ledger_post(): the hour counts are taken again (report-counts.ts).
  await db.query('DELETE FROM report_hour_counts');
  await db.query('ANALYZE');
  await db.query('INSERT INTO bench_seed VALUES ($1, $2, $3)', [hot, archived, now]);
  say(`report data: seeded in ${Math.round((Date.now() - started) / 1000)} s`);
  return { hot, archived, seededAt: now.toISOString() };
}
