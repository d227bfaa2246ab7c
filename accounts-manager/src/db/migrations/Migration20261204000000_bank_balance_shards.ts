import { Migration } from '@mikro-orm/migrations';

/**
 * No hot bank row. Until now every BankTransaction locked the bank's one
 * system account row for the whole of its posting, so bank transactions ran
 * one at a time (docs/benchmarks.md: 1 797/s where PostgreSQL updates one hot
 * row 4 727 times a second). The bank's balance now lives in 32 shard rows,
 * bank_balance_shards; its accounts row is no longer locked nor written, and
 * the bank's balance is that row's balance (0 from here on: this migration
 * moves it into the shards) plus the sum of the shards. GetAccount and
 * ledger:verify read it so (db/accounts.sql.ts, db/ledger-verify.sql.ts).
 *
 * The money moved here is moved exactly: the bank's balance b is spread as
 * b / 32 on every shard and the remainder (b % 32, both truncating) on shard
 * 0, then the row is set to 0 — the same sum, in one transaction.
 *
 * Each shard keeps within ±BALANCE_LIMIT / 32 (1.25·10¹⁷ minor units), so the
 * bank as a whole stays within ±4·10¹⁸ as before and no sum can overflow.
 *
 * ledger_post() keeps its signature; only its body changes (see below).
 */
export class Migration20261204000000_bank_balance_shards extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE bank_balance_shards (
        shard        smallint PRIMARY KEY CHECK (shard >= 0 AND shard < 32),
        balance      bigint NOT NULL DEFAULT 0
                     CHECK (balance >= -125000000000000000 AND balance <= 125000000000000000),
        update_time  timestamptz NOT NULL DEFAULT now()
      )`);
    this.addSql(`
      INSERT INTO bank_balance_shards (shard, balance)
      SELECT s, CASE WHEN s = 0 THEN b.balance / 32 + b.balance % 32 ELSE b.balance / 32 END
      FROM generate_series(0, 31) s,
           (SELECT coalesce(sum(balance), 0)::bigint AS balance FROM accounts WHERE is_system) b`);
    this.addSql('UPDATE accounts SET balance = 0, update_time = now() WHERE is_system');
    this.addSql(LEDGER_POST_SHARDED);
  }
}

/**
 * ledger_post() with the bank's side on a shard. As before (…_initiated_by.ts)
 * but:
 * - only customer accounts are locked (`AND NOT is_system`), in account_id
 *   order; the bank's row is read (is_system) but never locked or written;
 * - the bank's leg goes to one shard with room for it, picked after the
 *   customer row is locked: the shard this backend prefers
 *   (pg_backend_pid() % 32, so a pool's connections spread over the shards
 *   and keep to their own) when it is free — one primary-key lookup, the
 *   common case — else the nearest free one to it, skipping shards other
 *   transactions hold (SKIP LOCKED: no waiting while any is free); only when
 *   every shard with room is held does it wait for the nearest one. Shards
 *   are always the last lock a transaction takes, so waiting for one cannot
 *   close a cycle: no deadlock.
 * - the bank may go negative; a shard that cannot take the amount is passed
 *   over, and only when no shard can is it FAILURE_REASON_BALANCE_LIMIT_EXCEEDED.
 */
const LEDGER_POST_SHARDED = `
CREATE OR REPLACE FUNCTION ledger_post(
  p_transaction_id uuid, p_request_id uuid, p_kind text,
  p_src_account_id uuid, p_dst_account_id uuid, p_amount bigint, p_direction text,
  p_description text, p_from_account_id uuid, p_to_account_id uuid,
  p_initiated_by text DEFAULT ''
) RETURNS TABLE (
  outcome text, transaction_id uuid, create_time timestamptz, request_id uuid, kind text,
  src_account_id uuid, dst_account_id uuid, amount bigint, direction text, description text,
  status text, failure_reason text, failure_message text, initiated_by text
)
LANGUAGE plpgsql AS $$
DECLARE
  balance_limit constant bigint := 4000000000000000000;
  shard_limit constant bigint := 125000000000000000;
  from_balance bigint;
  from_is_system boolean;
  to_balance bigint;
  to_is_system boolean;
  bank_delta bigint;
  preferred integer := pg_backend_pid() % 32;
  v_shard smallint;
  v_status text := 'success';
  v_reason text;
  v_message text := '';
  v_time timestamptz;
