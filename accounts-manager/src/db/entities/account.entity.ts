import { defineEntity, p } from '@mikro-orm/postgresql';

/** An account row. Balances change only through ledger_post() (see src/ledger/post-transaction.ts). */
export const AccountSchema = defineEntity({
  name: 'Account',
  tableName: 'accounts',
  properties: {
    accountId: p.uuid().primary().fieldName('account_id'),
    displayName: p.text().fieldName('display_name'),
    balance: p.bigint('bigint').fieldName('balance'),
    isSystem: p.boolean().fieldName('is_system'),
    requestId: p.uuid().nullable().fieldName('request_id'),
    createTime: p.datetime().fieldName('create_time'),
    updateTime: p.datetime().fieldName('update_time'),
  },
});

export type AccountRow = InstanceType<typeof AccountSchema.class>;
