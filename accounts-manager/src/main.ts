import { ConfigError, loadAccountsConfig } from './config.js';
import { createLogger } from './logger.js';
import { startAccountsApp } from './app.js';

/** Entry point: config, start, and a graceful stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadAccountsConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`accounts-manager: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const app = await startAccountsApp(config, log);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight calls');
    app.stop().then(
      () => { log.info('stopped'); process.exit(0); },
      (error: unknown) => { log.error({ err: error }, 'unclean shutdown'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`accounts-manager failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
