import { Migration } from '@mikro-orm/migrations';

/**
 * BatchTransfer (DESIGN.md §3): up to MAX_BATCH_SIZE transfers in one call,
 * each as if sent alone, independent or all-or-nothing.
 *
 * - failure_reason 'batch_aborted': the items of an atomic batch that did not
 *   fail themselves but were not applied because another item failed. The
 *   check only widens, so every stored row still passes it; it is added
 *   NOT VALID and then validated (a scan that takes no lock writers wait on
 *   beyond this migration's own transaction), on the hot table and on the
 *   archive, whose partitions must keep the hot table's checks to be attached.
 * - batch_requests: the batch's own idempotency key and its answer (the
 *   transaction of each item, in request order, with its create_time so
 *   each is found in its daily partition). Items keep their own keys in
 *   transaction_requests, exactly as lone transfers do.
 * - ledger_post_batch(): the whole batch in one statement (below).
 */
export class Migration20261205000000_batch_transfer extends Migration {
  override async up(): Promise<void> {
    for (const table of ['public.transactions', 'archive.transactions']) {
      this.addSql(`ALTER TABLE ${table} DROP CONSTRAINT transactions_failure_reason_check`);
      this.addSql(`ALTER TABLE ${table} ADD CONSTRAINT transactions_failure_reason_check
        CHECK (failure_reason IN ('insufficient_funds', 'balance_limit_exceeded', 'batch_aborted')) NOT VALID`);
      this.addSql(`ALTER TABLE ${table} VALIDATE CONSTRAINT transactions_failure_reason_check`);
    }
    this.addSql(`
      CREATE TABLE batch_requests (
        request_id         uuid PRIMARY KEY,
        create_time        timestamptz NOT NULL,
        atomic             boolean NOT NULL,
        transaction_ids    uuid[] NOT NULL,
        transaction_times  timestamptz[] NOT NULL
      )`);
    this.addSql(LEDGER_POST_BATCH);
  }
}

/**
 * ledger_post_batch(): records a batch of transfers and moves their money in
 * the single statement (so the single database transaction) that calls it.
 * Items are the arrays' elements at one index (1-based here; `item` in the
 * answer is 0-based, as transfers[i] in the request).
 *
 * Locks, always in this order, so batches, lone transfers and bank
 * transactions never deadlock (a transaction only ever waits for a lock that
 * comes after every lock it holds): the batch's key; the items' keys in
 * request_id order; the accounts in account_id order (ledger_post() takes
 * its keys, then its accounts in that order too, then a bank shard last).
 *
 * 1. The batch's key (p_batch_request_id): a racing duplicate waits on it,
 *    then replays the stored answer; one with another `atomic`, other items or
 *    another item count raises AB409 'request_id'.
 * 2. Each item's key: claimed as ledger_post() claims it. An item whose key an
 *    earlier call holds is replayed: its stored transaction is the answer and
 *    it moves nothing; stored with other parameters it raises AB409 with the
 *    item's index (p_lenient: answered 'conflict' instead). A replayed
 *    transaction found nowhere (its day moving to the archive that instant)
 *    raises AB503 (p_lenient: answered 'gone').
 * 3. The new items' accounts locked; an unknown one raises AB404 naming the
 *    item and the account (p_lenient: answered 'not_found', its key let go).
 * 4. The new items evaluated in request order against running balances: each
 *    takes its payer's balance only if it holds the amount at that point, so
 *    no balance is below zero at any step. p_atomic: the first item that
 *    fails (or an item replayed as FAILED) aborts the batch — no balance
 *    changes, the culprit keeps its reason, the other new items are stored
 *    FAILED 'batch_aborted'.
 * 5. The changed balances written in one UPDATE, the new rows in one INSERT,
 *    the answer stored under the batch's key, every item answered in order.
 * p_lenient is the group commit's mode (independent lone transfers in one
 * statement): an item's bad key or unknown account must not fail the others.
 */
