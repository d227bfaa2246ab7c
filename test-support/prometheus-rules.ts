import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * What the tests of deploy/prometheus/ share: promtool (scripts/toolchain.sh
 * installs it from Debian's prometheus package), the rules of a file, and the
 * metrics and label matchers an expression uses.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

export function rulesOf(path: string): Rule[] {
  return (parse(readFileSync(path, 'utf8')) as RuleFile).groups.flatMap((group) => group.rules);
}

export function promtool(...args: string[]) {
  const run = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (scripts/toolchain.sh installs it): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** Metric names an expression selects: identifiers left once strings, label matchers, grouping clauses, function calls and keywords are taken out. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const keywords = new Set([
    'and',
    'or',
    'unless',
    'bool',
    'offset',
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'inf',
    'nan',
  ]);
  const names = [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((m) => m[1]!);
  return [...new Set(names.filter((name) => !keywords.has(name.toLowerCase())))].sort();
}

export interface LabelMatcher {
  metric: string;
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** The label matchers of every selector in an expression: `foo{a="x", b!~"y|z"}` → two matchers of foo. */
export function labelMatchers(expr: string): LabelMatcher[] {
  return [...expr.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)].flatMap(([, metric, inside]) =>
    [...inside!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, value]) => ({
      metric: metric!,
      label: label!,
      op: op as LabelMatcher['op'],
      value: value!,
    })),
  );
}
