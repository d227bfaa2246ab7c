// A lean gRPC client for load generation: unary calls framed by hand over
// Node's own HTTP/2, one session per client (bench/ledger-clients.mjs gives
// each 32 callers one), the messages encoded and decoded by the generated
// code. It does what grpc-js does on the wire for a unary call — POST,
// `application/grpc`, a 5-byte length prefix, the status in the trailers — without grpc-js's per-call machinery (channels, filters,
// interceptors, metadata objects), the way pgbench's C client carries no
// driver overhead. It answers like grpc-js: a response, or an Error whose
// `code` is the gRPC status and whose message is the server's.
import { connect } from 'node:http2';
import { AccountsServiceService } from '@alfabet/proto/accounts/v1';
import { callError, frame, statusError, UNAVAILABLE, UNKNOWN } from './h2-grpc.mjs';

export class H2LedgerClient {
  #session;
  constructor(address) {
    this.#session = connect(`http://${address}`);
    // A session that fails fails its calls (each stream errors); the process must not.
    this.#session.on('error', () => {});
  }

  call(method, request, deadlineMs) {
    const definition = AccountsServiceService[method];
    return new Promise((resolve, reject) => {
      const stream = this.#session.request({
        ':method': 'POST',
        ':path': definition.path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${deadlineMs}m`,
      });
      const chunks = [];
      let headers = {};
      let trailers = {};
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('error', (error) => reject(callError(UNAVAILABLE, error.message)));
      let ended = false;
      // Closed without an end (reset by the server): no answer. After an end there is nothing to say, and
      // no Error is made (capturing its stack was a tenth of this client's CPU under load).
      stream.on('close', () => {
        if (!ended) reject(callError(UNAVAILABLE, `stream closed (code ${stream.rstCode})`));
      });
      stream.on('end', () => {
        ended = true;
        const failed = statusError(headers, trailers);
        if (failed) return reject(failed);
        try {
          const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          resolve(definition.responseDeserialize(body.subarray(5, 5 + body.readUInt32BE(1))));
        } catch (error) {
          reject(callError(UNKNOWN, `malformed answer: ${error.message}`));
        }
      });
      stream.end(frame(definition.requestSerialize(request)));
    });
  }

  close() {
    this.#session.close();
  }
}
