import type { ServerWritableStream } from '@grpc/grpc-js';
import { AccountsServiceService, type ListTransactionsRequest } from '@alfabet/proto/accounts/v1';
import type pg from 'pg';
import { invalidArgument, notFound } from '@alfabet/service-kit/field-error';
import type { PageCursor } from './report-page-wire.js';
import { ReportPageReader } from './report-page-reader.js';
import type { Logger } from '../logger.js';
import { takeSnapshot, type PagePosition } from '../db/report-queries.sql.js';
import { parseListingRequest, type ReportPolicy } from '../reports/report-request.js';
import type { ReportTokens } from '../reports/report-tokens.js';
import { totalPagesOf, type ReportFilter, type ReportSnapshot } from '../reports/report-types.js';
import { seesNoMoreThan } from '../reports/snapshots.js';
import type { EpochOrigin } from '../db/ledger-epochs.sql.js';

export interface ReportDeps {
  /** The posting pool: one account's listings read through it, planned at every execution. */
  pool: pg.Pool;
  /** Whole-window listings' own connections, which plan each statement once (db/report-pool.ts). */
  windowPool: pg.Pool;
  tokens: ReportTokens;
  /** Promises, before each new snapshot, that this server's tokens are accounted for (db/report-horizon.sql.ts). */
  issuer: { beforeIssuing(): Promise<void> };
  /** Where a token's ledger epoch stands in this database's history, null if nowhere (db/ledger-epochs.sql.ts). */
  epochs: { origin(epoch: number, cluster: string | null): Promise<EpochOrigin | null> };
  windowMs: number;
  log: Logger;
  /** Counts every page read from the database (a client that is gone stops the reads). */
  pagesFetched: { inc(): void };
  now?: () => number;
}

/** A ListTransactions call whose pages are written as bytes already encoded (ACCOUNTS_SERVICE_DEFINITION). */
export type ReportCall = ServerWritableStream<ListTransactionsRequest, Buffer>;

/**
 * The service as this server binds it: ListTransactions' pages go out as the
 * bytes report-page-wire.ts wrote (the generated serializer would decode
 * nothing and encode them again). The contract on the wire is unchanged.
 */
export const ACCOUNTS_SERVICE_DEFINITION = {
  ...AccountsServiceService,
  listTransactions: { ...AccountsServiceService.listTransactions, responseSerialize: (page: Buffer) => page },
};

/**
 * ListTransactions: streams one message per page from the listing's start to
 * its last page. Pages are read at most one read ahead of what the client can
 * take (gRPC flow control), and ./report-page-reader.ts bounds a read (16 000
 * rows, 4 MiB), so memory stays within a read's pages whatever the report's
 * size, and reading stops as soon as the client cancels or its deadline passes.
 */
export function listTransactions(deps: ReportDeps): (call: ReportCall) => Promise<void> {
  const policy: ReportPolicy = { windowMs: deps.windowMs, tokens: deps.tokens, now: deps.now ?? Date.now };
  return async (call) => {
    const start = parseListingRequest(call.request, policy);

    let snapshot: ReportSnapshot;
    let page: number;
    let position: PagePosition;
    if (start.from === 'new') {
      await deps.issuer.beforeIssuing();
      const taken = await takeSnapshot(poolFor(deps, start.filter), start.filter);
      if (!taken) throw notFound('account_id', `no account ${start.filter.accountId}`);
      snapshot = { filter: start.filter, pageSize: start.pageSize, takenAtMs: policy.now(), ...taken };
      page = 1;
      position = { offset: 0 };
    } else if (start.from === 'snapshot') {
      await assertAnswerableHere(deps, 'snapshot_token', start.snapshot);
      snapshot = start.snapshot;
      page = start.page;
      position = { offset: (page - 1) * snapshot.pageSize };
    } else {
      await assertAnswerableHere(deps, 'page_token', start.snapshot);
      snapshot = start.snapshot;
      page = start.cursor.page;
      position = {
        after: { createTimeUs: start.cursor.afterCreateTimeUs, transactionId: start.cursor.afterTransactionId },
      };
    }

    deps.log.debug(
      { page, totalPages: totalPagesOf(snapshot), totalSize: snapshot.totalSize.toString(), from: start.from },
      'report listing',
    );
    await streamPages(call, deps, snapshot, page, position);
  };
}