BEGIN
  -- The xid first, then the time: a row's create_time is never earlier than
  -- the moment its xid existed (what lets report_hour_counts seal an hour).
  PERFORM pg_current_xact_id();
  v_time := clock_timestamp();
  IF p_request_id IS NOT NULL THEN
    INSERT INTO transaction_requests AS r (request_id, transaction_id, create_time)
    VALUES (p_request_id, p_transaction_id, v_time)
    ON CONFLICT ON CONSTRAINT transaction_requests_pkey DO NOTHING;
    IF NOT FOUND THEN
      RETURN QUERY
        SELECT 'replayed'::text, t.transaction_id, t.create_time, t.request_id, t.kind,
               t.src_account_id, t.dst_account_id, t.amount, t.direction, t.description,
               t.status, t.failure_reason, t.failure_message, t.initiated_by
        FROM transaction_requests r
        JOIN transactions t ON t.transaction_id = r.transaction_id AND t.create_time = r.create_time
        WHERE r.request_id = p_request_id;
      RETURN;
    END IF;
  END IF;

  PERFORM 1 FROM accounts a
   WHERE a.account_id IN (p_from_account_id, p_to_account_id) AND NOT a.is_system
   ORDER BY a.account_id
   FOR UPDATE;

  SELECT a.balance, a.is_system INTO from_balance, from_is_system
    FROM accounts a WHERE a.account_id = p_from_account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % not found', p_from_account_id USING ERRCODE = 'AB404', DETAIL = p_from_account_id::text;
  END IF;
  SELECT a.balance, a.is_system INTO to_balance, to_is_system
    FROM accounts a WHERE a.account_id = p_to_account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % not found', p_to_account_id USING ERRCODE = 'AB404', DETAIL = p_to_account_id::text;
  END IF;

  IF NOT from_is_system AND from_balance < p_amount THEN
    v_status := 'failed';
    v_reason := 'insufficient_funds';
    -- The message names no balance: the caller may not own the account.
    v_message := format('account %s does not hold the %s minor units to take', p_from_account_id, p_amount);
  ELSIF NOT to_is_system AND to_balance > balance_limit - p_amount THEN
    v_status := 'failed';
    v_reason := 'balance_limit_exceeded';
    v_message := format('moving %s would take a balance past the ledger limit of %s', p_amount, balance_limit);
  ELSIF from_is_system OR to_is_system THEN
    bank_delta := CASE WHEN from_is_system THEN -p_amount ELSE p_amount END;
    -- This connection's own shard, when free and with room: one index lookup, no scan.
    SELECT s.shard INTO v_shard FROM bank_balance_shards s
     WHERE s.shard = preferred AND s.balance + bank_delta BETWEEN -shard_limit AND shard_limit
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      SELECT s.shard INTO v_shard FROM bank_balance_shards s
       WHERE s.balance + bank_delta BETWEEN -shard_limit AND shard_limit
       ORDER BY (s.shard - preferred + 32) % 32
       LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
      SELECT s.shard INTO v_shard FROM bank_balance_shards s
       WHERE s.balance + bank_delta BETWEEN -shard_limit AND shard_limit
       ORDER BY (s.shard - preferred + 32) % 32
       LIMIT 1 FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
      v_status := 'failed';
      v_reason := 'balance_limit_exceeded';
      v_message := format('moving %s would take the bank''s balance past the ledger limit', p_amount);
    ELSE
      UPDATE bank_balance_shards s SET balance = s.balance + bank_delta, update_time = now() WHERE s.shard = v_shard;
      UPDATE accounts a SET balance = a.balance - bank_delta, update_time = now()
       WHERE a.account_id = CASE WHEN from_is_system THEN p_to_account_id ELSE p_from_account_id END;
    END IF;
  ELSE
    UPDATE accounts a SET balance = a.balance - p_amount, update_time = now() WHERE a.account_id = p_from_account_id;
    UPDATE accounts a SET balance = a.balance + p_amount, update_time = now() WHERE a.account_id = p_to_account_id;
  END IF;

  RETURN QUERY
    INSERT INTO transactions AS t (
      transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
      direction, description, status, failure_reason, failure_message, from_account_id, to_account_id,
      initiated_by)
    VALUES (
      p_transaction_id, v_time, p_request_id, p_kind, p_src_account_id, p_dst_account_id, p_amount,
      p_direction, p_description, v_status, v_reason, v_message, p_from_account_id, p_to_account_id,
      p_initiated_by)
    RETURNING 'posted'::text, t.transaction_id, t.create_time, t.request_id, t.kind,
              t.src_account_id, t.dst_account_id, t.amount, t.direction, t.description,
              t.status, t.failure_reason, t.failure_message, t.initiated_by;
END $$`;
