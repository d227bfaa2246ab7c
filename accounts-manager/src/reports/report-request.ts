import type { ListTransactionsRequest } from '@alfabet/proto/accounts/v1';
import { invalidArgument } from '@alfabet/service-kit/field-error';
import { optionalUuid, requirePageSize } from '@alfabet/service-kit/field-validation';
import { microsOfTimestamp, optionalTimestamp, type ProtoTimestamp } from '@alfabet/service-kit/timestamps';
import type { ReportTokens } from './report-tokens.js';
import { isoOfMicros, totalPagesOf, type PageCursor, type ReportFilter, type ReportSnapshot } from './report-types.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** A listing with no start_time shows the last 5 days (DESIGN.md §3). */
export const DEFAULT_REPORT_SPAN_MS = 5 * 24 * 3600 * 1000;
/**
 * A start_time this much older than now − REPORT_WINDOW is still accepted, so
 * a client that computes "now − window" itself is not refused for the
 * milliseconds its request spent in flight or a slightly fast clock.
 */
export const START_TIME_GRACE_MS = 60_000;

/** Where a listing begins. */
export type ListingStart =
  | { from: 'new'; filter: ReportFilter; pageSize: number }
  | { from: 'snapshot'; snapshot: ReportSnapshot; page: number }
  | { from: 'page'; snapshot: ReportSnapshot; cursor: PageCursor };

export interface ReportPolicy {
  windowMs: number;
  tokens: ReportTokens;
  now: () => number;
}

/**
 * Validates a ListTransactions request and works out where its stream starts:
 * a new snapshot, a page of an earlier snapshot, or the page after a
 * page_token. Filters sent along with a token must be the ones it was made
 * for (AIP-158): a token never shows anything its own filters would not.
 */
export function parseListingRequest(request: ListTransactionsRequest, policy: ReportPolicy): ListingStart {
  if (request.page < 0) throw invalidArgument('page', `must be 1 or more (0 for the first page), got ${request.page}`);
  const pageSize =
    request.pageSize === 0 ? 0 : requirePageSize('page_size', request.pageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const accountId = optionalUuid('account_id', request.accountId);
  const startTime = optionalTime('start_time', request.startTime);
  const endTime = optionalTime('end_time', request.endTime);

  if (request.pageToken) {
    if (request.snapshotToken)
      throw invalidArgument('snapshot_token', 'give either page_token or snapshot_token, not both');
    if (request.page > 0)
      throw invalidArgument('page', 'cannot be combined with page_token (the token says which page is next)');
    const { snapshot, cursor } = policy.tokens.openPage(request.pageToken);
    assertSameListing('page_token', snapshot, { pageSize, accountId, startTime, endTime });
    return { from: 'page', snapshot, cursor };
  }
  if (request.snapshotToken) {
    const snapshot = policy.tokens.openSnapshot(request.snapshotToken);
    assertSameListing('snapshot_token', snapshot, { pageSize, accountId, startTime, endTime });
    const page = request.page || 1;
    const totalPages = totalPagesOf(snapshot);
    if (page > Math.max(totalPages, 1)) {
      throw invalidArgument('page', `must be between 1 and ${totalPages} for this snapshot, got ${page}`);
    }
    return { from: 'snapshot', snapshot, page };
  }
  if (request.page > 0) throw invalidArgument('page', 'needs the snapshot_token of the listing it is a page of');

  const nowUs = BigInt(policy.now()) * 1000n;
  const earliestUs = nowUs - BigInt(policy.windowMs) * 1000n;
  const startUs = startTime ?? nowUs - BigInt(Math.min(DEFAULT_REPORT_SPAN_MS, policy.windowMs)) * 1000n;
  if (startUs < earliestUs - BigInt(START_TIME_GRACE_MS) * 1000n) {
    throw invalidArgument(
      'start_time',
      `must not be earlier than now − REPORT_WINDOW (${isoOfMicros(earliestUs)}), got ${isoOfMicros(startUs)}`,
    );
  }
  if (endTime !== null && endTime <= startUs) {
    throw invalidArgument(
      'end_time',
      `must be after start_time (${isoOfMicros(startUs)}), got ${isoOfMicros(endTime)}`,
    );
  }
  return { from: 'new', filter: { startUs, endUs: endTime, accountId }, pageSize: pageSize || DEFAULT_PAGE_SIZE };
}

/** A Timestamp field: absent, or a valid instant in microseconds (the rows' precision). */
function optionalTime(field: string, value: ProtoTimestamp | undefined): bigint | null {
  const timestamp = optionalTimestamp(field, value);
  return timestamp && microsOfTimestamp(timestamp);
}

interface RequestedListing {
  pageSize: number;
  accountId: string | null;
  startTime: bigint | null;
  endTime: bigint | null;
}

function assertSameListing(field: string, snapshot: ReportSnapshot, requested: RequestedListing): void {
  const differs = (name: string) =>
    invalidArgument(name, `differs from the listing ${field} was made for; send the same filters or none`);
  if (requested.pageSize !== 0 && requested.pageSize !== snapshot.pageSize) throw differs('page_size');
  if (requested.accountId !== null && requested.accountId !== snapshot.filter.accountId) throw differs('account_id');
  if (requested.startTime !== null && requested.startTime !== snapshot.filter.startUs) throw differs('start_time');
  if (requested.endTime !== null && requested.endTime !== snapshot.filter.endUs) throw differs('end_time');
}
