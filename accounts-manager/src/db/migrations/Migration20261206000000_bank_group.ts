import { Migration } from '@mikro-orm/migrations';

/**
 * Group commit for BankTransaction (ledger/group-commit.ts): lone bank
 * transactions arriving together are posted by one call of
 * ledger_post_bank_group() — one round trip, one database transaction and one
 * commit for the group — as lone transfers already are by ledger_post_batch()
 * in its lenient mode. Nothing else changes: no table, no column.
 */
export class Migration20261206000000_bank_group extends Migration {
  override async up(): Promise<void> {
    this.addSql(LEDGER_POST_BANK_GROUP);
  }
}

/**
 * ledger_post_bank_group(): independent bank transactions, each decided
 * exactly as ledger_post() decides a lone one (…_bank_balance_shards.ts), in
 * the single statement that calls it. Items are the arrays' elements at one
 * index; p_accounts[i] is the customer's account, p_directions[i] 'credit'
 * (the bank pays the customer) or 'debit' (the customer pays the bank).
 *
 * Locks, in the order every posting function takes them (no deadlock): the
 * items' keys in request_id order, the customers' rows in account_id order,
 * then one bank shard, last — picked as ledger_post() picks it (this
 * backend's own when free, else the nearest free one, waiting only when all
 * are held).
 *
 * Each item's answer, in request order:
 * - 'posted': its new transaction, SUCCESS or FAILED (insufficient_funds,
 *   balance_limit_exceeded), with the message ledger_post() would write;
 * - 'replayed': the transaction its key recorded earlier (the caller checks
 *   it was the same request, as for ledger_post());
 * - 'gone': its key recorded a transaction that is no longer in the hot
 *   partitions (the caller looks in the archive, as after ledger_post());
 * - 'not_found': its account does not exist; nothing is stored for it and
 *   its key is let go.
 *
 * The bank's legs all go to the one shard, in request order. A lone bank
 * transaction fails only when no shard has room for it; should an item not
 * fit this shard at its turn (±1.25·10¹⁷ minor units: never in practice),
 * the function raises AB507 and stores nothing, and the caller posts each
 * item alone with ledger_post() instead — so every item's outcome is always
 * the one its lone call would have had.
 */
