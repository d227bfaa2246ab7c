import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { queryCallLines, rawSqlViolations } from '../scripts/check-raw-sql.mjs';

/**
 * scripts/check-raw-sql.mjs (run by `npm run lint:deps`, so by CI): raw SQL — a `.query(…)` call —
 * only in *.sql.ts files and migrations. The real tree passes; a stand-in tree with a raw query in
 * an ordinary source file makes the script exit 1 naming it.
 */
const SCRIPT = new URL('../scripts/check-raw-sql.mjs', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'raw-sql-check-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(scratch, path)), { recursive: true });
  writeFileSync(join(scratch, path), text);
}

test('the services have no raw query outside *.sql.ts files', () => {
  expect(rawSqlViolations(ROOT)).toEqual([]);
  expect(spawnSync(process.execPath, [SCRIPT, ROOT]).status).toBe(0);
});

test('a .query() call in an ordinary source file fails the check, naming the file and line', () => {
  write('accounts-manager/src/ok.sql.ts', "await pool.query('SELECT 1');\n");
  write('accounts-manager/src/db/migrations/M1.ts', "await client.query('CREATE TABLE t ()');\n");
  write('advances/src/clean.ts', "// pool.query('SELECT 1') in a comment is no call\nconst s = 'x.query(1)';\n");
  write('advances/src/db/store.ts', "export {};\nconst rows = await pool.query<{ n: number }>('SELECT 1');\n");
  expect(rawSqlViolations(scratch)).toEqual(['advances/src/db/store.ts:2']);
  const run = spawnSync(process.execPath, [SCRIPT, scratch], { encoding: 'utf8' });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('advances/src/db/store.ts:2: raw SQL belongs in a *.sql.ts file');
});

test('any receiver counts: a client, a transaction, a chained call', () => {
  expect(queryCallLines('x.ts', 'a.query(1);\nthis.client.query(2);\nf().query(3);\nquery(4);\n')).toEqual([1, 2, 3]);
});
