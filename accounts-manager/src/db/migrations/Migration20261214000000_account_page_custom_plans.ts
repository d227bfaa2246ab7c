import { Migration } from '@mikro-orm/migrations';

/**
 * report_account_page() plans its page for the account it is given, at every
 * call. PL/pgSQL keeps a function's statement prepared for the session, and
 * after five calls PostgreSQL may keep a generic plan instead — it did once a
 * posting connection had listed the bank, whose own plans are costly: on the
 * benchmark's grown ledger every later account listed on that connection got
 * a walk of the whole window filtered by account, 1.35 s a page of an account
 * with 5 000 rows against 3 ms with its own plan (docs/benchmarks.md, session
 * 21; test/report-plan-cache.test.ts). A function's SET clause holds while it
 * runs, planning included, whatever the session's plan_cache_mode.
 *
 * Only the function's settings change: servers of the previous release call it
 * as it was, and a rollback leaves the setting, which answers the same rows.
 */
export class Migration20261214000000_account_page_custom_plans extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `ALTER FUNCTION report_account_page(timestamptz, timestamptz, pg_snapshot, integer, timestamptz, uuid, bigint, bigint, uuid)
         SET plan_cache_mode = force_custom_plan`,
    );
  }
}
