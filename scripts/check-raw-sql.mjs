#!/usr/bin/env node
// Raw SQL only where a file says why: in the services' sources, a `.query(…)` call (on the pg
// pool, a client, anything) outside a file named *.sql.ts or a migration is an error. The tables
// are read and written through the EntityManager, their entities being their one description;
// each *.sql.ts file gives the reason and the measured figure for its raw SQL (docs/schema.md).
// Run by `npm run lint:deps` (scripts/run.sh), so by CI; test/raw-sql-check.test.ts proves it fails.
// Reads the syntax tree (TypeScript's parser), so a comment or a string naming .query( is no call.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const CHECKED_DIRECTORIES = ['accounts-manager/src', 'advances/src'];

/** Where raw SQL may be: a *.sql.ts file, or a migration (DDL by hand, once). */
export function mayHoldRawSql(path) {
  return path.endsWith('.sql.ts') || /(^|\/)db\/migrations\//.test(path);
}

/** Every `.query(…)` call in `source` as 1-based line numbers. */
export function queryCallLines(fileName, source) {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines = [];
  const visit = (node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'query'
    ) {
      lines.push(file.getLineAndCharacterOfPosition(node.getStart()).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return lines;
}

function* typeScriptFiles(directory) {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* typeScriptFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

/** The violations under `root`: "path:line" of each raw `.query(…)` outside a *.sql.ts file. */
export function rawSqlViolations(root, directories = CHECKED_DIRECTORIES) {
  const violations = [];
  for (const directory of directories) {
    for (const path of typeScriptFiles(join(root, directory))) {
      const name = relative(root, path);
      if (mayHoldRawSql(name)) continue;
      for (const line of queryCallLines(name, readFileSync(path, 'utf8'))) violations.push(`${name}:${line}`);
    }
  }
  return violations;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? process.cwd();
  const violations = rawSqlViolations(root);
  if (violations.length > 0) {
    for (const violation of violations) {
      console.error(
        `${violation}: raw SQL belongs in a *.sql.ts file with its why and bench figure; use the EntityManager here (docs/schema.md)`,
      );
    }
    process.exit(1);
  }
  console.log(`raw SQL check: no .query() call outside *.sql.ts files (${CHECKED_DIRECTORIES.join(', ')})`);
}
