/**
 * The bank's own account: the other leg of every bank transaction. It may go
 * negative (it is where lent money comes from), so that every transaction is
 * two-sided and the sum of all balances, the bank's included, stays zero.
 * Created by the first migration; customers cannot name it in a Transfer.
 */
export const BANK_ACCOUNT_ID = '00000000-0000-7000-8000-000000000001';

/**
 * No balance may leave [-BALANCE_LIMIT, BALANCE_LIMIT] (customers: [0, BALANCE_LIMIT]).
 * With BALANCE_LIMIT + MAX_AMOUNT far below 2^63, no arithmetic on a balance
 * can ever overflow int64. A credit that would cross it fails with
 * FAILURE_REASON_BALANCE_LIMIT_EXCEEDED. Mirrors the CHECK in the schema.
 */
export const BALANCE_LIMIT_MINOR = 4_000_000_000_000_000_000n;
