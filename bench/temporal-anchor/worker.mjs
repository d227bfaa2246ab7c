// node bench/temporal-anchor/worker.mjs <temporal address> <task queue>
// A worker with default options (as the advances worker) running the empty
// advance shape. On SIGTERM it stops and prints how many activities it ran.
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';

const [address, taskQueue] = process.argv.slice(2);
Runtime.install({ logger: new DefaultLogger('WARN') });
let activities = 0;
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: fileURLToPath(new URL('./shape.workflow.mjs', import.meta.url)),
  activities: {
    noop: async () => {
      activities += 1;
    },
  },
});
process.once('SIGTERM', () => worker.shutdown());
console.log('ready');
await worker.run();
await connection.close();
console.log(JSON.stringify({ activities }));
