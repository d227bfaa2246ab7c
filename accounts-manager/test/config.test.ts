import { ConfigError, loadAccountsConfig } from '../src/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadAccountsConfig({});
    expect(config.grpcAddress).toBe('127.0.0.1:50051');
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/alfabet_accounts');
    expect(config.maxAmountMinor).toBe(1_000_000_000_000n);
    expect(config.reportWindowMs).toBe(5 * 24 * 3600 * 1000);
  });

  it.each([
    ['MAX_AMOUNT', '12.5'],
    ['MAX_AMOUNT', '0'],
    ['MAX_AMOUNT', '-3'],
    ['REPORT_WINDOW', 'five days'],
    ['ACCOUNTS_GRPC_ADDR', 'localhost'],
    ['ACCOUNTS_DATABASE_URL', 'mysql://x'],
    ['ACCOUNTS_DB_POOL_SIZE', '0'],
    ['REPORT_TOKEN_SECRET', 'short'],
    ['LOG_LEVEL', 'loud'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadAccountsConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadAccountsConfig({ [name]: value })).toThrow(name);
  });

  it('refuses to serve plaintext gRPC beyond loopback unless told to', () => {
    expect(() => loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051' })).toThrow(
      /ACCOUNTS_GRPC_ADDR: .*not a loopback address/,
    );
    expect(
      loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051', ALLOW_INSECURE_NON_LOOPBACK: 'true' }).grpcAddress,
    ).toBe('0.0.0.0:50051');
    expect(loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: 'localhost:50051' }).grpcAddress).toBe('localhost:50051');
    expect(() => loadAccountsConfig({ ALLOW_INSECURE_NON_LOOPBACK: 'yes' })).toThrow(/ALLOW_INSECURE_NON_LOOPBACK/);
  });
});
