import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from '@alfabet/service-kit/logger';

export const RECONCILIATION_SCHEDULE_ID = 'advances-reconciliation';

/**
 * Creates the Schedule that runs reconciliationWorkflow every `intervalMs`,
 * or brings an existing one to this interval: safe to call at every worker
 * start, from any number of workers. Overlapping runs are skipped.
 */
export async function ensureReconciliationSchedule(
  client: Client,
  taskQueue: string,
  intervalMs: number,
  log: Logger,
): Promise<void> {
  const spec = { intervals: [{ every: intervalMs }] };
  try {
    await client.schedule.create({
      scheduleId: RECONCILIATION_SCHEDULE_ID,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: 'reconciliationWorkflow',
        taskQueue,
        workflowId: 'advances-reconciliation-run',
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      state: {
        note: 'Checks that every open advance adds up and matches the ledger (see advances/src/reconciliation).',
      },
    });
    log.info({ scheduleId: RECONCILIATION_SCHEDULE_ID, intervalMs }, 'reconciliation schedule created');
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID);
    const current = await handle.describe();
    const every = current.spec.intervals?.[0]?.every;
    if (current.spec.intervals?.length !== 1 || Number(every) !== intervalMs) {
      await handle.update((previous) => ({ ...previous, spec }));
      log.info({ scheduleId: RECONCILIATION_SCHEDULE_ID, intervalMs }, 'reconciliation schedule interval updated');
    }
  }
}
