// The stand-in for an advance's workflow in the reconciliation benchmark: it
// has the advance's workflow type and id, so Temporal reports it RUNNING as the
// reconciliation expects of a healthy advance, and it only waits (no timer, no
// activity): the server has nothing to do for it once its first task ran.
import { condition, proxySinks } from '@temporalio/workflow';

const { bench } = proxySinks();

export async function advanceWorkflow() {
  // Tells the bench worker this workflow is parked, so setup can wait for all of them.
  bench.parked();
  await condition(() => false);
}
