import { readdirSync, readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../src/worker-app.js';
import { HISTORIES_DIR } from './support/histories.js';

// Histories recorded from real runs (see support/histories.ts) replayed through
// today's workflow code: a change that would make a running advance take a
// different path (non-determinism) fails here, before it reaches a worker.
const files = readdirSync(HISTORIES_DIR)
  .filter((name) => name.endsWith('.history.pb'))
  .sort();

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(3);
});

// Recorded after each patch shipped (see advance.workflow.ts): they replay its new path, the
// older histories its old one. Each carries the markers of the patches it went through.
const PATCHED_HISTORIES: Record<string, string[]> = {
  'advance-ledger-outage-over-payments-3-to-5': ['advance-sleeps-until-due-time'],
  'advance-halted-at-payment-2-then-resumed': ['advance-sleeps-until-due-time', 'advance-halts-instead-of-failing'],
};

test.each(Object.entries(PATCHED_HISTORIES))('%s is recorded with the markers of %j', (name, patches) => {
  expect(files).toContain(`${name}.history.pb`);
  const history = temporal.api.history.v1.History.decode(readFileSync(`${HISTORIES_DIR}${name}.history.pb`));
  const markers = (history.events ?? [])
    .flatMap((event) => Object.values(event.markerRecordedEventAttributes?.details ?? {}))
    .map((details) => Buffer.from(details.payloads![0]!.data!).toString());
  for (const patch of patches) expect(markers.some((marker) => marker.includes(`"${patch}"`))).toBe(true);
});

test('every recorded advance history replays deterministically', async () => {
  const histories = files.map((name) => ({
    workflowId: name.replace(/\.history\.pb$/, ''),
    history: temporal.api.history.v1.History.decode(readFileSync(HISTORIES_DIR + name)),
  }));
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath: workflowsPath() }, histories))
    results.push(result);
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error ? String(r.error) : null }))).toEqual(
    histories.map((h) => ({ workflowId: h.workflowId, error: null })),
  );
}, 60_000);
