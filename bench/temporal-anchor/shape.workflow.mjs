// The shape of an advance with nothing inside: one activity, then
// `installments` times a durable timer and an activity. Run on the same
// Temporal server as the real advances, it measures what Temporal alone can
// do on this machine — the anchor of the advances benchmark.
import { proxyActivities, sleep } from '@temporalio/workflow';

const { noop } = proxyActivities({ startToCloseTimeout: '30 seconds' });

export async function advanceShape(installments, intervalMs) {
  await noop();
  for (let i = 0; i < installments; i++) {
    await sleep(intervalMs);
    await noop();
  }
}
