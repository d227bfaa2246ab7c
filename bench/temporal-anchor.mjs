// The advances benchmark's anchor: the same number of workflows of the same
// shape (an activity, then 12 × timer + activity) with empty activities, on
// the same Temporal server in the same run. What it cannot beat is Temporal's
// own limit on this machine; the ratio says what the advances code costs.
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './processes.mjs';
import { round } from './stats.mjs';

const START_CONCURRENCY = 64;

export async function temporalAnchor({ temporalAddress, temporalPid, count, intervalMs, timeoutMs, say }) {
  const taskQueue = `bench-anchor-${randomUUID()}`;
  const worker = spawn(
    process.execPath,
    [fileURLToPath(new URL('./temporal-anchor/worker.mjs', import.meta.url)), temporalAddress, taskQueue],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  worker.stdout.on('data', (chunk) => {
    output += String(chunk);
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    while (!output.includes('ready')) {
      if (worker.exitCode !== null) throw new Error(`the anchor worker exited: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const client = new Client({ connection });
    const cpuBefore = { temporal: cpuSeconds(temporalPid), worker: cpuSeconds(worker.pid) };
    const started = Date.now();
    await startAll(client, taskQueue, count, intervalMs);
    const done = await waitForCompleted(client, taskQueue, count, started + timeoutMs);
    const seconds = (Date.now() - started) / 1000;
    const cpu = {
      temporal: round((cpuSeconds(temporalPid) - cpuBefore.temporal) / seconds, 2),
      worker: round((cpuSeconds(worker.pid) - cpuBefore.worker) / seconds, 2),
    };
    worker.kill('SIGTERM');
    await exited;
    const { activities } = JSON.parse(output.trim().split('\n').pop());
    // Workflows cut off by the bound are not left running on the server.
    if (done < count)
      await Promise.allSettled(
        Array.from({ length: count }, (_, i) =>
          client.workflow.getHandle(`${taskQueue}-${i + 1}`).terminate('benchmark bound reached'),
        ),
      );
    say(
      `advances anchor (empty workflows of the same shape): ${done} / ${count} done in ${round(seconds, 1)} s, ${round(activities / seconds, 1)} activities/s`,
    );
    return {
      what: 'the same workflows with empty activities, same Temporal server',
      completed: done,
      secondsUntilAllDone: done === count ? round(seconds, 1) : null,
      activities,
      activitiesPerSecond: round(activities / seconds, 1),
      cpuCores: cpu,
    };
  } finally {
    if (worker.exitCode === null) worker.kill('SIGKILL');
    await connection.close();
  }
}

/** Starts `count` workflows, START_CONCURRENCY at a time. */
async function startAll(client, taskQueue, count, intervalMs) {
  let next = 0;
  await Promise.all(
    Array.from({ length: START_CONCURRENCY }, async () => {
      while (next < count) {
        next += 1;
        await client.workflow.start('advanceShape', {
          taskQueue,
          workflowId: `${taskQueue}-${next}`,
          args: [12, intervalMs],
        });
      }
    }),
  );
}

/** How many of the queue's workflows completed, polled until all have or `deadline` (ms) passes. */
async function waitForCompleted(client, taskQueue, count, deadline) {
  let done = 0;
  while (Date.now() < deadline) {
    done = (await client.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus = "Completed"`)).count;
    if (done === count) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return done;
}