/**
 * Streams the pages from `page` to the last, as ReportPageReader reads them
 * ahead (./report-page-reader.ts): the database reads the next pages while
 * this one is sent, and at most a read's worth of pages waits in memory. Each
 * page is written as protobuf while its rows arrive (./report-page-wire.ts)
 * and sent as those bytes.
 */
async function streamPages(
  call: ReportCall,
  deps: ReportDeps,
  snapshot: ReportSnapshot,
  firstPage: number,
  position: PagePosition,
): Promise<void> {
  const totalPages = totalPagesOf(snapshot);
  const snapshotToken = deps.tokens.sealSnapshot(snapshot);
  const pool = poolFor(deps, snapshot.filter);
  const pages = new ReportPageReader(pool, snapshot, firstPage, position, deps.pagesFetched);
  try {
    for (let page = firstPage; ; page++) {
      if (call.cancelled) return;
      const written = await pages.next();
      const hasNext = page < totalPages;
      const last = written.lastRow();
      if (hasNext && (!last || written.rows < snapshot.pageSize)) {
        // Rows of the snapshot are gone: only archiving a partition a live token still covers can do that.
        throw new Error(`report snapshot lost rows: page ${page} of ${totalPages} held ${written.rows}`);
      }
      const delivered = await send(
        call,
        written.finish({
          page,
          pageSize: snapshot.pageSize,
          totalSize: snapshot.totalSize,
          totalPages,
          snapshotToken,
          nextPageToken: hasNext ? deps.tokens.sealPage(snapshot, cursorAfter(page + 1, last!)) : '',
        }),
      );
      if (!delivered) return;
      if (!hasNext) break;
    }
    if (!call.cancelled) call.end();
  } finally {
    // A read under way for a client that has gone finishes on its own; its pages and failure are dropped.
    pages.close();
  }
}

/** The connections a listing of `filter` reads through (db/report-pool.ts says why two). */
function poolFor(deps: ReportDeps, filter: ReportFilter): pg.Pool {
  return filter.accountId ? deps.pool : deps.windowPool;
}

/**
 * A token's snapshot is judged by its epoch's xids: that epoch must be one of this database's
 * history (the same database, or one restored from it), not some other ledger's; and when
 * this database was restored from a backup of that epoch, the token must see no transaction
 * the backup did not (one taken on the source after the backup names rows that are not here).
 */
async function assertAnswerableHere(deps: ReportDeps, field: string, snapshot: ReportSnapshot): Promise<void> {
  const origin = await deps.epochs.origin(snapshot.epoch, snapshot.cluster);
  if (!origin) {
    throw invalidArgument(
      field,
      `was taken on a ledger database this one was not restored from (epoch ${snapshot.epoch}); start a new listing`,
    );
  }
  if (origin.restoredSnapshot && !seesNoMoreThan(snapshot.snapshot, origin.restoredSnapshot)) {
    throw invalidArgument(
      field,
      'was taken after the backup this ledger database was restored from, and names transactions the backup ' +
        'does not hold; start a new listing',
    );
  }
}

/** The page token's cursor: page `page` starts after `row`. */
function cursorAfter(page: number, row: PageCursor) {
  return { page, afterCreateTimeUs: row.createTimeUs, afterTransactionId: row.transactionId };
}

/**
 * Writes one message; when the stream's buffer is full, waits until the
 * client has taken some (drain) or is gone (cancelled). False: stop.
 */
function send(call: ReportCall, message: Buffer): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false);
  if (call.write(message)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (delivered: boolean) => () => {
      call.off('drain', onDrain);
      call.off('cancelled', onCancelled);
      resolve(delivered);
    };
    const onDrain = settle(true);
    const onCancelled = settle(false);
    call.once('drain', onDrain);
    call.once('cancelled', onCancelled);
  });
}
