#!/usr/bin/env node
// Functions of at most 70 lines, counted as TIGER_STYLE counts them: every physical line from the
// signature to the closing brace, blank and comment lines included. Biome's
// noExcessiveLinesPerFunction (biome.jsonc) counts only the body's lines that hold code, so a
// function can pass it at 80–95 physical lines; this check closes that gap. Same files as that
// rule: the services' and the kit's sources (migrations excepted: each is one DDL script), the
// bench and the scripts. Run by `npm run lint` (scripts/run.sh), so by CI;
// test/function-length-check.test.ts proves it fails.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_LINES = 70;
const SOURCE_DIRECTORIES = ['proto/src', 'service-kit/src', 'accounts-manager/src', 'advances/src'];
const SCRIPT_DIRECTORIES = ['bench', 'scripts'];

/** Each function in `source` longer than `maxLines` physical lines: its first line, length and name. */
export function longFunctions(fileName, source, maxLines = MAX_LINES) {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = file.getLineAndCharacterOfPosition(node.getStart()).line;
      const lines = file.getLineAndCharacterOfPosition(node.end).line - first + 1;
      if (lines > maxLines) found.push({ line: first + 1, lines, name: node.name?.getText() ?? '(anonymous)' });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function* filesUnder(directory, extension) {
  let entries;
  try {
    entries = readdirSync(directory, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory() && entry.name !== 'migrations' && entry.name !== 'results')
      yield* filesUnder(path, extension);
    else if (entry.isFile() && entry.name.endsWith(extension) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

/** The violations under `root`, as "path:line name (N lines)". */
export function functionLengthViolations(root) {
  const files = [
    ...SOURCE_DIRECTORIES.flatMap((directory) => [...filesUnder(join(root, directory), '.ts')]),
    ...SCRIPT_DIRECTORIES.flatMap((directory) => [...filesUnder(join(root, directory), '.mjs')]),
  ];
  return files.flatMap((path) =>
    longFunctions(path, readFileSync(path, 'utf8')).map(
      ({ line, lines, name }) => `${relative(root, path)}:${line} ${name} (${lines} lines)`,
    ),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? process.cwd();
  const violations = functionLengthViolations(root);
  for (const violation of violations)
    console.error(`${violation}: over ${MAX_LINES} lines; split it into functions with one job each`);
  if (violations.length > 0) process.exit(1);
  console.log(`function length check: every function is at most ${MAX_LINES} lines`);
}
