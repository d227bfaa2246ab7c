import { Migration } from '@mikro-orm/migrations';

/**
 * The ledger's schema: accounts, the transactions table (partitioned by day so
 * reports touch only recent partitions and old ones can be archived), the
 * idempotency keys, the bank's system account, and `ledger_post()`, the one
 * statement that moves money (see src/ledger/post-transaction.ts).
 */
export class Migration20261125000000_ledger extends Migration {
  // The same statements in the same order as when this migration was first applied, grouped by what they create.
  override async up(): Promise<void> {
    this.createAccounts();
    this.createTransactions();
    this.createTransactionRequests();
    this.createDailyPartitions();
    this.insertBankAccount();
    this.addSql(LEDGER_POST_FUNCTION);
  }

  private createAccounts(): void {
    this.addSql(`
      CREATE TABLE accounts (
        account_id    uuid PRIMARY KEY,
        display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
        balance       bigint NOT NULL DEFAULT 0,
        is_system     boolean NOT NULL DEFAULT false,
        request_id    uuid UNIQUE,
        create_time   timestamptz NOT NULL DEFAULT now(),
        update_time   timestamptz NOT NULL DEFAULT now(),
        -- The last line of defence: a customer balance is never negative and
        -- no balance nears the int64 limit, whatever code runs against the table.
        CONSTRAINT accounts_balance_in_range CHECK (
          balance <= 4000000000000000000 AND balance >= -4000000000000000000
          AND (is_system OR balance >= 0))
      )`);
  }

  /** The transactions table, partitioned by day, with its report indexes and the all-transactions view. */
  private createTransactions(): void {
    this.addSql(`
      CREATE TABLE transactions (
        transaction_id   uuid NOT NULL,
        create_time      timestamptz NOT NULL,
        -- The writing database transaction's id: with a pg_snapshot kept in a
        -- report token, pg_visible_in_snapshot(xact_id, snapshot) tells exactly
        -- whether this row belongs to that report (see DESIGN.md section 4).
        xact_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
        request_id       uuid,
        kind             text NOT NULL CHECK (kind IN ('transfer', 'bank')),
        src_account_id   uuid,
        dst_account_id   uuid NOT NULL,
        amount           bigint NOT NULL CHECK (amount > 0),
        direction        text NOT NULL CHECK (direction IN ('debit', 'credit')),
        description      text NOT NULL DEFAULT '',
        status           text NOT NULL CHECK (status IN ('success', 'failed')),
        failure_reason   text CHECK (failure_reason IN ('insufficient_funds', 'balance_limit_exceeded')),
        failure_message  text NOT NULL DEFAULT '',
        -- The two legs, resolved from kind + direction: money left from_account_id
        -- and reached to_account_id (on success). ledger:verify sums these.
        from_account_id  uuid NOT NULL,
        to_account_id    uuid NOT NULL,
        PRIMARY KEY (create_time, transaction_id),
        CHECK (from_account_id <> to_account_id),
        CHECK ((status = 'success') = (failure_reason IS NULL))
      ) PARTITION BY RANGE (create_time)`);
    this.addSql(`CREATE INDEX transactions_by_id ON transactions (transaction_id)`);
    this.addSql(`CREATE INDEX transactions_report ON transactions (create_time DESC, transaction_id DESC)`);
    this.addSql(
      `CREATE INDEX transactions_report_by_from ON transactions (from_account_id, create_time DESC, transaction_id DESC)`,
    );
    this.addSql(
      `CREATE INDEX transactions_report_by_to ON transactions (to_account_id, create_time DESC, transaction_id DESC)`,
    );

    // Every transaction ever recorded, wherever it is kept: ledger:verify reads
    // this. Today that is the transactions table; archival adds its tables here.
    this.addSql(`CREATE VIEW ledger_transactions_all AS
      SELECT transaction_id, create_time, status, amount, from_account_id, to_account_id FROM transactions`);
  }

