import type { Client } from '@temporalio/client';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Logger } from '@alfabet/service-kit/logger';
import {
  advancesToReconcilePage,
  dequeueChecked,
  dequeueUnknownAdvances,
  mirrorMovements,
  movementsOf,
  movementsOfUnknownAdvances,
  type ReconcileScope,
} from '../db/reconciliation-pages.sql.js';
import { finishRun, lastFinishedRuns, startRun, type LastRuns, type RunMode } from '../db/reconciliation-store.js';
import { findAdvance } from '../db/advance-store.js';
import { raiseFindings, resolveFindingsNotSeen } from '../db/findings-store.js';
import { advanceNamedBy, toLedgerMovement } from '../ledger/advance-movements.js';
import type { LedgerClient } from '../ledger/ledger-client.js';
import { disbursementRequestId, paymentRequestId } from '../ledger/request-ids.js';
import { advanceWorkflowState, advancesClosedSince, advancesListedRunning } from '../temporal/advance-workflows.js';
import { startAdvanceWorkflow } from '../temporal/start-advance-workflow.js';
import type { Finding } from './findings.js';
import { reconcileAdvance, type AdvanceToReconcile, type LedgerMovement } from './reconcile-advance.js';

/** Advances per page: one query for them, one for their movements, then bounded concurrency against the ledger and Temporal. */
const PAGE_SIZE = 500;
/** Ledger and Temporal calls in flight at once: enough to hide round trips, few enough not to crowd either server. */
const CALLS_IN_FLIGHT = 16;

/** The ledger refuses a report that starts before now − REPORT_WINDOW; keep this far inside it. */
const SCAN_WINDOW_MARGIN_MS = 5 * 60_000;
/** A DISBURSING advance younger than this may be between its row and its workflow's start: not missing yet. */
export const WORKFLOW_START_GRACE_MS = 60_000;

export interface ReconciliationDeps {
  /** Runs, findings and single advances go through the EntityManager (forked per call). */
  em: EntityManager;
  /** The per-page reads and the mirror are raw SQL on the native pool (db/reconciliation-pages.sql.ts). */
  pool: pg.Pool;
  ledger: LedgerClient;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  /** The ledger's REPORT_WINDOW: how far back its report stream reaches. */
  reportWindowMs: number;
  stuckAfterMs: number;
  /** RECONCILIATION_FULL_SWEEP_INTERVAL: a run checks every advance when the last full sweep is this old. */
  fullSweepEveryMs: number;
  /**
   * RECONCILIATION_SCAN_OVERLAP: the next ledger scan starts this long before
   * the last one ended. A ledger row is stamped inside its transaction and
   * commits a little later (at most the ledger's ACCOUNTS_STATEMENT_TIMEOUT:
   * one statement posts it), and the worker's clock may differ from the
   * ledger database's: a row committed after a scan's snapshot, stamped before
   * its end, is read by the next (mirroring is idempotent). An incremental
   * run lists the workflows closed since the last run started, less the same
   * overlap (visibility shows a close a little after it happens).
   */
  scanOverlapMs: number;
}

/** How far a run got; carried in the activity's heartbeat so a retry resumes there. */
export interface RunProgress {
  /** Chosen when the run starts; a retry keeps it. */
  mode: RunMode | null;
  scannedUntil: string | null;
  afterAdvanceId: string | null;
  advancesChecked: number;
  findingsRaised: number;
}

export const NO_PROGRESS: RunProgress = {
  mode: null,
  scannedUntil: null,
  afterAdvanceId: null,
  advancesChecked: 0,
  findingsRaised: 0,
};

export interface RunHooks {
  /** Records progress (the activity heartbeats it). */
  progressed(progress: RunProgress): void;
  /** Alerts on a finding raised for the first time. */
  raised(finding: Finding): void;
  resolved(finding: Finding): void;
}

/**
 * One reconciliation run: mirror what the ledger did since the last scan,
 * then check every advance in scope page by page (the books both ways, its
 * workflow in Temporal), raise what is wrong once, and resolve what a run no
 * longer sees. Resumable from `progress`.
 *
 * In scope: every advance, on a full sweep (the first run, then once per
 * RECONCILIATION_FULL_SWEEP_INTERVAL); otherwise only what can have become
 * wrong since the last run (see INCREMENTAL_SCOPE in reconciliation-store.ts).
 * An advance checked clean stays clean until something about it changes —
 * its rows, its ledger movements, its workflow or the clock — and each of
 * those puts it back in scope; the full sweep is the backstop for a change
 * made behind the triggers' back.
 */
