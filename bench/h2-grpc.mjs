// What bench/h2-unary.mjs and bench/h2-report-reader.mjs share: gRPC's framing
// of a message over HTTP/2, and its status as grpc-js reports it.

export const UNKNOWN = 2;
export const UNAVAILABLE = 14;

/** `message` with gRPC's 5-byte prefix: not compressed, then its length. */
export function frame(message) {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

/** An Error as grpc-js gives one: `code` the gRPC status, the message the server's. */
export function callError(code, message) {
  return Object.assign(new Error(message), { code });
}

/**
 * The call's status from its trailers, or from its headers when the answer was
 * "trailers-only" (as a failed call often is): null for OK, else the Error.
 */
export function statusError(headers, trailers) {
  const status = Number(trailers['grpc-status'] ?? headers['grpc-status'] ?? UNKNOWN);
  if (status === 0) return null;
  return callError(status, decodeURIComponent(trailers['grpc-message'] ?? headers['grpc-message'] ?? ''));
}
