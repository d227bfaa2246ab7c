import { defineEntity, p } from '@mikro-orm/postgresql';
import { microsOf } from '../transaction-rows.js';

/**
 * An account. Balances change only through ledger_post() (see src/db/ledger-post.sql.ts).
 * Column names follow the properties in snake_case; `npm run migration:check` fails when this
 * description and the migrations disagree.
 */
export const AccountSchema = defineEntity({
  name: 'Account',
  tableName: 'accounts',
  properties: {
    accountId: p.uuid().primary(),
    displayName: p.text().check('char_length(display_name) >= 1 AND char_length(display_name) <= 200'),
    balance: p.bigint('bigint').defaultRaw('0'),
    isSystem: p.boolean().default(false),
    requestId: p.uuid().nullable().unique('accounts_request_id_key'),
    createTime: p.datetime().defaultRaw('now()'),
    updateTime: p.datetime().defaultRaw('now()'),
    /**
     * The two times to the microsecond, as PostgreSQL stored them: a Date keeps milliseconds, and
     * CreateAccount / GetAccount answer with the database's own precision (DESIGN.md §3).
     * Read-only (formulas): computed in the SELECT, never written.
     */
    createTimeUs: p.bigint('bigint').formula((cols) => microsOf(cols.createTime!)),
    updateTimeUs: p.bigint('bigint').formula((cols) => microsOf(cols.updateTime!)),
  },
  checks: [
    {
      // The last line of defence: a customer balance is never negative and no balance nears
      // the int64 limit, whatever code runs against the table.
      name: 'accounts_balance_in_range',
      expression: 'balance <= 4000000000000000000 AND balance >= -4000000000000000000 AND (is_system OR balance >= 0)',
    },
  ],
});

export type Account = InstanceType<typeof AccountSchema.class>;