export async function runReconciliation(
  deps: ReconciliationDeps,
  runId: string,
  start: RunProgress,
  hooks: RunHooks,
): Promise<RunProgress & { findingsResolved: number }> {
  // A heartbeat from before `mode` existed lacks it: the defaults fill it in.
  const progress: RunProgress = { ...NO_PROGRESS, ...start };
  const correlationId = `reconciliation/${runId}`;
  const now = new Date();
  const last = await lastFinishedRuns(deps.em);
  const scope = await chooseScope(deps, last, progress.mode, now);
  progress.mode = scope.mode;
  await startRun(deps.em, runId, scope.mode);
  if (!progress.scannedUntil) {
    progress.scannedUntil = (
      await scanLedger(deps, last.ledgerScannedUntil, correlationId, hooks, progress)
    ).toISOString();
    hooks.progressed(progress);
  }
  for (;;) {
    const page = await advancesToReconcilePage(deps.pool, progress.afterAdvanceId, PAGE_SIZE, scope);
    if (page.length === 0) break;
    const findings = await checkPage(deps, page, now, correlationId);
    await raise(deps, runId, findings, progress, hooks);
    await dequeueChecked(deps.pool, page);
    progress.afterAdvanceId = page.at(-1)!.advanceId;
    progress.advancesChecked += page.length;
    hooks.progressed(progress);
  }
  await raise(deps, runId, await movementsOfUnknownAdvances(deps.pool), progress, hooks);
  await dequeueUnknownAdvances(deps.pool);

  const resolved = await resolveFindingsNotSeen(deps.em, runId);
  resolved.forEach(hooks.resolved);
  await finishRun(deps.em, runId, {
    ledgerScannedUntil: new Date(progress.scannedUntil),
    advancesChecked: progress.advancesChecked,
    findingsRaised: progress.findingsRaised,
    findingsResolved: resolved.length,
  });
  return { ...progress, findingsResolved: resolved.length };
}

/**
 * A full sweep when one is due (or this run, resumed, began as one), or when
 * Temporal cannot list the workflows closed since the last run; otherwise an
 * incremental run.
 */
async function chooseScope(
  deps: ReconciliationDeps,
  last: LastRuns,
  resumedAs: RunMode | null,
  now: Date,
): Promise<ReconcileScope> {
  const full = { mode: 'FULL', recentSince: new Date(now.getTime() - deps.reportWindowMs) } as const;
  if (resumedAs === 'FULL') return full;
  const sweepDue = !last.fullSweep || now.getTime() - last.fullSweep.getTime() >= deps.fullSweepEveryMs;
  if (!last.run || (resumedAs === null && sweepDue)) return full;
  const closed = await advancesClosedSince(deps.temporal, new Date(last.run.getTime() - deps.scanOverlapMs));
  if (closed === null) return full;
  return {
    mode: 'INCREMENTAL',
    stuckBefore: new Date(now.getTime() - deps.stuckAfterMs),
    closedWorkflowAdvanceIds: closed,
  };
}

async function raise(
  deps: ReconciliationDeps,
  runId: string,
  findings: Finding[],
  progress: RunProgress,
  hooks: RunHooks,
): Promise<void> {
  const raised = await raiseFindings(deps.em, runId, findings);
  raised.forEach(hooks.raised);
  progress.findingsRaised += raised.length;
}

/**
 * Mirrors every movement the ledger shows naming an advance, from where the
 * last scan ended (less an overlap) to now, through the ledger's report
 * stream: one snapshot, a thousand rows a message. Returns where it ended.
 */
async function scanLedger(
  deps: ReconciliationDeps,
  last: Date | null,
  correlationId: string,
  hooks: RunHooks,
  progress: RunProgress,
): Promise<Date> {
  const endTime = new Date();
  const earliest = endTime.getTime() - deps.reportWindowMs + SCAN_WINDOW_MARGIN_MS;
  const from = last ? last.getTime() - deps.scanOverlapMs : earliest;
  if (from < earliest && last) {
    deps.log.error(
      { lastScan: last.toISOString(), reportWindowMs: deps.reportWindowMs },
      'reconciliation: the last ledger scan is older than the ledger report window; movements in the gap are checked by request id only',
    );
  }
  await deps.ledger.scanTransactions(
    { startTime: new Date(Math.max(from, earliest)), endTime },
    correlationId,
    async (transactions) => {
      const ours: LedgerMovement[] = [];
      for (const transaction of transactions) {
        const advanceId = advanceNamedBy(transaction);
        if (advanceId) ours.push(toLedgerMovement(transaction, advanceId));
      }
      await mirrorMovements(deps.pool, ours);
      hooks.progressed(progress);
    },
  );
  return endTime;
}

/** Findings for one page of advances: fetch what the mirror lacks, ask Temporal, compare. */
async function checkPage(
  deps: ReconciliationDeps,
  page: AdvanceToReconcile[],
  now: Date,
  correlationId: string,
): Promise<Finding[]> {
  const ids = page.map((advance) => advance.advanceId);
  const unsettled = page.filter(isUnsettled);
  // Temporal lists the page's workflows while the mirror is read and compared (it never throws).
  const listing = listedRunning(deps, unsettled);
  const mirrored = await movementsOf(deps.pool, ids);
  const movements = [...mirrored, ...(await fetchUnmirrored(deps, page, mirrored, correlationId))];
  const byAdvance = new Map<string, LedgerMovement[]>();
  for (const movement of movements) {
    const ofAdvance = byAdvance.get(movement.advanceId);
    if (ofAdvance) ofAdvance.push(movement);
    else byAdvance.set(movement.advanceId, [movement]);
  }
  const findings = page.flatMap((advance) =>
    reconcileAdvance(advance, byAdvance.get(advance.advanceId) ?? [], { now, stuckAfterMs: deps.stuckAfterMs }),
  );
  const running = await listing;
  const workflows = await inParallel(
    unsettled.filter((advance) => !running.has(advance.advanceId)),
    (advance) => checkWorkflow(deps, advance, now),
  );
  return [...findings, ...workflows.filter((finding): finding is Finding => finding !== null)];
}

