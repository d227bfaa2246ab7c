import { invalidArgument } from './field-error.js';

/**
 * google.protobuf.Timestamp as the generated code holds it (ts-proto with
 * useDate=false, forceLong=bigint): the wire's own seconds and nanos, so the
 * database's microseconds reach a client intact (a JavaScript Date holds
 * milliseconds) and a request's nanos can be checked rather than silently
 * normalised.
 */
export interface ProtoTimestamp {
  seconds: bigint;
  nanos: number;
}

/** The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z … 9999-12-31T23:59:59.999999999Z. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
const NANOS_PER_SECOND = 1_000_000_000;

/** Microseconds since the epoch (PostgreSQL's precision) → Timestamp. */
export function timestampOfMicros(micros: bigint): ProtoTimestamp {
  const seconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
  return { seconds, nanos: Number(micros - seconds * 1_000_000n) * 1000 };
}

/** A Date (milliseconds) → Timestamp. */
export function timestampOfDate(date: Date): ProtoTimestamp {
  return timestampOfMicros(BigInt(date.getTime()) * 1000n);
}

/**
 * PostgreSQL's exact UTC text of an instant, `YYYY-MM-DDTHH:MM:SS.ffffffZ`
 * (what `to_char(… AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` gives) → Timestamp.
 */
export function timestampOfExactText(text: string): ProtoTimestamp {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z$/.exec(text);
  if (!match) throw new Error(`not an exact UTC time: ${text}`);
  const seconds = BigInt(Date.parse(`${match[1]}Z`) / 1000);
  return { seconds, nanos: Number(match[2]) * 1000 };
}

/**
 * A valid Timestamp → microseconds since the epoch, rounded up to the next
 * microsecond: rows are stored to the microsecond, so an inclusive start or an
 * exclusive end between two microseconds selects exactly what the exact
 * instant would.
 */
export function microsOfTimestamp(timestamp: ProtoTimestamp): bigint {
  return timestamp.seconds * 1_000_000n + BigInt(Math.ceil(timestamp.nanos / 1000));
}

/** A Timestamp → Date, to the millisecond (for people and clocks; not for ordering). */
export function dateOfTimestamp(timestamp: ProtoTimestamp): Date {
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000));
}

/**
 * An optional Timestamp field of a request: absent, or a valid Timestamp —
 * `nanos` in 0 … 999 999 999 and `seconds` within years 0001 … 9999, as
 * google/protobuf/timestamp.proto defines it. Anything else is
 * INVALID_ARGUMENT naming the field; it is never normalised into another instant.
 */
export function optionalTimestamp(field: string, value: ProtoTimestamp | undefined): ProtoTimestamp | null {
  if (value === undefined) return null;
  if (!Number.isInteger(value.nanos) || value.nanos < 0 || value.nanos >= NANOS_PER_SECOND) {
    throw invalidArgument(field, `nanos must be between 0 and 999999999, got ${value.nanos}`);
  }
  if (value.seconds < MIN_SECONDS || value.seconds > MAX_SECONDS) {
    throw invalidArgument(
      field,
      `must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, got ${value.seconds} s`,
    );
  }
  return value;
}
