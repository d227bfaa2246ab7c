/**
 * The transfer: how money moves in this ledger.
 *
 * Transfer and BankTransaction both come down to one call of the SQL function
 * ledger_post() (src/db/migrations/Migration20261125000000_ledger.ts; its latest
 * body, with the bank's side on one of 32 shard rows, in …_bank_balance_shards.ts),
 * run by src/db/ledger-post.sql.ts as a single statement on a pooled connection
 * in autocommit mode. So a transfer is one round trip and one database
 * transaction which:
 *   - claims the request_id (a racing duplicate waits, then replays the result),
 *   - locks the customer accounts in account_id order (no deadlocks), and for
 *     a bank transaction one of the bank's balance shards, never a hot bank row,
 *   - checks funds, moves the money and writes the transaction row — or writes
 *     a FAILED row and moves nothing.
 * If the connection dies at any point, PostgreSQL rolls the whole of it back:
 * money can never be half-moved.
 *
 * With the group commit (ACCOUNTS_GROUP_COMMIT, on by default), lone calls that
 * arrive together share that round trip and that database transaction: one
 * ledger_post_batch() call for transfers, one ledger_post_bank_group() call
 * for bank transactions (ledger/group-commit.ts, ledger/group-posting.ts),
 * each posting decided and answered exactly as above.
 */
