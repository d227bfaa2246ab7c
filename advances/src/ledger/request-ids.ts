import { v5 as uuidv5 } from 'uuid';

// A fixed namespace of our own: the ids below are UUIDv5 of a name in it, so
// the same advance (and payment number) always yields the same request id.
const ADVANCES_NAMESPACE = '5f0d6a52-3b8e-4c1f-9a43-2d1c0e7b8a61';

/**
 * The ledger request id of an advance's disbursement. Every retry of the
 * disbursement asks the ledger with this id, so the money is credited once and
 * a retry learns the outcome of the first try.
 */
export function disbursementRequestId(advanceId: string): string {
  return uuidv5(`advance/${advanceId}/disbursement`, ADVANCES_NAMESPACE);
}

/** The ledger request id of payment `number` of an advance (same reasoning). */
export function paymentRequestId(advanceId: string, number: number): string {
  return uuidv5(`advance/${advanceId}/payment/${number}`, ADVANCES_NAMESPACE);
}
