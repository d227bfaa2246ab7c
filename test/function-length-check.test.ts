import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { functionLengthViolations, longFunctions } from '../scripts/check-function-length.mjs';

/**
 * scripts/check-function-length.mjs (run by `npm run lint`, so by CI): no function over 70 physical
 * lines, comments and blank lines included. The real tree passes; a stand-in tree fails, naming
 * the function, while a long migration and a long test are not its business.
 */
const SCRIPT = new URL('../scripts/check-function-length.mjs', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'function-length-check-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(scratch, path)), { recursive: true });
  writeFileSync(join(scratch, path), text);
}

/** A function of exactly `lines` physical lines, most of them comments (which Biome's rule skips). */
const functionOf = (name: string, lines: number) =>
  `export function ${name}(): number {\n${'  // why\n'.repeat(lines - 3)}  return 1;\n}\n`;

test('every function of the real tree is at most 70 lines', () => {
  expect(functionLengthViolations(ROOT)).toEqual([]);
  expect(spawnSync(process.execPath, [SCRIPT, ROOT]).status).toBe(0);
});

test('counts physical lines, comments included: 70 pass, 71 fail', () => {
  expect(longFunctions('a.ts', functionOf('fits', 70))).toEqual([]);
  expect(longFunctions('a.ts', functionOf('long', 71))).toEqual([{ line: 1, lines: 71, name: 'long' }]);
  const arrow = `const handler = async () => {\n${'  step();\n'.repeat(70)}};\n`;
  expect(longFunctions('b.mjs', arrow)).toEqual([{ line: 1, lines: 72, name: '(anonymous)' }]);
});

test('a long function in a source file fails the check, naming it; migrations and tests are exempt', () => {
  write('advances/src/domain/long.ts', `export const x = 1;\n${functionOf('tooLong', 80)}`);
  write('advances/src/db/migrations/Migration1.ts', functionOf('up', 200));
  write('advances/test/story.test.ts', functionOf('scenario', 200));
  write('bench/fine.mjs', functionOf('short', 10));
  expect(functionLengthViolations(scratch)).toEqual(['advances/src/domain/long.ts:2 tooLong (80 lines)']);
  const run = spawnSync(process.execPath, [SCRIPT, scratch], { encoding: 'utf8' });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('advances/src/domain/long.ts:2 tooLong (80 lines): over 70 lines');
});
