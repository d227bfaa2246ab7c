import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metricNames, promtool, rulesOf } from '../test-support/prometheus-rules.js';

/**
 * The advances worker's alerting rules (issue 16), checked the way Prometheus
 * would load them and unit-tested with promtool (scripts/toolchain.sh installs it
 * from Debian's prometheus package). Deliberately broken copies prove the unit
 * tests can fail, and the rules may only use the metrics the worker exports.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RULES = join(ROOT, 'deploy/prometheus/advances-alerts.rules.yml');
const TESTS = join(ROOT, 'deploy/prometheus/advances-alerts.test.yml');

/** What the advances worker exports on its /metrics for the reconciliation alerts. */
const WORKER_METRICS = [
  'advances_reconciliation_findings_open',
  'advances_reconciliation_last_success_timestamp_seconds',
  'advances_reconciliation_interval_seconds',
];

const rules = rulesOf(RULES);

it('passes promtool check rules', () => {
  const { status, output } = promtool('check', 'rules', RULES);
  expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS: 3 rules found') });
});

it('passes its promtool unit tests', () => {
  const { status, output } = promtool('test', 'rules', TESTS);
  expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
});

it('has the alerts ops rely on, critical, pointing at ListReconciliationFindings', () => {
  const alerts = Object.fromEntries(rules.map((rule) => [rule.alert, rule]));
  expect(Object.keys(alerts).sort()).toEqual([
    'AdvancesReconciliationFindingOpen',
    'AdvancesReconciliationMetricsAbsent',
    'AdvancesReconciliationNotSucceeding',
  ]);
  const finding = alerts.AdvancesReconciliationFindingOpen!;
  expect(finding.labels?.severity).toBe('critical');
  expect(finding.expr).toMatch(/max by \(kind\)/);
  expect(finding.annotations?.summary).toContain('{{ $labels.kind }}');
  expect(finding.annotations?.description?.replace(/\s+/g, ' ')).toContain(
    `grpcurl -plaintext -d '{"open_only": true}' 127.0.0.1:50052 alfabet.advances.v1.AdvancesService/ListReconciliationFindings`,
  );
  expect(alerts.AdvancesReconciliationNotSucceeding!.labels?.severity).toBe('critical');
  expect(alerts.AdvancesReconciliationNotSucceeding!.expr).toContain('advances_reconciliation_interval_seconds');
});

it('uses only the metrics the advances worker exports', () => {
  // Sanity check of the extraction itself, so that the assertion below cannot pass vacuously.
  expect(
    metricNames(
      'max by (kind) (foo_total{kind="A"}) > 0 and on () count_over_time((max(bar) == 0)[7d:5m]) * 300 or absent(baz)',
    ),
  ).toEqual(['bar', 'baz', 'foo_total']);
  const used = [...new Set(rules.flatMap((rule) => metricNames(rule.expr)))].sort();
  expect(used).toEqual([...WORKER_METRICS].sort());
});

describe('a deliberately broken copy fails promtool test rules:', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alfabet-prometheus-rules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the unit tests from a copy of the test file changed by `mutate` (in a temporary directory, against the real rules). */
  function testBroken(name: string, mutate: (text: string) => string) {
    const original = readFileSync(TESTS, 'utf8');
    expect(original).toContain('  - advances-alerts.rules.yml\n');
    const copy = join(dir, `${name}.test.yml`);
    writeFileSync(copy, mutate(original).replace('  - advances-alerts.rules.yml\n', `  - ${RULES}\n`));
    return promtool('test', 'rules', copy);
  }

  const replaceOnce = (text: string, from: string, to: string) => {
    expect(text.split(from)).toHaveLength(2);
    return text.replace(from, to);
  };

  // Each names the alert and evaluation time that failed: so the copy did load, and it failed for the change made.
  it('the finding alert expected while the series are clean', () => {
    const broken = testBroken('finding-flipped', (text) =>
      replaceOnce(
        text,
        '{ eval_time: 2m, alertname: AdvancesReconciliationFindingOpen, exp_alerts: [] }',
        '{ eval_time: 2m, alertname: AdvancesReconciliationFindingOpen, exp_alerts: [{ exp_labels: { severity: critical, service: advances, kind: PAYMENT_STUCK } }] }',
      ),
    );
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain('FAILED');
    expect(broken.output).toContain('alertname: AdvancesReconciliationFindingOpen, time: 2m,');
  });

  it('silence expected once the last success is stale', () => {
    const broken = testBroken('stale-flipped', (text) =>
      replaceOnce(
        text,
        '{ eval_time: 190m, alertname: AdvancesReconciliationNotSucceeding, exp_alerts: [] }',
        '{ eval_time: 200m, alertname: AdvancesReconciliationNotSucceeding, exp_alerts: [] }',
      ),
    );
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain('alertname: AdvancesReconciliationNotSucceeding, time: 3h20m,');
    expect(broken.output).toContain('reason="stale"');
  });

  it('silence expected once the worker has run 3 intervals without a success', () => {
    const broken = testBroken('never-flipped', (text) =>
      replaceOnce(
        text,
        '{ eval_time: 170m, alertname: AdvancesReconciliationNotSucceeding, exp_alerts: [] }',
        '{ eval_time: 195m, alertname: AdvancesReconciliationNotSucceeding, exp_alerts: [] }',
      ),
    );
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain('alertname: AdvancesReconciliationNotSucceeding, time: 3h15m,');
    expect(broken.output).toContain('reason="never"');
  });

  it('the worker exporting a metric the rules use under another name', () => {
    const broken = testBroken('metric-renamed', (text) =>
      text.replaceAll('advances_reconciliation_findings_open{', 'advances_reconciliation_open_findings{'),
    );
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain('alertname: AdvancesReconciliationFindingOpen, time: 3m,');
  });
});