import type pg from 'pg';
import { alreadyExists, FieldError, invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import { requirePlainText } from '@alfabet/service-kit/field-validation';
import { DependencyUnavailable } from '@alfabet/service-kit/service-errors';
import { AccountNotFound, callLedgerPost, type Posting, type PostOutcome } from '../db/ledger-post.sql.js';
import { droppedReplay, getTransaction } from './transactions.js';
import { BANK_ACCOUNT_ID } from './system-accounts.js';
import type { Direction, LedgerTransaction } from './types.js';

export interface LedgerDeps {
  pool: pg.Pool;
  maxAmountMinor: bigint;
  /** ACCOUNTS_GROUP_COMMIT=on: lone postings go in groups of their kind (ledger/group-commit.ts); null: each alone. */
  groupCommit?: { transfers: GroupSubmit; bank: GroupSubmit } | null;
}

interface GroupSubmit {
  submit(posting: Posting): Promise<Posted>;
}

export interface TransferCommand {
  requestId: string | null;
  /** The authenticated caller, stored with the transaction; '' when authorization is off. */
  initiatedBy: string;
  srcAccountId: string;
  dstAccountId: string;
  amountMinor: bigint;
  direction: Direction;
}

export interface BankTransactionCommand {
  requestId: string | null;
  /** The authenticated caller, stored with the transaction; '' when authorization is off. */
  initiatedBy: string;
  dstAccountId: string;
  amountMinor: bigint;
  direction: Direction;
  description: string;
}

export const DESCRIPTION_LENGTH_MAX = 500;

/** The transaction a call recorded, or the one an earlier call with its request_id recorded (replayed). */
export interface Posted {
  transaction: LedgerTransaction;
  replayed: boolean;
}

/** Moves money between two customer accounts (DEBIT: src pays dst; CREDIT: dst pays src). */
export async function transfer(deps: LedgerDeps, command: TransferCommand): Promise<Posted> {
  const posting = transferPosting(command, deps.maxAmountMinor);
  return deps.groupCommit ? deps.groupCommit.transfers.submit(posting) : post(deps, posting);
}

/**
 * What a transfer asks ledger_post() (or, as a batch item, ledger_post_batch()) to record, once
 * its fields are checked: a bad one is INVALID_ARGUMENT naming it, before anything is stored.
 */
export function transferPosting(command: TransferCommand, maxAmountMinor: bigint): Posting {
  checkAmount(command.amountMinor, maxAmountMinor);
  if (command.srcAccountId === command.dstAccountId) {
    throw invalidArgument('dst_account_id', 'must differ from src_account_id');
  }
  for (const field of ['srcAccountId', 'dstAccountId'] as const) {
    if (command[field] === BANK_ACCOUNT_ID) {
      throw invalidArgument(
        snakeCase(field),
        "is the bank's system account; the bank moves money with BankTransaction",
      );
    }
  }
  const payer = command.direction === 'debit' ? command.srcAccountId : command.dstAccountId;
  const payee = command.direction === 'debit' ? command.dstAccountId : command.srcAccountId;
  return {
    requestId: command.requestId,
    kind: 'transfer',
    srcAccountId: command.srcAccountId,
    dstAccountId: command.dstAccountId,
    amountMinor: command.amountMinor,
    direction: command.direction,
    description: '',
    fromAccountId: payer,
    toAccountId: payee,
    initiatedBy: command.initiatedBy,
  };
}

/** The bank gives money to (CREDIT) or takes money from (DEBIT) one account. */
export async function bankTransaction(deps: LedgerDeps, command: BankTransactionCommand): Promise<Posted> {
  const posting = bankPosting(command, deps.maxAmountMinor);
  return deps.groupCommit ? deps.groupCommit.bank.submit(posting) : post(deps, posting);
}

/** What a bank transaction asks ledger_post() to record, once its fields are checked (INVALID_ARGUMENT naming a bad one). */
export function bankPosting(command: BankTransactionCommand, maxAmountMinor: bigint): Posting {
  checkAmount(command.amountMinor, maxAmountMinor);
  if (command.dstAccountId === BANK_ACCOUNT_ID) {
    throw invalidArgument('dst_account_id', "is the bank's own system account; name a customer account");
  }
  if (command.description.length > DESCRIPTION_LENGTH_MAX) {
    throw invalidArgument('description', `must be at most ${DESCRIPTION_LENGTH_MAX} characters`);
  }
  requirePlainText('description', command.description);
  const toCustomer = command.direction === 'credit';
  return {
    requestId: command.requestId,
    kind: 'bank',
    srcAccountId: null,
    dstAccountId: command.dstAccountId,
    amountMinor: command.amountMinor,
    direction: command.direction,
    description: command.description,
    fromAccountId: toCustomer ? BANK_ACCOUNT_ID : command.dstAccountId,
    toAccountId: toCustomer ? command.dstAccountId : BANK_ACCOUNT_ID,
    initiatedBy: command.initiatedBy,
  };
}

/** Posts one transaction alone: one ledger_post() call. */
export async function post(deps: LedgerDeps, posting: Posting): Promise<Posted> {
  let posted: PostOutcome;
  try {
    posted = await callLedgerPost(deps.pool, posting);
  } catch (error) {
    throw translateNotFound(error, posting);
  }
  if (!posted) return replayFromArchive(deps, posting);
  const replayed = posted.outcome === 'replayed';
  if (replayed) assertSameRequest(posted.transaction, posting);
  return { transaction: posted.transaction, replayed };
}

/**
 * ledger_post() replays a request_id from the hot partitions only; a request
 * first made before the report window may have been archived since. Its
 * transaction is read from wherever it is now kept. If its day was dropped
 * past retention, the answer says so (FAILED_PRECONDITION) and nothing moves.
 */
export async function replayFromArchive(deps: LedgerDeps, posting: Posting): Promise<Posted> {
  if (!posting.requestId) throw new Error('ledger_post returned no row for a request without request_id');
  let transaction: LedgerTransaction;
  try {
    transaction = await getTransaction(deps.pool, { requestId: posting.requestId });
  } catch (error) {
    if (!(error instanceof FieldError)) throw error;
    const dropped = await droppedReplay(deps.pool, posting.requestId);
    if (dropped) throw dropped;
    // Only while its partition moves to the archive (a moment): retrying finds it.
    throw new DependencyUnavailable(
      `the transaction of request_id ${posting.requestId} is being archived; retry with the same request_id`,
    );
  }
  assertSameRequest(transaction, posting);
  return { transaction, replayed: true };
}

/** A replayed request_id must carry the parameters it was first used with (AIP-155). */
export function assertSameRequest(stored: LedgerTransaction, posting: Posting): void {
  const differs =
    stored.kind !== posting.kind ||
    stored.srcAccountId !== posting.srcAccountId ||
    stored.dstAccountId !== posting.dstAccountId ||
    stored.amountMinor !== posting.amountMinor ||
    stored.direction !== posting.direction ||
    stored.description !== posting.description;
  if (differs) {
    throw alreadyExists(
      'request_id',
      `was already used for another request (transaction ${stored.transactionId}); use a new request_id`,
    );
  }
}

export function translateNotFound(error: unknown, posting: Posting): unknown {
  if (!(error instanceof AccountNotFound)) return error;
  const field = error.accountId === posting.srcAccountId ? 'src_account_id' : 'dst_account_id';
  return notFound(field, `no account ${error.accountId}`);
}

function checkAmount(amountMinor: bigint, maxAmountMinor: bigint): void {
  if (amountMinor <= 0n) throw invalidArgument('amount', 'must be greater than 0 minor units');
  if (amountMinor > maxAmountMinor)
    throw invalidArgument('amount', `must be at most ${maxAmountMinor} minor units (MAX_AMOUNT)`);
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => '_' + letter.toLowerCase());
}
