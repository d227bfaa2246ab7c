import { status, type ServiceError } from '@grpc/grpc-js';
import type { Client } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { alreadyExists, failedPrecondition, notFound } from '@alfabet/service-kit/field-error';
import { DependencyUnavailable } from '@alfabet/service-kit/service-errors';
import type { Logger } from '@alfabet/service-kit/logger';
import { findAdvance, findAdvanceByRequestId, insertAdvance, type StoredAdvance } from '../db/advance-store.js';
import type { LedgerClient } from '../ledger/ledger-client.js';
import type { AdvancesMetrics } from '../metrics.js';
import { startAdvanceWorkflow } from '../temporal/start-advance-workflow.js';

export interface AdvancePolicy {
  minAmountMinor: bigint;
  maxAmountMinor: bigint;
  maxOpenPerAccount: number;
  installments: number;
  paymentIntervalMs: number;
}

export interface RequestAdvanceDeps {
  em: EntityManager;
  ledger: LedgerClient;
  temporal: Client;
  taskQueue: string;
  policy: AdvancePolicy;
  log: Logger;
  metrics: AdvancesMetrics;
}

export interface ValidAdvanceRequest {
  requestId: string | null;
  accountId: string;
  amount: bigint;
  correlationId: string;
}

/**
 * Records an advance and starts its workflow. A repeat of a request_id
 * returns the first advance (and makes sure its workflow runs); the same id
 * with other parameters is ALREADY_EXISTS. Policy refusals store nothing.
 *
 * The row comes first and stays: a start that fails may still have reached
 * Temporal (its reply lost), and then the workflow disburses and needs the
 * row. So a failed start answers UNAVAILABLE, and the retry with the same
 * request_id finds the row and starts the workflow again, which Temporal
 * refuses to run twice (one id per advance): one advance, one workflow, one
 * disbursement, however the calls fail or race. (Without a request_id nobody
 * retries: the reconciliation starts what is left DISBURSING without a workflow.)
 */
export async function requestAdvance(deps: RequestAdvanceDeps, request: ValidAdvanceRequest): Promise<StoredAdvance> {
  if (request.requestId) {
    const existing = await findAdvanceByRequestId(deps.em, request.requestId);
    if (existing) return replay(deps, existing, request);
  }
  const { policy } = deps;
  if (request.amount < policy.minAmountMinor || request.amount > policy.maxAmountMinor) {
    throw failedPrecondition(
      'amount',
      `must be between ${policy.minAmountMinor} and ${policy.maxAmountMinor} minor units by policy, got ${request.amount}`,
    );
  }
  await assertAccountExists(deps.ledger, request.accountId, request.correlationId);

  const advanceId = uuidv7();
  const outcome = await insertAdvance(
    deps.em,
    {
      advanceId,
      requestId: request.requestId,
      accountId: request.accountId,
      amount: request.amount,
      installments: policy.installments,
      paymentIntervalMs: policy.paymentIntervalMs,
    },
    policy.maxOpenPerAccount,
  );
  if (outcome.outcome === 'request_id_taken') {
    // Another call with this request_id won the race: answer as its replay.
    return replay(deps, (await findAdvanceByRequestId(deps.em, request.requestId!))!, request);
  }
  if (outcome.outcome === 'too_many_open') {
    throw failedPrecondition(
      'account_id',
      `account ${request.accountId} already has ${outcome.openAdvances} open advance(s); at most ${policy.maxOpenPerAccount} allowed until repaid`,
    );
  }

  await startWorkflowOf(deps, advanceId, request.accountId, request.amount, policy);
  deps.metrics.advancesRequested.inc({ outcome: 'created' });
  deps.log.info(
    { advanceId, accountId: request.accountId, amount: request.amount.toString() },
    'advance requested; workflow started',
  );
  return (await findAdvance(deps.em, advanceId))!;
}

async function replay(
  deps: RequestAdvanceDeps,
  existing: StoredAdvance,
  request: ValidAdvanceRequest,
): Promise<StoredAdvance> {
  assertSameRequest(existing, request.accountId, request.amount);
  // An earlier call may have failed or crashed between recording and starting, or may still be starting it
  // (a racing retry): start now. Only the workflow moves the advance out of DISBURSING, so it may be missing only then.
  if (existing.status === 'DISBURSING') {
    await startWorkflowOf(deps, existing.advanceId, existing.accountId, existing.amount, {
      installments: existing.installments,
      paymentIntervalMs: existing.paymentIntervalMs,
    });
  }
  deps.metrics.advancesRequested.inc({ outcome: 'replayed' });
  return existing;
}

/** Same request_id, other parameters: refused. */
function assertSameRequest(existing: StoredAdvance, accountId: string, amount: bigint): void {
  if (existing.accountId !== accountId || existing.amount !== amount) {
    throw alreadyExists(
      'request_id',
      `was already used for advance ${existing.advanceId} with another account_id or amount`,
    );
  }
}

async function startWorkflowOf(
  deps: RequestAdvanceDeps,
  advanceId: string,
  accountId: string,
  amount: bigint,
  schedule: { installments: number; paymentIntervalMs: number },
): Promise<void> {
  try {
    await startAdvanceWorkflow(deps.temporal, deps.taskQueue, {
      advanceId,
      accountId,
      amount: amount.toString(),
      installments: schedule.installments,
      paymentIntervalMs: schedule.paymentIntervalMs,
    });
  } catch (error) {
    deps.log.warn({ err: error, advanceId }, 'could not start the advance workflow');
    throw new DependencyUnavailable(
      `Temporal is unavailable; advance ${advanceId} is recorded but may not have started — retry with the same request_id`,
    );
  }
}

async function assertAccountExists(ledger: LedgerClient, accountId: string, correlationId: string): Promise<void> {
  try {
    await ledger.getAccount(accountId, correlationId);
  } catch (error) {
    if ((error as ServiceError).code === status.NOT_FOUND)
      throw notFound('account_id', `no account ${accountId} in the ledger`);
    throw new DependencyUnavailable('the ledger (accounts-manager) is unavailable; retry with the same request_id');
  }
}
