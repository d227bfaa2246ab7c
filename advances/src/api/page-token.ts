import { invalidArgument } from '@alfabet/service-kit/field-error';

/**
 * The page token of a list newest first (ListAdvances, ListReconciliationFindings):
 * where the previous page ended (keyset cursor: create_time to the microsecond,
 * then id) and the filters and page size it was made for. It holds nothing the
 * caller could not ask for directly, so it is not signed, but every field is
 * checked: a token that does not parse, or that was made for other filters, is
 * INVALID_ARGUMENT naming `page_token`.
 */
export type PageFilter = Record<string, string | boolean | null>;

export interface PageCursor {
  createTime: string;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EXACT_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const TOKEN_LENGTH_MAX = 512;

export function encodePageToken(filter: PageFilter, pageSize: number, after: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, f: filter, n: pageSize, t: after.createTime, i: after.id })).toString(
    'base64url',
  );
}

/** The cursor of `text`, checked against the filters and page size of the request it came with. */
export function decodePageToken(text: string, filter: PageFilter, pageSize: number): PageCursor {
  const notOurs = () => invalidArgument('page_token', 'is not a token this service issued');
  if (text.length > TOKEN_LENGTH_MAX || !/^[A-Za-z0-9_-]+$/.test(text)) throw notOurs();
  let body: Record<string, unknown> | null;
  try {
    body = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown> | null;
  } catch {
    throw notOurs();
  }
  const { v, f, n, t, i } = body ?? {};
  const valid =
    v === 1 &&
    typeof f === 'object' &&
    f !== null &&
    typeof n === 'number' &&
    Number.isInteger(n) &&
    n > 0 &&
    typeof t === 'string' &&
    EXACT_TIME.test(t) &&
    !Number.isNaN(Date.parse(t)) &&
    typeof i === 'string' &&
    UUID.test(i);
  if (!valid) throw notOurs();
  if (!sameFilter(f as PageFilter, filter) || n !== pageSize) {
    throw invalidArgument(
      'page_token',
      `was made for other ${[...Object.keys(filter), 'page_size'].join(', ')} filters; repeat the request that returned it`,
    );
  }
  return { createTime: t, id: i };
}

function sameFilter(token: PageFilter, request: PageFilter): boolean {
  const keys = Object.keys(request);
  return Object.keys(token).length === keys.length && keys.every((key) => token[key] === request[key]);
}