const LEDGER_POST_BANK_GROUP = `
CREATE FUNCTION ledger_post_bank_group(
  p_bank uuid, p_transaction_ids uuid[], p_request_ids uuid[], p_accounts uuid[], p_amounts bigint[],
  p_directions text[], p_descriptions text[], p_initiated_by text[]
) RETURNS TABLE (
  item integer, outcome text, transaction_id uuid, create_time timestamptz, request_id uuid, kind text,
  src_account_id uuid, dst_account_id uuid, amount bigint, direction text, description text,
  status text, failure_reason text, failure_message text, initiated_by text
)
LANGUAGE plpgsql AS $$
DECLARE
  balance_limit constant bigint := 4000000000000000000;
  shard_limit constant bigint := 125000000000000000;
  n constant integer := cardinality(p_transaction_ids);
  preferred integer := pg_backend_pid() % 32;
  v_time timestamptz;
  v_claimed uuid[];
  v_outcome text[];
  v_ids uuid[];
  v_bal bigint[];
  v_before bigint[];
  v_ai integer[];
  v_shard smallint;
  v_shard_balance bigint;
  v_shard_before bigint;
  v_status text[] := array_fill(NULL::text, ARRAY[n]);
  v_reason text[] := array_fill(NULL::text, ARRAY[n]);
  v_message text[] := array_fill(''::text, ARRAY[n]);
  v_a integer;
  v_delta bigint;
BEGIN
  IF n = 0 OR cardinality(p_request_ids) <> n OR cardinality(p_accounts) <> n OR cardinality(p_amounts) <> n
     OR cardinality(p_directions) <> n OR cardinality(p_descriptions) <> n OR cardinality(p_initiated_by) <> n THEN
    RAISE EXCEPTION 'ledger_post_bank_group: % items, arrays of unequal length', n USING ERRCODE = 'AB400';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_request_ids) r WHERE r IS NOT NULL GROUP BY r HAVING count(*) > 1) THEN
    RAISE EXCEPTION 'ledger_post_bank_group: a request_id repeats within the group' USING ERRCODE = 'AB400';
  END IF;
  PERFORM 1 FROM accounts a WHERE a.account_id = p_bank AND a.is_system;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ledger_post_bank_group: % is not the bank''s account', p_bank USING ERRCODE = 'AB400';
  END IF;
  -- The xid first, then the time: a row's create_time is never earlier than
  -- the moment its xid existed (what lets report_hour_counts seal an hour).
  PERFORM pg_current_xact_id();
  v_time := clock_timestamp();

  -- 1. The keys, claimed in request_id order; a key another call holds is a replay.
  WITH claimed AS (
    INSERT INTO transaction_requests AS r (request_id, transaction_id, create_time)
    SELECT x.rid, x.tid, v_time FROM unnest(p_request_ids, p_transaction_ids) x(rid, tid)
     WHERE x.rid IS NOT NULL ORDER BY x.rid
    ON CONFLICT ON CONSTRAINT transaction_requests_pkey DO NOTHING
    RETURNING r.request_id)
  SELECT array_agg(claimed.request_id) INTO v_claimed FROM claimed;
  IF coalesce(cardinality(v_claimed), 0) = cardinality(array_remove(p_request_ids, NULL)) THEN
    v_outcome := array_fill('posted'::text, ARRAY[n]);
  ELSE
    SELECT array_agg(CASE WHEN x.rid IS NULL OR c.rid IS NOT NULL THEN 'posted' ELSE 'replayed' END ORDER BY x.ord)
      INTO v_outcome
      FROM unnest(p_request_ids) WITH ORDINALITY x(rid, ord)
      LEFT JOIN unnest(v_claimed) c(rid) ON c.rid = x.rid;
  END IF;

  -- 2. The customers' rows, locked in account_id order; an unknown account's item stores nothing.
  SELECT array_agg(a.account_id ORDER BY a.account_id), array_agg(a.balance ORDER BY a.account_id)
    INTO v_ids, v_bal
    FROM (SELECT a.account_id, a.balance FROM accounts a
           WHERE a.account_id IN (SELECT x.acc FROM unnest(p_accounts, v_outcome) x(acc, o) WHERE x.o = 'posted')
             AND NOT a.is_system
           ORDER BY a.account_id FOR UPDATE) a;
  v_before := v_bal;
  SELECT array_agg(ai.i ORDER BY x.ord) INTO v_ai
    FROM unnest(p_accounts) WITH ORDINALITY x(acc, ord)
    LEFT JOIN unnest(v_ids) WITH ORDINALITY ai(id, i) ON ai.id = x.acc;
  IF EXISTS (SELECT 1 FROM unnest(v_outcome, v_ai) x(o, i) WHERE x.o = 'posted' AND x.i IS NULL) THEN
    DELETE FROM transaction_requests r
     WHERE r.request_id IN (SELECT x.rid FROM unnest(p_request_ids, v_outcome, v_ai) x(rid, o, i)
                             WHERE x.o = 'posted' AND x.i IS NULL);
    SELECT array_agg(CASE WHEN x.o = 'posted' AND x.i IS NULL THEN 'not_found' ELSE x.o END ORDER BY x.ord)
      INTO v_outcome FROM unnest(v_outcome, v_ai) WITH ORDINALITY x(o, i, ord);
  END IF;

  -- 3. One bank shard, the last lock.
  IF 'posted' = ANY(v_outcome) THEN
    SELECT s.shard, s.balance INTO v_shard, v_shard_balance FROM bank_balance_shards s
     WHERE s.shard = preferred FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      SELECT s.shard, s.balance INTO v_shard, v_shard_balance FROM bank_balance_shards s
       ORDER BY (s.shard - preferred + 32) % 32 LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
      SELECT s.shard, s.balance INTO v_shard, v_shard_balance FROM bank_balance_shards s
       WHERE s.shard = preferred FOR UPDATE;
    END IF;
    v_shard_before := v_shard_balance;
  END IF;

  -- 4. In request order, against running balances.
  FOR i IN 1 .. n LOOP
    CONTINUE WHEN v_outcome[i] <> 'posted';
    v_a := v_ai[i];
    IF p_directions[i] = 'debit' AND v_bal[v_a] < p_amounts[i] THEN
      v_status[i] := 'failed';
      v_reason[i] := 'insufficient_funds';
      -- The message names no balance: the caller may not own the account.
      v_message[i] := format('account %s does not hold the %s minor units to take', p_accounts[i], p_amounts[i]);
      CONTINUE;
    END IF;
    IF p_directions[i] = 'credit' AND v_bal[v_a] > balance_limit - p_amounts[i] THEN
      v_status[i] := 'failed';
      v_reason[i] := 'balance_limit_exceeded';
      v_message[i] := format('moving %s would take a balance past the ledger limit of %s', p_amounts[i], balance_limit);
      CONTINUE;
    END IF;
    -- What the customer's balance moves by; the bank's shard moves the other way.
    v_delta := CASE WHEN p_directions[i] = 'credit' THEN p_amounts[i] ELSE -p_amounts[i] END;
    IF v_shard_balance - v_delta NOT BETWEEN -shard_limit AND shard_limit THEN
      RAISE EXCEPTION 'the group''s bank legs do not fit one shard' USING ERRCODE = 'AB507';
    END IF;
    v_shard_balance := v_shard_balance - v_delta;
    v_bal[v_a] := v_bal[v_a] + v_delta;
    v_status[i] := 'success';
  END LOOP;

  -- 5. The money, the rows, the answers.
  UPDATE accounts a SET balance = x.bal, update_time = now()
    FROM unnest(v_ids, v_bal, v_before) x(id, bal, before)
   WHERE a.account_id = x.id AND x.bal <> x.before;
  IF v_shard IS NOT NULL AND v_shard_balance <> v_shard_before THEN
    UPDATE bank_balance_shards s SET balance = v_shard_balance, update_time = now() WHERE s.shard = v_shard;
  END IF;
  RETURN QUERY
    WITH inserted AS (
      INSERT INTO transactions AS s (
        transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
        direction, description, status, failure_reason, failure_message, from_account_id, to_account_id,
        initiated_by)
      SELECT x.tid, v_time, x.rid, 'bank', NULL, x.acc, x.amt, x.dir, x.descr, x.st, x.re, x.msg,
             CASE WHEN x.dir = 'credit' THEN p_bank ELSE x.acc END,
             CASE WHEN x.dir = 'credit' THEN x.acc ELSE p_bank END, x.who
        FROM unnest(p_transaction_ids, p_request_ids, p_accounts, p_amounts, p_directions, p_descriptions,
                    v_status, v_reason, v_message, p_initiated_by, v_outcome)
             x(tid, rid, acc, amt, dir, descr, st, re, msg, who, o)
       WHERE x.o = 'posted'
      RETURNING s.transaction_id, s.create_time, s.request_id, s.kind, s.src_account_id, s.dst_account_id,
                s.amount, s.direction, s.description, s.status, s.failure_reason, s.failure_message,
                s.initiated_by
    ), answered AS (
      SELECT x.ord, s.* FROM unnest(p_transaction_ids, v_outcome) WITH ORDINALITY x(tid, o, ord)
        JOIN inserted s ON x.o = 'posted' AND s.transaction_id = x.tid
      UNION ALL
      SELECT x.ord, t.transaction_id, t.create_time, t.request_id, t.kind, t.src_account_id, t.dst_account_id,
             t.amount, t.direction, t.description, t.status, t.failure_reason, t.failure_message, t.initiated_by
        FROM unnest(p_request_ids, v_outcome) WITH ORDINALITY x(rid, o, ord)
        JOIN transaction_requests r ON x.o = 'replayed' AND r.request_id = x.rid
        JOIN transactions t ON t.transaction_id = r.transaction_id AND t.create_time = r.create_time
    )
    SELECT (x.ord - 1)::integer, CASE WHEN x.o = 'replayed' AND a.transaction_id IS NULL THEN 'gone' ELSE x.o END,
           a.transaction_id, a.create_time, a.request_id, a.kind, a.src_account_id, a.dst_account_id, a.amount,
           a.direction, a.description, a.status, a.failure_reason, a.failure_message, a.initiated_by
      FROM unnest(v_outcome) WITH ORDINALITY x(o, ord)
      LEFT JOIN answered a ON a.ord = x.ord
     ORDER BY x.ord;
END $$`;
