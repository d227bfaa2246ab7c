import { ConfigError, loadAdvancesConfig } from '../src/config.js';

describe("advances configuration: the largest advance against the ledger's largest amount", () => {
  it("accepts an ADVANCE_MAX_AMOUNT up to the ledger's MAX_AMOUNT (default 10^12 minor units)", () => {
    expect(loadAdvancesConfig({}).maxAmountMinor).toBe(10_000_000n);
    expect(loadAdvancesConfig({ ADVANCE_MAX_AMOUNT: '1000000000000' }).maxAmountMinor).toBe(1_000_000_000_000n);
    expect(loadAdvancesConfig({ ADVANCE_MAX_AMOUNT: '5000', MAX_AMOUNT: '5000' }).maxAmountMinor).toBe(5_000n);
  });

  it('refuses an ADVANCE_MAX_AMOUNT above MAX_AMOUNT, naming both variables', () => {
    const load = () => loadAdvancesConfig({ ADVANCE_MAX_AMOUNT: '5001', MAX_AMOUNT: '5000' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ADVANCE_MAX_AMOUNT: ADVANCE_MAX_AMOUNT must not exceed MAX_AMOUNT/);
  });

  it.each([
    ['MAX_AMOUNT', '0'],
    ['MAX_AMOUNT', '12.5'],
    ['MAX_AMOUNT', '1000000000000001'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => loadAdvancesConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadAdvancesConfig({ [name]: value })).toThrow(name);
  });
});

describe('advances configuration: the reconciliation full sweep', () => {
  it('sweeps every advance once a day by default, or as RECONCILIATION_FULL_SWEEP_INTERVAL says', () => {
    expect(loadAdvancesConfig({}).reconciliationFullSweepEveryMs).toBe(24 * 3600_000);
    expect(loadAdvancesConfig({ RECONCILIATION_FULL_SWEEP_INTERVAL: '6h' }).reconciliationFullSweepEveryMs).toBe(
      6 * 3600_000,
    );
  });

  it('reaches each ledger scan 2 minutes back over the last by default (RECONCILIATION_SCAN_OVERLAP)', () => {
    expect(loadAdvancesConfig({}).reconciliationScanOverlapMs).toBe(2 * 60_000);
    expect(loadAdvancesConfig({ RECONCILIATION_SCAN_OVERLAP: '10m' }).reconciliationScanOverlapMs).toBe(10 * 60_000);
  });

  it.each(['RECONCILIATION_FULL_SWEEP_INTERVAL', 'RECONCILIATION_SCAN_OVERLAP'])(
    'rejects a %s that is no duration, naming the variable',
    (name) => {
      const load = () => loadAdvancesConfig({ [name]: 'daily' });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(name);
    },
  );
});

describe('advances configuration: the workflows the worker keeps in memory', () => {
  it('keeps 250 by default, or as ADVANCES_WORKER_CACHED_WORKFLOWS says', () => {
    expect(loadAdvancesConfig({}).workerCachedWorkflows).toBe(250);
    expect(loadAdvancesConfig({ ADVANCES_WORKER_CACHED_WORKFLOWS: '2000' }).workerCachedWorkflows).toBe(2000);
  });

  it.each(['0', 'many', '1.5'])('rejects ADVANCES_WORKER_CACHED_WORKFLOWS=%s naming the variable', (value) => {
    const load = () => loadAdvancesConfig({ ADVANCES_WORKER_CACHED_WORKFLOWS: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow('ADVANCES_WORKER_CACHED_WORKFLOWS');
  });
});

describe('secure by default (DESIGN.md §6): beyond loopback, the advances API checks who calls', () => {
  it('refuses to start without authorization, naming ADVANCES_AUTH', () => {
    const load = () =>
      loadAdvancesConfig({ ADVANCES_GRPC_ADDR: '10.1.2.3:50052', ALLOW_INSECURE_NON_LOOPBACK: 'true' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ADVANCES_AUTH: must be on when ADVANCES_GRPC_ADDR is not a loopback address/);
  });

  it('names every variable to change at once, TLS included', () => {
    expect(() => loadAdvancesConfig({ ADVANCES_GRPC_ADDR: '0.0.0.0:50052' })).toThrow(
      /ADVANCES_GRPC_ADDR: 0\.0\.0\.0:50052 is not a loopback address[^]*ADVANCES_AUTH: must be on/,
    );
  });

  it('starts with authorization on, and keeps the dev defaults on loopback', () => {
    const beyond = { ADVANCES_GRPC_ADDR: '0.0.0.0:50052', ALLOW_INSECURE_NON_LOOPBACK: 'true', ADVANCES_AUTH: 'on' };
    expect(loadAdvancesConfig(beyond).authorization).not.toBeNull();
    expect(loadAdvancesConfig({ ADVANCES_GRPC_ADDR: '127.0.0.1:50052' }).authorization).toBeNull();
  });
});