  private createTransactionRequests(): void {
    // A partitioned table cannot hold a unique index without the partition
    // key, so the idempotency keys of transactions live in their own table.
    this.addSql(`
      CREATE TABLE transaction_requests (
        request_id      uuid PRIMARY KEY,
        transaction_id  uuid NOT NULL,
        create_time     timestamptz NOT NULL
      )`);
  }

  private createDailyPartitions(): void {
    // Daily partitions, created ahead of time by the service (at start and hourly).
    this.addSql(`
      CREATE FUNCTION ensure_transaction_partitions(p_from date, p_to date) RETURNS integer
      LANGUAGE plpgsql AS $$
      DECLARE
        day date;
        created integer := 0;
        name text;
      BEGIN
        FOR day IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
          name := 'transactions_p' || to_char(day, 'YYYYMMDD');
          IF to_regclass(name) IS NULL THEN
            EXECUTE format(
              'CREATE TABLE %I PARTITION OF transactions FOR VALUES FROM (%L) TO (%L)',
              name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            created := created + 1;
          END IF;
        END LOOP;
        RETURN created;
      END $$`);
    this.addSql(
      `SELECT ensure_transaction_partitions((now() AT TIME ZONE 'UTC')::date - 7, (now() AT TIME ZONE 'UTC')::date + 7)`,
    );
  }

  private insertBankAccount(): void {
    this.addSql(`
      INSERT INTO accounts (account_id, display_name, is_system)
      VALUES ('00000000-0000-7000-8000-000000000001', 'AlfaBet bank (system account)', true)`);
  }
}

/**
 * ledger_post(): records one transaction and, if funds allow, moves the money,
 * all in the single statement (and so the single database transaction) that
 * calls it — one round trip per transfer, and no way to leave money half-moved.
 *
 * 1. Idempotency: claim p_request_id. A concurrent call with the same id blocks
 *    on the unique index until the first commits, then finds it: 'replayed'.
 * 2. Lock both accounts in account_id order, so transfers over the same
 *    accounts in opposite directions wait for each other instead of deadlocking.
 * 3. Check funds and limits; move the money or record why not (FAILED row,
 *    nothing moved). An unknown account raises AB404 and so stores nothing.
 */
export const LEDGER_POST_FUNCTION = `
CREATE FUNCTION ledger_post(
  p_transaction_id uuid, p_request_id uuid, p_kind text,
  p_src_account_id uuid, p_dst_account_id uuid, p_amount bigint, p_direction text,
  p_description text, p_from_account_id uuid, p_to_account_id uuid
) RETURNS TABLE (
  outcome text, transaction_id uuid, create_time timestamptz, request_id uuid, kind text,
  src_account_id uuid, dst_account_id uuid, amount bigint, direction text, description text,
  status text, failure_reason text, failure_message text
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
BEGIN
  IF p_request_id IS NOT NULL THEN
    INSERT INTO transaction_requests AS r (request_id, transaction_id, create_time)
    VALUES (p_request_id, p_transaction_id, now())
    ON CONFLICT ON CONSTRAINT transaction_requests_pkey DO NOTHING;
    IF NOT FOUND THEN
      RETURN QUERY
        SELECT 'replayed'::text, t.transaction_id, t.create_time, t.request_id, t.kind,
               t.src_account_id, t.dst_account_id, t.amount, t.direction, t.description,
               t.status, t.failure_reason, t.failure_message
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
      direction, description, status, failure_reason, failure_message, from_account_id, to_account_id)
    VALUES (
      p_transaction_id, now(), p_request_id, p_kind, p_src_account_id, p_dst_account_id, p_amount,
      p_direction, p_description, v_status, v_reason, v_message, p_from_account_id, p_to_account_id)
    RETURNING 'posted'::text, t.transaction_id, t.create_time, t.request_id, t.kind,
              t.src_account_id, t.dst_account_id, t.amount, t.direction, t.description,
              t.status, t.failure_reason, t.failure_message;
END $$`;
