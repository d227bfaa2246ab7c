import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../test-support/temporal-dev-server.js';
import { advancesListedRunning } from '../src/temporal/advance-workflows.js';
import { eventually } from './support/advances-harness.js';

/**
 * The reconciliation skips the describe of every advance whose workflow
 * visibility lists as running. On the real server (the time-skipping one has
 * no listing: the reconciliation tests cover the describe path), the query
 * must list exactly the running `advanceWorkflow` executions of the advances
 * asked about — a query the server rejected would only make runs slower,
 * silently, so it is checked here.
 */
let server: DevServer;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  server = await startDevServer();
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: server.namespace });
}, 90_000);

afterAll(async () => {
  await connection?.close();
  await server?.stop();
});

test('visibility lists the running advance workflows among those asked about, and nothing else', async () => {
  const [running, terminated, otherType, neverStarted, notAsked] = [
    randomUUID(),
    randomUUID(),
    randomUUID(),
    randomUUID(),
    randomUUID(),
  ];
  // No worker polls this queue: a started workflow stays running.
  const start = (advanceId: string, type = 'advanceWorkflow') =>
    client.workflow.start(type, { taskQueue: `no-worker-${randomUUID()}`, workflowId: `advance-${advanceId}` });
  await start(running);
  await start(notAsked);
  await start(otherType, 'somethingElse');
  await (await start(terminated)).terminate('listing test');

  const asked = [running, terminated, otherType, neverStarted];
  // Visibility catches up asynchronously: wait until it shows the one started and not the one terminated.
  const listed = await eventually(async () => {
    const found = await advancesListedRunning(client, asked);
    return found?.has(running) && !found.has(terminated) ? found : undefined;
  }, 'visibility to show the running advance workflow and not the terminated one');
  expect([...listed]).toEqual([running]);
  expect(await advancesListedRunning(client, [])).toEqual(new Set());
}, 60_000);
