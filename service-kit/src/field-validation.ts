import { invalidArgument } from './field-error.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A required UUID field; returned lower-cased so one id has one spelling. */
export function requireUuid(field: string, value: string): string {
  if (!value) throw invalidArgument(field, 'is required (a UUID)');
  if (!UUID.test(value)) throw invalidArgument(field, `must be a UUID, got "${clip(value)}"`);
  return value.toLowerCase();
}

/** An optional UUID field (empty = absent). */
export function optionalUuid(field: string, value: string): string | null {
  return value ? requireUuid(field, value) : null;
}

/** A proto enum field that must hold one of `allowed` (not UNSPECIFIED, not an unknown number). */
export function requireEnum<T extends number, R>(
  field: string,
  value: T,
  allowed: ReadonlyMap<T, R>,
  names: string,
): R {
  const mapped = allowed.get(value);
  if (mapped === undefined) throw invalidArgument(field, `must be one of ${names}, got ${value}`);
  return mapped;
}

/** An amount of minor units: 1 ..= max. */
export function requireAmount(field: string, value: bigint, max: bigint): bigint {
  if (value <= 0n) throw invalidArgument(field, `must be a positive number of minor units, got ${value}`);
  if (value > max) throw invalidArgument(field, `must be at most ${max} minor units, got ${value}`);
  return value;
}

/** A page size: 0 means `fallback`; negative or above `max` is refused. */
export function requirePageSize(field: string, value: number, fallback: number, max: number): number {
  if (value === 0) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw invalidArgument(field, `must be between 1 and ${max} (0 for ${fallback}), got ${value}`);
  return value;
}

/**
 * Free text a person reads (names, descriptions): no control characters.
 * PostgreSQL cannot store NUL at all, and the others have no place in a name
 * or a statement line.
 */
export function requirePlainText(field: string, value: string): string {
  const at = value.search(/[\u0000-\u001f\u007f]/u);
  if (at >= 0)
    throw invalidArgument(
      field,
      `must not contain control characters (U+${value.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')} at ${at})`,
    );
  return value;
}

/** Shortens what a caller sent before it goes into a message or a log line. */
export function clip(value: string): string {
  return value.length > 64 ? value.slice(0, 64) + '…' : value;
}
