import type { BankTransactionRequest } from '@alfabet/proto/accounts/v1';
import type { LedgerClient } from '../../src/ledger/ledger-client.js';

/** What a hook sees of a bank transaction the worker is about to ask the ledger for. */
export interface LedgerCall {
  request: BankTransactionRequest;
  /** "payment 3" → 3; null for a disbursement. */
  paymentNumber: number | null;
}

export interface LedgerHooks {
  /** Runs before the real call (e.g. a test drains the account through the real ledger). */
  before?: (call: LedgerCall) => Promise<void>;
  /** Runs after the real call succeeded; throwing here loses the reply (the ledger applied it). */
  after?: (call: LedgerCall) => Promise<void>;
}

/**
 * The worker's real ledger client with test hooks around bank transactions.
 * Not a mock: every call still reaches the real accounts-manager; hooks only
 * change the world around it (balances, a lost reply).
 */
export function hookedLedger(hooks: LedgerHooks): (ledger: LedgerClient) => LedgerClient {
  return (ledger) => ({
    ...ledger,
    async bankTransaction(request, correlationId) {
      const match = /payment (\d+)$/.exec(request.description);
      const call = { request, paymentNumber: match ? Number(match[1]) : null };
      await hooks.before?.(call);
      const transaction = await ledger.bankTransaction(request, correlationId);
      await hooks.after?.(call);
      return transaction;
    },
  });
}
