import { Migration } from '@mikro-orm/migrations';

/**
 * Reconciliation that compares both books and remembers what it found:
 *
 * - findings are raised once and resolved when a later run no longer sees them:
 *   one OPEN finding per (advance, kind, subject), `last_seen_run` marks what the
 *   current run still sees, `resolve_time` closes the rest;
 * - `ledger_movements` mirrors the ledger transactions this service made (a
 *   disbursement or a payment of an advance), read from the ledger's report
 *   stream or by request id. Ledger rows never change once written, so a mirrored
 *   fact never goes stale and each run only reads what is new;
 * - `reconciliation_runs` records each run: when the ledger was last scanned up to
 *   (the next scan starts there) and when a run last succeeded (the alert).
 */
export class Migration20261128000000_reconciliation extends Migration {
  override async up(): Promise<void> {
    // Findings of the first reconciliation, renamed to the contract's kinds. They
    // carry no subject: the next run raises what it still sees under its subject
    // and resolves these.
    this.addSql(`UPDATE reconciliation_findings SET kind = CASE kind
                   WHEN 'SCHEDULE_SUM_MISMATCH' THEN 'PAYMENTS_DO_NOT_ADD_UP'
                   WHEN 'ROLLOVER_MISSING' THEN 'PAYMENTS_DO_NOT_ADD_UP'
                   ELSE 'PAYMENT_LEDGER_MISMATCH' END`);
    this.addSql(`
      ALTER TABLE reconciliation_findings
        ADD COLUMN subject       text NOT NULL DEFAULT '',
        ADD COLUMN severity      text NOT NULL DEFAULT 'CRITICAL' CHECK (severity IN ('CRITICAL', 'WARNING')),
        ADD COLUMN last_seen_run text,
        ADD COLUMN resolve_time  timestamptz,
        ADD CONSTRAINT reconciliation_findings_kind CHECK (kind IN (
          'PAYMENTS_DO_NOT_ADD_UP', 'LEDGER_MOVEMENT_WITHOUT_PAYMENT', 'PAYMENT_WITHOUT_LEDGER_MOVEMENT',
          'PAYMENT_LEDGER_MISMATCH', 'PAYMENT_STUCK', 'ADVANCE_STUCK', 'WORKFLOW_MISSING', 'WORKFLOW_FAILED',
          'WORKFLOW_HALTED'))`);
    this.addSql(`UPDATE reconciliation_findings SET last_seen_run = run_id`);
    this.addSql(`ALTER TABLE reconciliation_findings ALTER COLUMN last_seen_run SET NOT NULL`);
    // Raised once: at most one open finding per advance, kind and subject.
    this.addSql(`CREATE UNIQUE INDEX reconciliation_findings_open ON reconciliation_findings (advance_id, kind, subject)
                 WHERE resolve_time IS NULL`);
    this.addSql(
      `CREATE INDEX reconciliation_findings_newest ON reconciliation_findings (create_time DESC, finding_id DESC)`,
    );
    this.addSql(`DROP INDEX reconciliation_findings_by_advance`);
    this.addSql(
      `CREATE INDEX reconciliation_findings_by_advance ON reconciliation_findings (advance_id, create_time DESC, finding_id DESC)`,
    );

    this.addSql(`
      CREATE TABLE ledger_movements (
        transaction_id  uuid PRIMARY KEY,
        request_id      uuid,
        advance_id      uuid NOT NULL,
        account_id      uuid NOT NULL,
        direction       text NOT NULL CHECK (direction IN ('CREDIT', 'DEBIT')),
        amount          bigint NOT NULL,
        status          text NOT NULL CHECK (status IN ('SUCCESS', 'FAILED')),
        description     text NOT NULL,
        create_time     timestamptz NOT NULL,
        mirror_time     timestamptz NOT NULL DEFAULT now()
      )`);
    this.addSql(`CREATE INDEX ledger_movements_by_advance ON ledger_movements (advance_id)`);
    this.addSql(`CREATE INDEX ledger_movements_by_request ON ledger_movements (request_id)`);

    this.addSql(`
      CREATE TABLE reconciliation_runs (
        run_id               text PRIMARY KEY,
        start_time           timestamptz NOT NULL DEFAULT now(),
        finish_time          timestamptz,
        ledger_scanned_until timestamptz,
        advances_checked     integer,
        findings_raised      integer,
        findings_resolved    integer
      )`);
    this.addSql(
      `CREATE INDEX reconciliation_runs_finished ON reconciliation_runs (finish_time DESC) WHERE finish_time IS NOT NULL`,
    );
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE reconciliation_runs');
    this.addSql('DROP TABLE ledger_movements');
    this.addSql('DROP INDEX reconciliation_findings_open');
    this.addSql('DROP INDEX reconciliation_findings_newest');
    this.addSql(`ALTER TABLE reconciliation_findings DROP CONSTRAINT reconciliation_findings_kind,
                 DROP COLUMN subject, DROP COLUMN severity, DROP COLUMN last_seen_run, DROP COLUMN resolve_time`);
  }
}