/**
 * The unsettled advances whose workflow Temporal's visibility lists as
 * running: one call per page, where a describe each made the workflow check
 * most of a run's time. The others are described one by one before any is
 * reported (visibility lags: a workflow it does not list yet may be running),
 * so a listing that fails only costs time. One that closed after it was listed
 * is seen by the next run.
 */
async function listedRunning(deps: ReconciliationDeps, unsettled: AdvanceToReconcile[]): Promise<Set<string>> {
  try {
    return (
      (await advancesListedRunning(
        deps.temporal,
        unsettled.map((advance) => advance.advanceId),
      )) ?? new Set()
    );
  } catch (error) {
    deps.log.warn({ err: error }, 'reconciliation: listing running workflows failed; describing each instead');
    return new Set();
  }
}

/**
 * Asks the ledger, by request id, for each decided or in-flight step the
 * mirror does not hold yet (one older than the report window, or a scan that
 * has not caught up): normally none, so a run costs one stream, not a call per
 * payment. Mirrors what it found and returns it.
 */
async function fetchUnmirrored(
  deps: ReconciliationDeps,
  page: AdvanceToReconcile[],
  mirrored: LedgerMovement[],
  correlationId: string,
): Promise<LedgerMovement[]> {
  const known = new Set(mirrored.map((movement) => movement.requestId));
  const wanted: Array<{ advanceId: string; requestId: string }> = [];
  for (const advance of page) {
    const disbursement = disbursementRequestId(advance.advanceId);
    if (!known.has(disbursement)) wanted.push({ advanceId: advance.advanceId, requestId: disbursement });
    for (const payment of advance.payments) {
      if (payment.status === 'SCHEDULED') continue;
      const requestId = paymentRequestId(advance.advanceId, payment.number);
      if (!known.has(requestId)) wanted.push({ advanceId: advance.advanceId, requestId });
    }
  }
  const fetched = await inParallel(wanted, async ({ advanceId, requestId }) => {
    const transaction = await deps.ledger.findTransactionByRequestId(requestId, correlationId);
    return transaction ? toLedgerMovement(transaction, advanceId) : null;
  });
  const found = fetched.filter((movement): movement is LedgerMovement => movement !== null);
  await mirrorMovements(deps.pool, found);
  return found;
}

const isUnsettled = (advance: AdvanceToReconcile) =>
  advance.status === 'DISBURSING' || advance.status === 'ACTIVE' || advance.status === 'OVERDUE';

/**
 * An unsettled advance must have a running workflow. A DISBURSING one without
 * any (the API died between recording it and starting it, and the caller never
 * retried) is started here — the workflow id and the disbursement's request id
 * make that safe — and reported; any other is reported for ops.
 */
async function checkWorkflow(
  deps: ReconciliationDeps,
  advance: AdvanceToReconcile,
  now: Date,
): Promise<Finding | null> {
  if (advance.status === 'DISBURSING' && now.getTime() - advance.createTime.getTime() < WORKFLOW_START_GRACE_MS)
    return null;
  const state = await advanceWorkflowState(deps.temporal, advance.advanceId);
  if (state === 'RUNNING') return null;
  // It may have just finished: judge by the advance as it is now.
  const current = await findAdvance(deps.em, advance.advanceId);
  if (!current || !['DISBURSING', 'ACTIVE', 'OVERDUE'].includes(current.status)) return null;
  const finding = { advanceId: advance.advanceId, subject: 'workflow' } as const;
  if (state !== 'MISSING') {
    return {
      ...finding,
      kind: 'WORKFLOW_FAILED',
      severity: 'CRITICAL',
      detail: `workflow advance-${advance.advanceId} is ${state} while the advance is ${current.status}`,
    };
  }
  if (current.status !== 'DISBURSING') {
    return {
      ...finding,
      kind: 'WORKFLOW_MISSING',
      severity: 'CRITICAL',
      detail: `the advance is ${current.status} but Temporal has no workflow advance-${advance.advanceId}`,
    };
  }
  await startAdvanceWorkflow(deps.temporal, deps.taskQueue, {
    advanceId: current.advanceId,
    accountId: current.accountId,
    amount: current.amount.toString(),
    installments: current.installments,
    paymentIntervalMs: current.paymentIntervalMs,
  });
  return {
    ...finding,
    kind: 'WORKFLOW_MISSING',
    severity: 'WARNING',
    detail: `DISBURSING since ${current.createTime.toISOString()} without a workflow; reconciliation started it`,
  };
}

/** Runs `work` over `items`, CALLS_IN_FLIGHT at a time, keeping the order. */
async function inParallel<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CALLS_IN_FLIGHT, items.length) }, lane));
  return results;
}
