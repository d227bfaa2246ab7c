// The load processes' gRPC clients: one HTTP/2 connection per 32 callers, as a
// pool of client stubs would hold (grpc-js would otherwise share one
// connection among every stub of the process).
import { credentials } from '@grpc/grpc-js';
import { AccountsServiceClient } from '@alfabet/proto/accounts/v1';

const CALLERS_PER_CONNECTION = 32;

export function ledgerClients(address, callers) {
  return Array.from(
    { length: Math.ceil(callers / CALLERS_PER_CONNECTION) },
    (_, i) =>
      new AccountsServiceClient(address, credentials.createInsecure(), {
        'grpc.channel_pool_id': i,
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
}
