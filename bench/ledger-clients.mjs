// The load processes' gRPC clients: one HTTP/2 connection per 32 callers, as a
// pool of client stubs would hold (grpc-js would otherwise share one
// connection among every stub of the process). Two kinds, one interface —
// call(method, request, deadlineMs) → the response or an Error whose `code` is
// the gRPC status; close():
// - "frames" (the default): bench/h2-frames.mjs, HTTP/2 frames written straight onto a socket;
// - "http2": bench/h2-unary.mjs, gRPC framed by hand over node:http2;
// - "grpc-js": the generated client.
import { credentials, Metadata } from '@grpc/grpc-js';
import { AccountsServiceClient } from '@alfabet/proto/accounts/v1';
import { H2FramesLedgerClient } from './h2-frames.mjs';
import { H2LedgerClient } from './h2-unary.mjs';

const CALLERS_PER_CONNECTION = 32;
const LOAD_CLIENTS = ['frames', 'http2', 'grpc-js'];
export const DEFAULT_LOAD_CLIENT = 'frames';

/** The generated grpc-js client (a connection of its own) behind the load clients' interface. */
class GrpcJsLedgerClient {
  #client;
  constructor(address, connection) {
    this.#client = new AccountsServiceClient(address, credentials.createInsecure(), {
      'grpc.channel_pool_id': connection,
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  call(method, request, deadlineMs) {
    return new Promise((resolve, reject) => {
      this.#client[method](request, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  close() {
    this.#client.close();
  }
}

/** Throws unless `kind` names a load client; `what` names where it came from. */
export function assertLoadClient(kind, what = 'load client') {
  if (!LOAD_CLIENTS.includes(kind)) throw new Error(`${what} must be one of ${LOAD_CLIENTS.join(', ')}, not ${kind}`);
}

/** The connections `callers` share, of client kind `kind` (one of LOAD_CLIENTS). */
export function ledgerClients(address, callers, kind = DEFAULT_LOAD_CLIENT) {
  assertLoadClient(kind);
  return Array.from({ length: Math.ceil(callers / CALLERS_PER_CONNECTION) }, (_, connection) =>
    kind === 'frames'
      ? new H2FramesLedgerClient(address)
      : kind === 'http2'
        ? new H2LedgerClient(address)
        : new GrpcJsLedgerClient(address, connection),
  );
}
