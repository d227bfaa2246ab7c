import { createLogger, routeGrpcLogs } from '@alfabet/service-kit/logger';
import { exitOnStartFailure, loadConfigOrExit, runUntilSignalled } from '@alfabet/service-kit/process-lifecycle';
import { startAdvancesApi } from './api-app.js';
import { loadAdvancesConfig } from './config.js';

/** Entry point of the advances gRPC API. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('advances-api', () => loadAdvancesConfig());
  const log = createLogger(config.logLevel, 'advances-api');
  routeGrpcLogs(log);
  const api = await startAdvancesApi(config, log);
  runUntilSignalled(log, () => api.stop(), config.shutdownGraceMs);
}

main().catch(exitOnStartFailure('advances-api'));
