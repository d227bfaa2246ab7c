// node bench/reconciliation/worker.mjs <temporal address> <task queue>
// A bench-only worker running the idle `advanceWorkflow` on its own task queue
// (the stack's advances worker never sees these). Prints `ready`, then
// `parked <n>` as workflows reach their wait; stops on SIGTERM.
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';

const [address, taskQueue] = process.argv.slice(2);
Runtime.install({ logger: new DefaultLogger('WARN') });
let parked = 0;
let reported = -1;
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: fileURLToPath(new URL('./idle.workflow.mjs', import.meta.url)),
  // Parked workflows never get another task: no point keeping thousands cached.
  maxCachedWorkflows: 100,
  sinks: {
    bench: {
      parked: {
        fn: () => {
          parked += 1;
        },
      },
    },
  },
});
const timer = setInterval(() => {
  if (parked !== reported) console.log(`parked ${(reported = parked)}`);
}, 250);
process.once('SIGTERM', () => worker.shutdown());
console.log('ready');
await worker.run();
clearInterval(timer);
await connection.close();
