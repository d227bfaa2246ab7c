import { Migration } from '@mikro-orm/migrations';

/**
 * Who made each transaction (DESIGN.md §3, `Transaction.initiated_by`): the
 * authenticated identity of the call that asked for it, '' when the ledger
 * runs without authorization (and for every row written before this).
 *
 * A constant default makes the new column a catalogue change on each
 * partition, not a rewrite. The archive gets it too, so partitions still move
 * there (ATTACH needs the same columns), and ledger_transactions_all shows it
 * (a view may only gain columns at its end).
 *
 * ledger_post() takes the identity as an eleventh argument. A new argument
 * is a new function to PostgreSQL (CREATE OR REPLACE cannot change a
 * signature), so the ten-argument one is dropped in the same transaction;
 * the new argument defaults to '' so a replica still running the previous
 * release during a rolling deploy keeps posting (rows it writes say '').
 * Otherwise the function is exactly report_counts' version, and a replay
 * returns the original row's initiated_by, whoever replays it.
 */
export class Migration20261128000000_initiated_by extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE public.transactions ADD COLUMN initiated_by text NOT NULL DEFAULT ''`);
    this.addSql(`ALTER TABLE archive.transactions ADD COLUMN initiated_by text NOT NULL DEFAULT ''`);
    this.addSql(`
      CREATE OR REPLACE VIEW ledger_transactions_all AS
        SELECT transaction_id, create_time, status, amount, from_account_id, to_account_id,
               request_id, kind, src_account_id, dst_account_id, direction, description,
               failure_reason, failure_message, initiated_by
        FROM public.transactions
        UNION ALL
        SELECT transaction_id, create_time, status, amount, from_account_id, to_account_id,
               request_id, kind, src_account_id, dst_account_id, direction, description,
               failure_reason, failure_message, initiated_by
        FROM archive.transactions`);
    this.addSql('DROP FUNCTION ledger_post(uuid, uuid, text, uuid, uuid, bigint, text, text, uuid, uuid)');
    this.addSql(LEDGER_POST_WITH_INITIATOR);
  }
}

const LEDGER_POST_WITH_INITIATOR = `
CREATE FUNCTION ledger_post(
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
  from_balance bigint;
  from_is_system boolean;
  to_balance bigint;
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
   WHERE a.account_id IN (p_from_account_id, p_to_account_id)
   ORDER BY a.account_id
   FOR UPDATE;

  SELECT a.balance, a.is_system INTO from_balance, from_is_system
    FROM accounts a WHERE a.account_id = p_from_account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % not found', p_from_account_id USING ERRCODE = 'AB404', DETAIL = p_from_account_id::text;
  END IF;
  SELECT a.balance INTO to_balance FROM accounts a WHERE a.account_id = p_to_account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % not found', p_to_account_id USING ERRCODE = 'AB404', DETAIL = p_to_account_id::text;
  END IF;

  IF NOT from_is_system AND from_balance < p_amount THEN
    v_status := 'failed';
    v_reason := 'insufficient_funds';
    -- The message names no balance: the caller may not own the account.
    v_message := format('account %s does not hold the %s minor units to take', p_from_account_id, p_amount);
  ELSIF to_balance > balance_limit - p_amount OR from_balance < p_amount - balance_limit THEN
    v_status := 'failed';
    v_reason := 'balance_limit_exceeded';
    v_message := format('moving %s would take a balance past the ledger limit of %s', p_amount, balance_limit);
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
