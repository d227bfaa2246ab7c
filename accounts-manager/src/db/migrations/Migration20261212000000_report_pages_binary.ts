import { Migration } from '@mikro-orm/migrations';

/**
 * The transactions report's pages as two functions, so the service can read
 * them with `COPY (SELECT * FROM report_page(…)) TO STDOUT (FORMAT binary)`
 * (db/report-queries.sql.ts).
 *
 * Why: a page read as ordinary rows reaches node-postgres as text, and every
 * field becomes a JavaScript string before it is written out again as
 * protobuf — 6–8 µs of accounts-manager's CPU a row, where PostgreSQL spends
 * 2–3 µs producing it, so the stream was the service's one thread at work
 * (docs/benchmarks.md). COPY hands each row over as one buffer, in binary
 * (uuids in 16 bytes, int8 and timestamptz as 8-byte integers, text as its
 * UTF-8 bytes), which grpc/report-page-wire.ts turns into protobuf directly.
 * COPY takes no bind parameters, and a page planned at every execution costs
 * about a millisecond (db/report-pool.ts): inside a PL/pgSQL function the page's
 * statement is prepared once a session and planned as the session's
 * `plan_cache_mode` says, exactly as the prepared statement it replaces was.
 *
 * The statements are the ones that were prepared before, unchanged: rows of
 * the window [p_start, p_end) that the snapshot of ledger epoch p_epoch sees
 * (pg_visible_in_snapshot; every row of an earlier epoch), newest first by
 * (create_time, transaction_id), strictly before the cursor (p_before_time,
 * p_before_id), skipping p_offset rows, p_limit at most. One account's page
 * merges an ordered walk of each of its two per-account indexes, each reading
 * at most p_offset + p_limit rows. The columns are the row's, in the order
 * the reader expects (REPORT_ROW_COLUMNS in db/report-queries.sql.ts); they
 * are qualified everywhere because the OUT parameters share their names.
 *
 * It only adds the two functions: servers of the previous release, which
 * prepare the same statements themselves, keep listing beside new ones during
 * a rolling upgrade, and a rollback leaves two unused functions behind.
 */
export class Migration20261212000000_report_pages_binary extends Migration {
  override async up(): Promise<void> {
    this.addSql(REPORT_PAGE);
    this.addSql(REPORT_ACCOUNT_PAGE);
  }
}

const PARAMETERS = `p_start timestamptz, p_end timestamptz, p_snapshot pg_snapshot, p_epoch integer,
  p_before_time timestamptz, p_before_id uuid, p_offset bigint, p_limit bigint`;

const RETURNED = `TABLE (transaction_id uuid, request_id uuid, kind text, src_account_id uuid, dst_account_id uuid,
  amount bigint, direction text, description text, status text, failure_reason text, failure_message text,
  initiated_by text, create_time timestamptz)`;

const COLUMNS = `t.transaction_id, t.request_id, t.kind, t.src_account_id, t.dst_account_id, t.amount, t.direction,
      t.description, t.status, t.failure_reason, t.failure_message, t.initiated_by, t.create_time`;

const IN_PAGE = `t.create_time >= p_start AND t.create_time < p_end
      AND (t.epoch < p_epoch OR (t.epoch = p_epoch AND pg_visible_in_snapshot(t.xact_id, p_snapshot)))
      AND (t.create_time, t.transaction_id) < (p_before_time, p_before_id)`;

const NEWEST_FIRST = 'ORDER BY t.create_time DESC, t.transaction_id DESC';

const REPORT_PAGE = `
CREATE FUNCTION report_page(${PARAMETERS})
RETURNS ${RETURNED}
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
    SELECT ${COLUMNS}
    FROM transactions t
    WHERE ${IN_PAGE}
    ${NEWEST_FIRST} OFFSET p_offset LIMIT p_limit;
END $$;`;

const accountLeg = (column: string) => `(SELECT ${COLUMNS}
      FROM transactions t
      WHERE t.${column} = p_account AND ${IN_PAGE}
      ${NEWEST_FIRST} LIMIT p_offset + p_limit)`;

const REPORT_ACCOUNT_PAGE = `
CREATE FUNCTION report_account_page(${PARAMETERS}, p_account uuid)
RETURNS ${RETURNED}
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
    SELECT t.* FROM (${accountLeg('from_account_id')}
      UNION ALL ${accountLeg('to_account_id')}) t
    ${NEWEST_FIRST} OFFSET p_offset LIMIT p_limit;
END $$;`;
