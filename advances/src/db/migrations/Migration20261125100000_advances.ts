import { Migration } from '@mikro-orm/migrations';

/**
 * The advances projection: what ops and GetAdvance/ListAdvances read. The
 * workflow is the source of truth for what happens next; these rows record
 * what happened, written by activities with guarded transitions
 * (see src/db/payment-transitions.ts).
 */
export class Migration20261125100000_advances extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE advances (
        advance_id                  uuid PRIMARY KEY,
        request_id                  uuid UNIQUE,
        account_id                  uuid NOT NULL,
        amount                      bigint NOT NULL CHECK (amount > 0),
        status                      text NOT NULL CHECK (status IN
                                      ('DISBURSING', 'ACTIVE', 'OVERDUE', 'REPAID', 'DISBURSEMENT_FAILED')),
        installments                integer NOT NULL CHECK (installments > 0),
        payment_interval_ms         bigint NOT NULL CHECK (payment_interval_ms > 0),
        disbursement_transaction_id uuid,
        failure_message             text,
        create_time                 timestamptz NOT NULL DEFAULT now(),
        update_time                 timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT advances_disbursed_has_transaction CHECK (
          status IN ('DISBURSING', 'DISBURSEMENT_FAILED') OR disbursement_transaction_id IS NOT NULL)
      )`);
    // ListAdvances walks newest first, optionally per account or status.
    this.addSql(`CREATE INDEX advances_newest ON advances (create_time DESC, advance_id DESC)`);
    this.addSql(`CREATE INDEX advances_by_account ON advances (account_id, create_time DESC, advance_id DESC)`);
    this.addSql(`CREATE INDEX advances_by_status ON advances (status, create_time DESC, advance_id DESC)`);

    this.addSql(`
      CREATE TABLE payments (
        advance_id      uuid NOT NULL REFERENCES advances (advance_id),
        number          integer NOT NULL CHECK (number >= 1),
        due_time        timestamptz NOT NULL,
        amount          bigint NOT NULL CHECK (amount > 0),
        status          text NOT NULL CHECK (status IN ('SCHEDULED', 'PROCESSING', 'PAID', 'FAILED')),
        transaction_id  uuid,
        failure_reason  text,
        failure_message text,
        rolled_into     integer,
        update_time     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (advance_id, number),
        -- An outcome always names the ledger transaction that decided it.
        CONSTRAINT payments_outcome_has_transaction CHECK (
          status IN ('SCHEDULED', 'PROCESSING') OR transaction_id IS NOT NULL),
        CONSTRAINT payments_failed_rolls_forward CHECK (
          (status = 'FAILED') = (failure_reason IS NOT NULL)
          AND (rolled_into IS NULL OR (status = 'FAILED' AND rolled_into > number)))
      )`);
    // The reconciliation reads every advance that is not repaid.
    this.addSql(`CREATE INDEX advances_open ON advances (advance_id) WHERE status <> 'REPAID'`);

    this.addSql(`
      CREATE TABLE reconciliation_findings (
        finding_id  uuid PRIMARY KEY,
        run_id      text NOT NULL,
        advance_id  uuid NOT NULL,
        kind        text NOT NULL,
        detail      text NOT NULL,
        create_time timestamptz NOT NULL DEFAULT now()
      )`);
    this.addSql(
      `CREATE INDEX reconciliation_findings_by_advance ON reconciliation_findings (advance_id, create_time DESC)`,
    );
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE reconciliation_findings');
    this.addSql('DROP TABLE payments');
    this.addSql('DROP TABLE advances');
  }
}
