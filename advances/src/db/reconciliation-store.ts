import { raw, type EntityManager } from '@mikro-orm/postgresql';
import { ReconciliationRunSchema } from './entities/ledger-movement.entity.js';

/** The reconciliation's runs: when each started and finished, and how far it read the ledger. */

/** FULL: every advance a run may need to check; INCREMENTAL: those that can have changed (reconciliation-run.ts). */
export type RunMode = 'FULL' | 'INCREMENTAL';

/** Records that run `runId` started (again, if its activity is retried: it keeps its first start and mode). */
export async function startRun(em: EntityManager, runId: string, mode: RunMode): Promise<void> {
  await em
    .fork()
    .createQueryBuilder(ReconciliationRunSchema)
    .insert({ runId, mode })
    .onConflict('runId')
    .ignore()
    .execute();
}

/** What the last finished runs left: where the next starts from. */
export interface LastRuns {
  /** When the last finished run started (null: never). */
  run: Date | null;
  /** When the last finished full sweep started; a run from before the queue existed (mode null) is none. */
  fullSweep: Date | null;
  /** Where the last finished run stopped reading the ledger. */
  ledgerScannedUntil: Date | null;
}

/** The last finished runs, in one read of reconciliation_runs. */
export async function lastFinishedRuns(em: EntityManager): Promise<LastRuns> {
  const row = await em
    .fork()
    .createQueryBuilder(ReconciliationRunSchema)
    .select([
      raw('max(start_time) as run'),
      raw("max(start_time) filter (where mode = 'FULL') as full_sweep"),
      raw('max(ledger_scanned_until) as scanned_until'),
    ])
    .where({ finishTime: { $ne: null } })
    .execute<
      { run: string | Date | null; full_sweep: string | Date | null; scanned_until: string | Date | null } | undefined
    >('get', false);
  return {
    run: dateOrNull(row?.run),
    fullSweep: dateOrNull(row?.full_sweep),
    ledgerScannedUntil: dateOrNull(row?.scanned_until),
  };
}

export interface RunResult {
  ledgerScannedUntil: Date;
  advancesChecked: number;
  findingsRaised: number;
  findingsResolved: number;
}

export async function finishRun(em: EntityManager, runId: string, result: RunResult): Promise<void> {
  await em.fork().nativeUpdate(ReconciliationRunSchema, { runId }, { ...result, finishTime: raw('now()') });
}

/** When a run last finished (null: never): what the "not succeeding" alert reads. */
export async function lastSuccessfulRun(em: EntityManager): Promise<Date | null> {
  const row = await em
    .fork()
    .createQueryBuilder(ReconciliationRunSchema)
    .select(raw('max(finish_time) as latest'))
    .execute<{ latest: string | Date | null } | undefined>('get', false);
  return dateOrNull(row?.latest);
}

// The driver hands timestamps over as text.
const dateOrNull = (value: string | Date | null | undefined) =>
  value === null || value === undefined ? null : new Date(value);
