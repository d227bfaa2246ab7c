import { exitOnStartFailure, loadConfigOrExit, runUntilSignalled } from '@alfabet/service-kit/process-lifecycle';
import { loadAccountsConfig } from './config.js';
import { routeGrpcLogs } from '@alfabet/service-kit/logger';
import { createLogger } from './logger.js';
import { startAccountsApp } from './app.js';

/** Entry point: config, start, and a graceful stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('accounts-manager', () => loadAccountsConfig());
  const log = createLogger(config.logLevel);
  routeGrpcLogs(log);
  const app = await startAccountsApp(config, log);
  runUntilSignalled(log, () => app.stop(), config.shutdownGraceMs);
}

main().catch(exitOnStartFailure('accounts-manager'));
