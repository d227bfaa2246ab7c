import { Migration } from '@mikro-orm/migrations';

/**
 * What the running servers promise about report tokens, so that
 * `transactions:archive` takes its cutoff from the ledger and not from its own
 * environment (see src/reports/report-horizon.ts for the rule). One row per
 * configuration a server has run with: how far back a new listing may start
 * (REPORT_WINDOW plus the start-time grace), how long its tokens stay valid
 * (REPORT_TOKEN_TTL), and until when servers with it may issue new snapshots.
 */
export class Migration20261128120000_report_horizon extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE report_token_issuers (
        reach_ms       bigint NOT NULL CHECK (reach_ms > 0),
        ttl_ms         bigint NOT NULL CHECK (ttl_ms > 0),
        issuing_until  timestamptz NOT NULL,
        PRIMARY KEY (reach_ms, ttl_ms)
      )`);
  }
}
