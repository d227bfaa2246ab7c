import type { handleUnaryCall } from '@grpc/grpc-js';
import {
  AdvanceStatus,
  type AdvancesServiceServer,
  type GetAdvanceRequest,
  type GetAdvanceResponse,
  type ListAdvancesRequest,
  type ListAdvancesResponse,
  type ListReconciliationFindingsRequest,
  type ListReconciliationFindingsResponse,
  type RequestAdvanceRequest,
  type RequestAdvanceResponse,
} from '@alfabet/proto/advances/v1';
import { invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import { optionalUuid, requirePageSize, requireUuid } from '@alfabet/service-kit/field-validation';
import { currentRequestContext } from '@alfabet/service-kit/request-context';
import { unary as unaryHandler } from '@alfabet/service-kit/service-errors';
import { findAdvance, listAdvances } from '../db/advance-store.js';
import { listFindings } from '../db/findings-store.js';
import { ADVANCE_STATUS_NAME_BY_VALUE, toAdvance, toFinding } from './mapping.js';
import { decodePageToken, encodePageToken, type PageCursor, type PageFilter } from './page-token.js';
import { requestAdvance, type RequestAdvanceDeps } from './request-advance.js';

const PAGE_SIZE_DEFAULT = 50;
const PAGE_SIZE_MAX = 500;
const STATUS_NAMES = [...ADVANCE_STATUS_NAME_BY_VALUE.keys()].map((value) => AdvanceStatus[value]).join(', ');

/** A unary handler whose errors become gRPC statuses naming "the advances" database. */
function unary<Req, Res>(
  deps: RequestAdvanceDeps,
  method: string,
  handler: (request: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return unaryHandler(deps.log, method, 'the advances', handler);
}

/** A page of `rows` (fetched one over `pageSize`: the extra row tells whether another page follows) and its next token. */
function pageOf<T>(
  rows: T[],
  pageSize: number,
  filter: PageFilter,
  cursorOf: (row: T) => PageCursor,
): { page: T[]; nextPageToken: string } {
  const page = rows.slice(0, pageSize);
  const last = page.at(-1);
  return {
    page,
    nextPageToken: rows.length > pageSize && last ? encodePageToken(filter, pageSize, cursorOf(last)) : '',
  };
}

/** The AdvancesService handlers: validate, then read or act. Bad input stores nothing. */
export function advancesService(deps: RequestAdvanceDeps): AdvancesServiceServer {
  return {
    requestAdvance: unary<RequestAdvanceRequest, RequestAdvanceResponse>(deps, 'RequestAdvance', async (request) => {
      const requestId = optionalUuid('request_id', request.requestId);
      const accountId = requireUuid('account_id', request.accountId);
      if (request.amount <= 0n)
        throw invalidArgument('amount', `must be a positive number of minor units, got ${request.amount}`);
      const advance = await requestAdvance(deps, {
        requestId,
        accountId,
        amount: request.amount,
        correlationId: currentRequestContext()?.correlationId ?? `request-advance/${requestId ?? 'anonymous'}`,
      });
      return { advance: toAdvance(advance) };
    }),

    getAdvance: unary<GetAdvanceRequest, GetAdvanceResponse>(deps, 'GetAdvance', async (request) => {
      const advanceId = requireUuid('advance_id', request.advanceId);
      const advance = await findAdvance(deps.em, advanceId);
      if (!advance) throw notFound('advance_id', `no advance ${advanceId}`);
      return { advance: toAdvance(advance) };
    }),

    listAdvances: unary<ListAdvancesRequest, ListAdvancesResponse>(deps, 'ListAdvances', async (request) => {
      const accountId = optionalUuid('account_id', request.accountId);
      let status = null;
      if (request.status !== AdvanceStatus.ADVANCE_STATUS_UNSPECIFIED) {
        status = ADVANCE_STATUS_NAME_BY_VALUE.get(request.status) ?? null;
        if (!status)
          throw invalidArgument('status', `must be one of ${STATUS_NAMES} (or unset for all), got ${request.status}`);
      }
      const pageSize = requirePageSize('page_size', request.pageSize, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
      const filter = { accountId, status };
      const after = request.pageToken ? decodePageToken(request.pageToken, { ...filter }, pageSize) : null;
      const { page, nextPageToken } = pageOf(
        await listAdvances(deps.em, filter, after, pageSize + 1),
        pageSize,
        { ...filter },
        (advance) => ({ createTime: advance.createTimeExact, id: advance.advanceId }),
      );
      return { advances: page.map(toAdvance), nextPageToken };
    }),

    listReconciliationFindings: unary<ListReconciliationFindingsRequest, ListReconciliationFindingsResponse>(
      deps,
      'ListReconciliationFindings',
      async (request) => {
        const filter = { advanceId: optionalUuid('advance_id', request.advanceId), openOnly: request.openOnly };
        const pageSize = requirePageSize('page_size', request.pageSize, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
        const after = request.pageToken ? decodePageToken(request.pageToken, filter, pageSize) : null;
        const { page, nextPageToken } = pageOf(
          await listFindings(deps.em, filter, after, pageSize + 1),
          pageSize,
          filter,
          (finding) => ({ createTime: finding.createTimeExact, id: finding.findingId }),
        );
        return { findings: page.map(toFinding), nextPageToken };
      },
    ),
  };
}
