import { invalidArgument } from '../ledger/errors.js';

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
export function requireEnum<T extends number, R>(field: string, value: T, allowed: ReadonlyMap<T, R>, names: string): R {
  const mapped = allowed.get(value);
  if (mapped === undefined) throw invalidArgument(field, `must be one of ${names}, got ${value}`);
  return mapped;
}

function clip(value: string): string {
  return value.length > 64 ? value.slice(0, 64) + '…' : value;
}