export const LEDGER_POST_BATCH = `
CREATE FUNCTION ledger_post_batch(
  p_batch_request_id uuid, p_atomic boolean, p_lenient boolean,
  p_transaction_ids uuid[], p_request_ids uuid[], p_src uuid[], p_dst uuid[], p_amounts bigint[],
  p_directions text[], p_from uuid[], p_to uuid[], p_initiated_by text[]
) RETURNS TABLE (
  item integer, outcome text, transaction_id uuid, create_time timestamptz, request_id uuid, kind text,
  src_account_id uuid, dst_account_id uuid, amount bigint, direction text, description text,
  status text, failure_reason text, failure_message text, initiated_by text, missing_account_id uuid
)
LANGUAGE plpgsql AS $$
DECLARE
  balance_limit constant bigint := 4000000000000000000;
  n constant integer := cardinality(p_transaction_ids);
  v_time timestamptz;
  v_stored record;
  v_claimed uuid[];
  v_outcome text[];
  v_final_ids uuid[];
  v_final_times timestamptz[];
  v_replayed_status text[];
  v_bad integer;
  v_missing uuid[] := array_fill(NULL::uuid, ARRAY[n]);
  v_ids uuid[];
  v_bal bigint[];
  v_before bigint[];
  v_fi integer[];
  v_ti integer[];
  v_status text[] := array_fill(NULL::text, ARRAY[n]);
  v_reason text[] := array_fill(NULL::text, ARRAY[n]);
  v_message text[] := array_fill(''::text, ARRAY[n]);
  v_culprit integer;
  v_f integer;
  v_t integer;
BEGIN
  IF n = 0 OR cardinality(p_request_ids) <> n OR cardinality(p_src) <> n OR cardinality(p_dst) <> n
     OR cardinality(p_amounts) <> n OR cardinality(p_directions) <> n OR cardinality(p_from) <> n
     OR cardinality(p_to) <> n OR cardinality(p_initiated_by) <> n THEN
    RAISE EXCEPTION 'ledger_post_batch: % items, arrays of unequal length', n USING ERRCODE = 'AB400';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_request_ids) r WHERE r IS NOT NULL GROUP BY r HAVING count(*) > 1) THEN
    RAISE EXCEPTION 'ledger_post_batch: a request_id repeats within the batch' USING ERRCODE = 'AB400';
  END IF;
  -- The xid first, then the time: a row's create_time is never earlier than
  -- the moment its xid existed (what lets report_hour_counts seal an hour).
  PERFORM pg_current_xact_id();
  v_time := clock_timestamp();

  -- 1. The batch's key.
  IF p_batch_request_id IS NOT NULL THEN
    INSERT INTO batch_requests AS b (request_id, create_time, atomic, transaction_ids, transaction_times)
    VALUES (p_batch_request_id, v_time, p_atomic, '{}', '{}')
    ON CONFLICT ON CONSTRAINT batch_requests_pkey DO NOTHING;
    IF NOT FOUND THEN
      SELECT b.atomic, b.transaction_ids, b.transaction_times INTO v_stored
        FROM batch_requests b WHERE b.request_id = p_batch_request_id;
      IF v_stored.atomic IS DISTINCT FROM p_atomic OR cardinality(v_stored.transaction_ids) <> n THEN
        RAISE EXCEPTION 'batch request_id used for another batch' USING ERRCODE = 'AB409', DETAIL = 'request_id';
      END IF;
      v_final_ids := v_stored.transaction_ids;
      v_final_times := v_stored.transaction_times;
      SELECT min(x.ord) INTO v_bad
        FROM unnest(v_final_ids, v_final_times, p_request_ids, p_src, p_dst, p_amounts, p_directions)
             WITH ORDINALITY x(tid, ttime, rid, src, dst, amt, dir, ord)
        LEFT JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime
       WHERE s.transaction_id IS NULL OR s.request_id IS DISTINCT FROM x.rid OR s.kind <> 'transfer'
          OR s.src_account_id IS DISTINCT FROM x.src OR s.dst_account_id <> x.dst OR s.amount <> x.amt
          OR s.direction <> x.dir;
      IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'batch request_id used for another batch' USING ERRCODE = 'AB409', DETAIL = 'request_id';
      END IF;
      RETURN QUERY
        SELECT (x.ord - 1)::integer, 'replayed'::text, s.transaction_id, s.create_time, s.request_id, s.kind,
               s.src_account_id, s.dst_account_id, s.amount, s.direction, s.description,
               s.status, s.failure_reason, s.failure_message, s.initiated_by, NULL::uuid
          FROM unnest(v_final_ids, v_final_times) WITH ORDINALITY x(tid, ttime, ord)
          JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime
         ORDER BY x.ord;
      RETURN;
    END IF;
  END IF;

  -- 2. The items' keys, claimed in request_id order. Keys another call holds are
  -- looked up in a statement of their own: its snapshot sees the rows whose
  -- writers this one waited for.
  WITH claimed AS (
    INSERT INTO transaction_requests AS r (request_id, transaction_id, create_time)
    SELECT x.rid, x.tid, v_time FROM unnest(p_request_ids, p_transaction_ids) x(rid, tid)
     WHERE x.rid IS NOT NULL ORDER BY x.rid
    ON CONFLICT ON CONSTRAINT transaction_requests_pkey DO NOTHING
    RETURNING r.request_id)
  SELECT array_agg(claimed.request_id) INTO v_claimed FROM claimed;
  IF coalesce(cardinality(v_claimed), 0) = cardinality(array_remove(p_request_ids, NULL)) THEN
    -- Every key was free (the common case): every item is new.
    v_outcome := array_fill('posted'::text, ARRAY[n]);
    v_final_ids := p_transaction_ids;
    v_final_times := array_fill(v_time, ARRAY[n]);
  ELSE
    SELECT array_agg(CASE WHEN x.rid IS NULL OR c.rid IS NOT NULL THEN 'posted' ELSE 'replayed' END ORDER BY x.ord),
           array_agg(coalesce(r.transaction_id, x.tid) ORDER BY x.ord),
           array_agg(coalesce(r.create_time, v_time) ORDER BY x.ord)
      INTO v_outcome, v_final_ids, v_final_times
      FROM unnest(p_request_ids, p_transaction_ids) WITH ORDINALITY x(rid, tid, ord)
      LEFT JOIN unnest(v_claimed) c(rid) ON c.rid = x.rid
      LEFT JOIN transaction_requests r ON c.rid IS NULL AND r.request_id = x.rid;
  END IF;

  IF 'replayed' = ANY(v_outcome) THEN
    -- What each replayed key recorded, and whether it recorded this very transfer.
    SELECT array_agg(s.status ORDER BY x.ord),
           array_agg(CASE WHEN x.o <> 'replayed' THEN x.o
                          WHEN s.transaction_id IS NULL THEN 'gone'
                          WHEN s.kind <> 'transfer' OR s.src_account_id IS DISTINCT FROM x.src
                            OR s.dst_account_id <> x.dst OR s.amount <> x.amt OR s.direction <> x.dir THEN 'conflict'
                          ELSE 'replayed' END ORDER BY x.ord)
      INTO v_replayed_status, v_outcome
      FROM unnest(v_final_ids, v_final_times, v_outcome, p_src, p_dst, p_amounts, p_directions)
           WITH ORDINALITY x(tid, ttime, o, src, dst, amt, dir, ord)
      LEFT JOIN ledger_transactions_all s ON x.o = 'replayed' AND s.transaction_id = x.tid AND s.create_time = x.ttime;
    IF 'gone' = ANY(v_outcome) AND NOT p_lenient THEN
      -- Only while its day moves to the archive (a moment): a retry finds it.
      RAISE EXCEPTION 'a replayed transaction is being archived' USING ERRCODE = 'AB503';
    END IF;
    v_bad := array_position(v_outcome, 'conflict');
    IF v_bad IS NOT NULL AND NOT p_lenient THEN
      RAISE EXCEPTION 'request_id of item % used for another request', v_bad - 1
        USING ERRCODE = 'AB409', DETAIL = (v_bad - 1)::text, HINT = v_final_ids[v_bad]::text;
    END IF;
  END IF;

  -- 3. The new items' accounts, locked in account_id order, and where each item's two are.
  SELECT array_agg(a.account_id ORDER BY a.account_id), array_agg(a.balance ORDER BY a.account_id)
    INTO v_ids, v_bal
    FROM (SELECT a.account_id, a.balance FROM accounts a
           WHERE a.account_id IN (
             SELECT unnest(ARRAY[x.f, x.t]) FROM unnest(p_from, p_to, v_outcome) x(f, t, o) WHERE x.o = 'posted')
           ORDER BY a.account_id FOR UPDATE) a;
  v_before := v_bal;
  SELECT array_agg(fi.i ORDER BY x.ord), array_agg(ti.i ORDER BY x.ord),
         array_agg(CASE WHEN x.o <> 'posted' THEN NULL WHEN fi.i IS NULL THEN x.f WHEN ti.i IS NULL THEN x.t END
                   ORDER BY x.ord)
    INTO v_fi, v_ti, v_missing
    FROM unnest(p_from, p_to, v_outcome) WITH ORDINALITY x(f, t, o, ord)
    LEFT JOIN unnest(v_ids) WITH ORDINALITY fi(id, i) ON x.o = 'posted' AND fi.id = x.f
    LEFT JOIN unnest(v_ids) WITH ORDINALITY ti(id, i) ON x.o = 'posted' AND ti.id = x.t;
  SELECT min(x.ord) INTO v_bad FROM unnest(v_missing) WITH ORDINALITY x(m, ord) WHERE x.m IS NOT NULL;
  IF v_bad IS NOT NULL THEN
    IF NOT p_lenient THEN
      RAISE EXCEPTION 'account % not found', v_missing[v_bad]
        USING ERRCODE = 'AB404', DETAIL = format('%s:%s', v_bad - 1, v_missing[v_bad]);
    END IF;
    -- Nothing is stored for such an item: its key is let go (a racing duplicate then claims it).
    DELETE FROM transaction_requests r
     WHERE r.request_id IN (SELECT x.rid FROM unnest(p_request_ids, v_missing) x(rid, m) WHERE x.m IS NOT NULL);
    SELECT array_agg(CASE WHEN x.m IS NOT NULL THEN 'not_found' ELSE x.o END ORDER BY x.ord) INTO v_outcome
      FROM unnest(v_outcome, v_missing) WITH ORDINALITY x(o, m, ord);
  END IF;

  -- 4. In request order, against running balances.
  FOR i IN 1 .. n LOOP
    IF v_outcome[i] = 'replayed' THEN
      IF p_atomic AND v_replayed_status[i] = 'failed' THEN
        v_culprit := i;
        EXIT;
      END IF;
      CONTINUE;
    END IF;
    CONTINUE WHEN v_outcome[i] <> 'posted';
    v_f := v_fi[i];
    v_t := v_ti[i];
    IF v_bal[v_f] < p_amounts[i] THEN
      v_status[i] := 'failed';
      v_reason[i] := 'insufficient_funds';
      -- The message names no balance: the caller may not own the account.
      v_message[i] := format('account %s does not hold the %s minor units to take', p_from[i], p_amounts[i]);
    ELSIF v_bal[v_t] > balance_limit - p_amounts[i] THEN
      v_status[i] := 'failed';
      v_reason[i] := 'balance_limit_exceeded';
      v_message[i] := format('moving %s would take a balance past the ledger limit of %s', p_amounts[i], balance_limit);
    ELSE
      v_status[i] := 'success';
      v_bal[v_f] := v_bal[v_f] - p_amounts[i];
      v_bal[v_t] := v_bal[v_t] + p_amounts[i];
    END IF;
    IF p_atomic AND v_status[i] = 'failed' THEN
      v_culprit := i;
      EXIT;
    END IF;
  END LOOP;

  IF v_culprit IS NOT NULL THEN
    -- All or nothing: nothing moves; every new item but the culprit is aborted.
    v_bal := v_before;
    FOR i IN 1 .. n LOOP
      CONTINUE WHEN v_outcome[i] <> 'posted' OR i = v_culprit;
      v_status[i] := 'failed';
      v_reason[i] := 'batch_aborted';
      v_message[i] := CASE WHEN v_outcome[v_culprit] = 'replayed'
        THEN format('nothing in this atomic batch moved: transfers[%s] had already failed (its request_id replays a FAILED transaction)', v_culprit - 1)
        ELSE format('nothing in this atomic batch moved: transfers[%s] failed (%s)', v_culprit - 1, v_reason[v_culprit]) END;
    END LOOP;
  END IF;

  -- 5. The money, the rows, the answer.
  UPDATE accounts a SET balance = x.bal, update_time = now()
    FROM unnest(v_ids, v_bal, v_before) x(id, bal, before)
   WHERE a.account_id = x.id AND x.bal <> x.before;
  IF p_batch_request_id IS NOT NULL THEN
    UPDATE batch_requests b SET transaction_ids = v_final_ids, transaction_times = v_final_times
     WHERE b.request_id = p_batch_request_id;
  END IF;
  RETURN QUERY
    WITH inserted AS (
      INSERT INTO transactions AS s (
        transaction_id, create_time, request_id, kind, src_account_id, dst_account_id, amount,
        direction, description, status, failure_reason, failure_message, from_account_id, to_account_id,
        initiated_by)
      SELECT x.tid, v_time, x.rid, 'transfer', x.src, x.dst, x.amt, x.dir, '', x.st, x.re, x.msg, x.f, x.t, x.who
        FROM unnest(p_transaction_ids, p_request_ids, p_src, p_dst, p_amounts, p_directions, v_status, v_reason,
                    v_message, p_from, p_to, p_initiated_by, v_outcome)
             x(tid, rid, src, dst, amt, dir, st, re, msg, f, t, who, o)
       WHERE x.o = 'posted'
      RETURNING s.transaction_id, s.create_time, s.request_id, s.kind, s.src_account_id, s.dst_account_id,
                s.amount, s.direction, s.description, s.status, s.failure_reason, s.failure_message,
                s.initiated_by
    ), earlier AS (
      SELECT s.transaction_id, s.create_time, s.request_id, s.kind, s.src_account_id, s.dst_account_id,
             s.amount, s.direction, s.description, s.status, s.failure_reason, s.failure_message, s.initiated_by
        FROM unnest(v_final_ids, v_final_times, v_outcome) x(tid, ttime, o)
        JOIN ledger_transactions_all s ON s.transaction_id = x.tid AND s.create_time = x.ttime
       WHERE x.o IN ('replayed', 'conflict')
    ), answered AS (SELECT * FROM inserted UNION ALL SELECT * FROM earlier)
    SELECT (x.ord - 1)::integer, x.o, s.transaction_id, s.create_time, s.request_id, s.kind,
           s.src_account_id, s.dst_account_id, s.amount, s.direction, s.description,
           s.status, s.failure_reason, s.failure_message, s.initiated_by, x.m
      FROM unnest(v_final_ids, v_outcome, v_missing) WITH ORDINALITY x(tid, o, m, ord)
      LEFT JOIN answered s ON x.o <> 'not_found' AND s.transaction_id = x.tid
     ORDER BY x.ord;
END $$`;
