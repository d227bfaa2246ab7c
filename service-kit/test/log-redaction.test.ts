import { pino } from 'pino';
import { Writable } from 'node:stream';
import { compileRedactPaths } from '../src/log-redaction.js';
import { createLogger } from '../src/logger.js';

/**
 * The services' loggers censor secrets themselves (src/log-redaction.ts)
 * instead of through pino's `redact`, which cost as much as the rest of a
 * line. The lines must come out exactly as pino's `redact` would write them,
 * for every shape of line the services log: top-level secrets, secrets inside
 * a top-level object (one named, or any), an error carrying one, arrays, a
 * child logger's fields, and lines with no secret at all.
 */
const SERVICE_PATHS = ['*.password', '*.databaseUrl', 'config.databaseUrl', 'authorization', '*.authorization'];
const EXTRA = ['config.reportTokenSecret', 'snapshotToken', 'pageToken', '*.snapshotToken', '*.pageToken'];
// One error for both loggers, so its stack is the same in both lines.
const ERROR = Object.assign(new Error('connection refused'), { password: 'pw-in-error', code: 'ECONNREFUSED' });

function linesOf(make: (sink: Writable) => pino.Logger): unknown[] {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = make(sink);
  log.info({ config: { databaseUrl: 'postgres://u:pw@db/ledger', reportTokenSecret: 'key', port: 1 } }, 'config');
  log.info({ authorization: 'Bearer t', request: { snapshotToken: 's', pageToken: 'p', page: 3 } }, 'request');
  log.info({ snapshotToken: 's', pageToken: 'p', nested: { deep: { password: 'deeper than the paths' } } }, 'top');
  log.error({ err: ERROR }, 'failed');
  log.info({ list: [{ password: 'in an array' }], metadata: { authorization: ['Bearer t'] } }, 'arrays');
  log.info({ transactionId: 't-1', amountMinor: '5' }, 'transaction posted');
  log.child({ component: 'c', db: { databaseUrl: 'postgres://u:pw@db/x' } }).info({ n: 1 }, 'child');
  log
    .child({ a: 1 })
    .child({ b: { password: 'pw-of-grandchild' } })
    .info({}, 'grandchild');
  // time, pid and hostname differ between the two loggers.
  return lines.map(({ time: _time, pid: _pid, hostname: _hostname, ...rest }) => rest);
}

it('writes exactly the lines pino redact writes for the same paths', () => {
  const ours = linesOf((sink) => createLogger('info', 'ledger', EXTRA, sink));
  const pinos = linesOf((sink) =>
    pino({ level: 'info', base: { service: 'ledger' }, redact: [...SERVICE_PATHS, ...EXTRA] }, sink),
  );
  expect(ours).toEqual(pinos);
  expect(JSON.stringify(ours)).not.toMatch(/pw@|pw-in-error|Bearer t"|"key"|pw-of-grandchild/);
});

it('leaves a line without a secret untouched, and never changes the caller’s objects', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger('info', 'ledger', EXTRA, sink);
  const fields = { config: { databaseUrl: 'postgres://u:pw@db/ledger' }, pageToken: 'p' };
  log.info(fields, 'config');
  expect(fields).toEqual({ config: { databaseUrl: 'postgres://u:pw@db/ledger' }, pageToken: 'p' });
  expect(lines[0]).toContain('"databaseUrl":"[Redacted]"');
});

it('refuses a path it cannot apply rather than letting a secret through', () => {
  expect(() => compileRedactPaths(['a.b.c'])).toThrow('unsupported path "a.b.c"');
  expect(() => compileRedactPaths(['a[0]'])).toThrow('unsupported path');
  expect(() => compileRedactPaths(['*.*'])).toThrow('unsupported path');
});
