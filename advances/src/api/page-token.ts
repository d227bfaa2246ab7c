import { invalidArgument } from '@alfabet/proto/field-error';
import type { AdvanceFilter } from '../db/advance-store.js';

/**
 * ListAdvances' page token: where the previous page ended (keyset cursor) and
 * the filters and page size it was made for. It holds nothing the caller could
 * not ask for directly, so it is not signed, but every field is checked: a
 * token that does not parse, or that was made for other filters, is
 * INVALID_ARGUMENT naming `page_token`.
 */
export interface AdvancePageToken {
  filter: AdvanceFilter;
  pageSize: number;
  after: { createTime: string; advanceId: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATUSES = new Set(['DISBURSING', 'ACTIVE', 'OVERDUE', 'REPAID', 'DISBURSEMENT_FAILED']);
const TOKEN_LENGTH_MAX = 512;

export function encodePageToken(token: AdvancePageToken): string {
  const body = { v: 1, a: token.filter.accountId, s: token.filter.status, n: token.pageSize, t: token.after.createTime, i: token.after.advanceId };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodePageToken(text: string, filter: AdvanceFilter, pageSize: number): AdvancePageToken {
  const bad = (why: string) => invalidArgument('page_token', why);
  if (text.length > TOKEN_LENGTH_MAX || !/^[A-Za-z0-9_-]+$/.test(text)) throw bad('is not a token this service issued');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('is not a token this service issued');
  }
  const { v, a, s, n, t, i } = body ?? {};
  const valid = v === 1
    && (a === null || (typeof a === 'string' && UUID.test(a)))
    && (s === null || (typeof s === 'string' && STATUSES.has(s)))
    && typeof n === 'number' && Number.isInteger(n) && n > 0
    && typeof t === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(t) && !Number.isNaN(Date.parse(t))
    && typeof i === 'string' && UUID.test(i);
  if (!valid) throw bad('is not a token this service issued');
  if (a !== filter.accountId || s !== filter.status || n !== pageSize) {
    throw bad('was made for other account_id, status or page_size filters; repeat the request that returned it');
  }
  return { filter, pageSize, after: { createTime: t, advanceId: i } };
}
