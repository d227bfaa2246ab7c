import { ConfigError, DEV_REPORT_TOKEN_SECRET, loadAccountsConfig } from '../src/config.js';

const YEAR = 365.25 * 24 * 3600 * 1000;

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadAccountsConfig({});
    expect(config.grpcAddress).toBe('127.0.0.1:50051');
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/alfabet_accounts');
    expect(config.maxAmountMinor).toBe(1_000_000_000_000n);
    expect(config.reportWindowMs).toBe(5 * 24 * 3600 * 1000);
    expect(config.archiveRetentionMs).toBe(7 * YEAR);
    expect(config.archiveExportDir).toBeNull();
    expect(config.maxBatchSize).toBe(1000);
    expect(config.groupCommit).toBe(true);
    expect(loadAccountsConfig({ ACCOUNTS_GROUP_COMMIT: 'off' }).groupCommit).toBe(false);
  });

  it('keeps archived days for ARCHIVE_RETENTION (at least 5 years, or off: forever), exported to ARCHIVE_EXPORT_DIR', () => {
    expect(loadAccountsConfig({ ARCHIVE_RETENTION: '10y' }).archiveRetentionMs).toBe(10 * YEAR);
    expect(loadAccountsConfig({ ARCHIVE_RETENTION: '5y' }).archiveRetentionMs).toBe(5 * YEAR);
    expect(loadAccountsConfig({ ARCHIVE_RETENTION: '2000d' }).archiveRetentionMs).toBe(2000 * 24 * 3600 * 1000);
    expect(loadAccountsConfig({ ARCHIVE_RETENTION: 'off' }).archiveRetentionMs).toBeNull();
    expect(loadAccountsConfig({ ARCHIVE_EXPORT_DIR: '/srv/ledger-export' }).archiveExportDir).toBe(
      '/srv/ledger-export',
    );
  });

  it('takes MAX_BATCH_SIZE from 1 to 10 000', () => {
    expect(loadAccountsConfig({ MAX_BATCH_SIZE: '1' }).maxBatchSize).toBe(1);
    expect(loadAccountsConfig({ MAX_BATCH_SIZE: '10000' }).maxBatchSize).toBe(10_000);
  });

  it.each([
    ['MAX_AMOUNT', '12.5'],
    ['MAX_AMOUNT', '0'],
    ['MAX_AMOUNT', '-3'],
    ['REPORT_WINDOW', 'five days'],
    ['ACCOUNTS_GRPC_ADDR', 'localhost'],
    ['ACCOUNTS_DATABASE_URL', 'mysql://x'],
    ['ACCOUNTS_DB_POOL_SIZE', '0'],
    ['MAX_BATCH_SIZE', '0'],
    ['MAX_BATCH_SIZE', '10001'],
    ['MAX_BATCH_SIZE', 'many'],
    ['MAX_BATCH_SIZE', '2.5'],
    ['ACCOUNTS_GROUP_COMMIT', 'yes'],
    ['REPORT_TOKEN_SECRET', 'short'],
    ['LOG_LEVEL', 'loud'],
    // A typo must not drop what the law says to keep: 7d for 7y, a bare number (milliseconds), under 5 years.
    ['ARCHIVE_RETENTION', '7d'],
    ['ARCHIVE_RETENTION', '7'],
    ['ARCHIVE_RETENTION', '4y'],
    ['ARCHIVE_RETENTION', 'forever'],
    ['ARCHIVE_RETENTION', '-7y'],
    ['ARCHIVE_EXPORT_DIR', 'relative/export'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadAccountsConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadAccountsConfig({ [name]: value })).toThrow(name);
  });

  it('refuses to serve plaintext gRPC beyond loopback unless told to', () => {
    const secured = { ACCOUNTS_AUTH: 'on', REPORT_TOKEN_SECRET: 'a-secret-of-our-own-0123456789' };
    expect(() => loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051', ...secured })).toThrow(
      /ACCOUNTS_GRPC_ADDR: .*not a loopback address/,
    );
    expect(
      loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051', ALLOW_INSECURE_NON_LOOPBACK: 'true', ...secured })
        .grpcAddress,
    ).toBe('0.0.0.0:50051');
    expect(loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: 'localhost:50051' }).grpcAddress).toBe('localhost:50051');
    expect(() => loadAccountsConfig({ ALLOW_INSECURE_NON_LOOPBACK: 'yes' })).toThrow(/ALLOW_INSECURE_NON_LOOPBACK/);
  });
});

describe('secure by default (DESIGN.md §6): beyond loopback, no open ledger and no public token key', () => {
  const beyond = { ACCOUNTS_GRPC_ADDR: '10.1.2.3:50051', ALLOW_INSECURE_NON_LOOPBACK: 'true' };
  const OWN_SECRET = 'a-secret-of-our-own-0123456789';

  it('refuses to start without authorization, naming ACCOUNTS_AUTH', () => {
    const load = () => loadAccountsConfig({ ...beyond, REPORT_TOKEN_SECRET: OWN_SECRET });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ACCOUNTS_AUTH: must be on when ACCOUNTS_GRPC_ADDR is not a loopback address/);
    expect(() => loadAccountsConfig({ ...beyond, ACCOUNTS_AUTH: 'off', REPORT_TOKEN_SECRET: OWN_SECRET })).toThrow(
      /ACCOUNTS_AUTH: must be on/,
    );
  });

  it('refuses to start with the published report token key, naming REPORT_TOKEN_SECRET', () => {
    for (const secret of [{}, { REPORT_TOKEN_SECRET: DEV_REPORT_TOKEN_SECRET }]) {
      const load = () => loadAccountsConfig({ ...beyond, ACCOUNTS_AUTH: 'on', ...secret });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(/REPORT_TOKEN_SECRET: must be set to a secret of your own/);
    }
  });

  it('names every variable to change at once, TLS included', () => {
    expect(() => loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051' })).toThrow(
      /ACCOUNTS_GRPC_ADDR: 0\.0\.0\.0:50051 is not a loopback address[^]*ACCOUNTS_AUTH: [^]*REPORT_TOKEN_SECRET: /,
    );
  });

  it('starts with authorization on and a secret of its own', () => {
    const config = loadAccountsConfig({ ...beyond, ACCOUNTS_AUTH: 'on', REPORT_TOKEN_SECRET: OWN_SECRET });
    expect(config.authorization).not.toBeNull();
    expect(config.reportTokenSecret).toBe(OWN_SECRET);
  });

  it.each(['127.0.0.1:50051', '127.0.0.2:0', 'localhost:50051'])(
    'keeps the dev defaults on loopback (%s): no authorization, the dev key',
    (address) => {
      const config = loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: address });
      expect(config.authorization).toBeNull();
      expect(config.reportTokenSecret).toBe(DEV_REPORT_TOKEN_SECRET);
    },
  );
});
