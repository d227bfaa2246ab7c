/**
 * Censoring secrets out of log lines, as pino's `redact` option does for the
 * paths this project uses — `key` (a top-level key) and `parent.key` or
 * `*.key` (a key of a top-level object) — with the same censor, at a
 * fraction of the cost.
 *
 * Why not pino's own `redact`: with a path starting with `*`, pino runs its
 * redactor (@pinojs/redact) on every top-level value of every line, parsing
 * the paths again and cloning the value each time: 10–13 µs per line on the
 * 2-core bench machine, about as much as the rest of the line (measured
 * 2026-11-25, docs/benchmarks.md "CPU per call"). Here a line without a
 * secret costs a walk of its keys and comes out untouched; a line with one
 * comes out as a censored copy (the caller's objects are never changed).
 */

/** pino's default censor, so a redacted line reads as it did with `redact`. */
export const REDACTED = '[Redacted]';

interface CompiledPaths {
  /** Keys censored wherever they appear at the top level. */
  top: ReadonlySet<string>;
  /** Keys censored inside any top-level object (`*.key`). */
  anyParent: ReadonlySet<string>;
  /** Keys censored inside one top-level object (`parent.key`). */
  byParent: ReadonlyMap<string, ReadonlySet<string>>;
}

const KEY = /^[A-Za-z_$][\w$]*$/;

/** Compiles the paths once; a path of another shape is refused at start rather than silently not applied. */
export function compileRedactPaths(paths: readonly string[]): CompiledPaths {
  const top = new Set<string>();
  const anyParent = new Set<string>();
  const byParent = new Map<string, Set<string>>();
  for (const path of paths) {
    const parts = path.split('.');
    if (parts.length === 1 && KEY.test(path)) top.add(path);
    else if (parts.length === 2 && parts[0] === '*' && KEY.test(parts[1]!)) anyParent.add(parts[1]!);
    else if (parts.length === 2 && KEY.test(parts[0]!) && KEY.test(parts[1]!)) {
      byParent.set(parts[0]!, (byParent.get(parts[0]!) ?? new Set()).add(parts[1]!));
    } else throw new Error(`log redaction: unsupported path "${path}" (use key, parent.key or *.key)`);
  }
  return { top, anyParent, byParent };
}

/**
 * A function that returns `fields` itself when it holds none of the paths,
 * else a copy with each present one replaced by the censor. Errors (the `err`
 * of a line) are checked on their own enumerable properties, which is what
 * pino's serializer copies into the line.
 */
export function redactor(paths: readonly string[]): <T extends Record<string, unknown>>(fields: T) => T {
  const compiled = compileRedactPaths(paths);
  return (fields) => {
    let copy: Record<string, unknown> | null = null;
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      if (compiled.top.has(key)) {
        copy ??= { ...fields };
        copy[key] = REDACTED;
        continue;
      }
      const value = fields[key];
      if (typeof value !== 'object' || value === null) continue;
      const censored = censorChildren(value as Record<string, unknown>, compiled, compiled.byParent.get(key));
      if (censored !== value) {
        copy ??= { ...fields };
        copy[key] = censored;
      }
    }
    return (copy ?? fields) as typeof fields;
  };
}

/** `value` itself, or a copy with its censored keys replaced. */
function censorChildren(
  value: Record<string, unknown>,
  compiled: CompiledPaths,
  ofThisParent: ReadonlySet<string> | undefined,
): unknown {
  let copy: Record<string, unknown> | null = null;
  for (const child of Object.keys(value)) {
    if (!compiled.anyParent.has(child) && !ofThisParent?.has(child)) continue;
    copy ??= copyOf(value);
    Object.defineProperty(copy, child, { value: REDACTED, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

/**
 * A copy to censor: an array or a plain object as such; anything else (an
 * Error) keeps its prototype, and its own properties as values read from it
 * (V8's `stack` is an accessor that only works on the original).
 */
function copyOf(value: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(value)) return [...value] as unknown as Record<string, unknown>;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return { ...value };
  const copy = Object.create(prototype as object) as Record<string, unknown>;
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(value))) {
    const { enumerable } = descriptor;
    Object.defineProperty(copy, key, { value: value[key], enumerable, writable: true, configurable: true });
  }
  return copy;
}
