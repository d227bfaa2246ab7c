import { createLogger, routeGrpcLogs } from '@alfabet/service-kit/logger';
import { exitOnStartFailure, loadConfigOrExit, runUntilSignalled } from '@alfabet/service-kit/process-lifecycle';
import { loadAdvancesConfig } from './config.js';
import { installTemporalRuntime } from './temporal/sdk-runtime.js';
import { startAdvancesWorker } from './worker-app.js';

/** Entry point of the advances Temporal worker. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('advances-worker', () => loadAdvancesConfig());
  const log = createLogger(config.logLevel, 'advances-worker');
  routeGrpcLogs(log);
  installTemporalRuntime(log, config.temporalMetricsAddress);
  const worker = await startAdvancesWorker(config, log);
  runUntilSignalled(log, () => worker.stop(), config.shutdownGraceMs);
  // A worker that stops on its own (fatal error) takes the process down, so a supervisor restarts it.
  worker.finished.catch((error: unknown) => {
    log.fatal({ err: error }, 'worker stopped on a fatal error');
    process.exit(1);
  });
}

main().catch(exitOnStartFailure('advances-worker'));
