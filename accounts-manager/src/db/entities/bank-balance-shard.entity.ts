import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One of the 32 rows that hold the bank's balance, so bank transactions do not
 * queue on one hot row (migrations/Migration20261204000000_bank_balance_shards.ts).
 * The bank's balance is its accounts row's balance (0 since that migration) plus
 * the sum of these. Written only by ledger_post(), one shard per bank transaction;
 * each shard keeps within ±BALANCE_LIMIT / 32 so the bank as a whole stays within
 * ±BALANCE_LIMIT.
 */
export const BankBalanceShardSchema = defineEntity({
  name: 'BankBalanceShard',
  tableName: 'bank_balance_shards',
  properties: {
    shard: p.smallint().primary().autoincrement(false).check('shard >= 0 AND shard < 32'),
    balance: p
      .bigint('bigint')
      .defaultRaw('0')
      .check('balance >= -125000000000000000 AND balance <= 125000000000000000'),
    updateTime: p.datetime().defaultRaw('now()'),
  },
});
