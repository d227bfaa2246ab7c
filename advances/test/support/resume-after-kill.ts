import type { Client } from '@temporalio/client';
import { paymentActivities, type PaymentActivity } from './payment-timeline.js';

/** How fast payments got going again after each worker was SIGKILLed, read from the workflows' histories. */
export interface ResumeAfterKills {
  /** Per payment that was in flight on a killed worker: ms from the kill to its retry starting on a live worker. */
  inFlightRetriedMs: number[];
  /** Per kill: ms from the kill to the next payment being taken by any worker, when that came before the next kill. */
  nextPaymentMs: number[];
  /** Kills followed by the next kill before any payment was taken (the restarted worker was killed again first). */
  killedAgainBeforeResuming: number;
  /** Payments whose previous attempt ended by start-to-close timeout: a dead worker noticed the slow way. */
  noticedByStartToClose: PaymentActivity[];
}

/**
 * `killTimesMs` are wall-clock times; the histories of a real (dev) server
 * carry the same clock. A payment that was in flight on a killed worker shows
 * as a last attempt > 1 whose previous attempt ended by heartbeat timeout.
 */
export async function resumeAfterKills(
  client: Client,
  workflowIds: string[],
  killTimesMs: number[],
): Promise<ResumeAfterKills> {
  const activities = (await Promise.all(workflowIds.map((id) => paymentActivities(client, id)))).flat();
  const kills = [...killTimesMs].sort((a, b) => a - b);
  const lastKillBefore = (ms: number) => kills.filter((kill) => kill <= ms).at(-1);

  const inFlightRetriedMs = activities
    .filter((a) => a.attempt > 1 && a.previousAttemptEnded === 'HEARTBEAT_TIMEOUT' && a.startedMs !== null)
    .flatMap((a) => {
      const kill = lastKillBefore(a.startedMs!);
      return kill === undefined ? [] : [a.startedMs! - kill];
    });
  const completions = activities.flatMap((a) => (a.completedMs === null ? [] : [a.completedMs])).sort((a, b) => a - b);
  const nextPaymentMs = kills.map((kill, index) => {
    const next = completions.find((completed) => completed > kill);
    const nextKill = kills[index + 1] ?? Infinity;
    return next === undefined || next > nextKill ? null : next - kill;
  });
  return {
    inFlightRetriedMs,
    nextPaymentMs: nextPaymentMs.filter((ms): ms is number => ms !== null),
    killedAgainBeforeResuming: nextPaymentMs.filter((ms) => ms === null).length,
    noticedByStartToClose: activities.filter((a) => a.previousAttemptEnded === 'START_TO_CLOSE_TIMEOUT'),
  };
}

/** "max 4210 ms, p50 3870 ms over 9" */
export function summarize(valuesMs: number[]): string {
  if (valuesMs.length === 0) return 'none measured';
  const sorted = [...valuesMs].sort((a, b) => a - b);
  return `max ${sorted.at(-1)} ms, p50 ${sorted[Math.floor((sorted.length - 1) / 2)]} ms over ${sorted.length}`;
}
