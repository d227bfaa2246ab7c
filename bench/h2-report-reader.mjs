// The report benchmark's reader: one ListTransactions stream over Node's own
// HTTP/2, framed by hand as bench/h2-unary.mjs frames unary calls. Each page's
// transactions are counted by walking the message's top-level fields, not
// decoded into objects; the page's own fields (page, total_size, …) are
// decoded by the generated code, and pages must arrive in order.
//
// Why not the generated client: the stream is compared with psql COPY of the
// same rows, whose output the benchmark reads by counting lines. The
// generated client builds every row as a JavaScript object, and on two cores
// that CPU (1–1.6 µs a row) is taken from the service being measured. The
// benchmark still streams the window once through the generated client too
// and prints that rate beside this one (docs/benchmarks.md).
import { connect } from 'node:http2';
import { AccountsServiceService, ListTransactionsResponse } from '@alfabet/proto/accounts/v1';
import { callError, frame, statusError, UNAVAILABLE, UNKNOWN } from './h2-grpc.mjs';

/** ListTransactionsResponse.transactions: field 1, length-delimited. */
const TRANSACTIONS_KEY = (1 << 3) | 2;

/** Streams a whole listing; resolves { rows, pages, totalSize } or rejects with an Error whose `code` is the gRPC status. */
export function readReport(address, request, deadlineMs) {
  const definition = AccountsServiceService.listTransactions;
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.on('error', () => {}); // its stream errors and rejects
    const finish = (error, result) => {
      session.close();
      if (error) reject(error);
      else resolve(result);
    };
    const stream = session.request({
      ':method': 'POST',
      ':path': definition.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${deadlineMs}m`,
    });
    const listing = { rows: 0, pages: 0, totalSize: 0 };
    const messages = new MessageFramer((message) => countPage(listing, message));
    let headers = {};
    let trailers = {};
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk) => {
      try {
        messages.push(chunk);
      } catch (error) {
        stream.close();
        finish(callError(UNKNOWN, `malformed page: ${error.message}`));
      }
    });
    stream.on('error', (error) => finish(callError(UNAVAILABLE, error.message)));
    stream.on('close', () => finish(callError(UNAVAILABLE, `stream closed (code ${stream.rstCode})`)));
    stream.on('end', () => {
      const failed = statusError(headers, trailers);
      if (failed) return finish(failed);
      if (messages.pending()) return finish(callError(UNKNOWN, 'the stream ended inside a message'));
      finish(null, listing);
    });
    stream.end(frame(definition.requestSerialize(request)));
  });
}

/** Adds one page to `listing`: its transactions counted, its own fields decoded and checked. */
function countPage(listing, message) {
  const own = [];
  let at = 0;
  while (at < message.length) {
    const start = at;
    let key;
    [key, at] = readVarint(message, at);
    if (key === TRANSACTIONS_KEY) {
      let length;
      [length, at] = readVarint(message, at);
      at += length;
      listing.rows++;
      continue;
    }
    if ((key & 7) === 0) [, at] = readVarint(message, at);
    else if ((key & 7) === 2) {
      let length;
      [length, at] = readVarint(message, at);
      at += length;
    } else throw new Error(`wire type ${key & 7} at byte ${start}`);
    own.push(message.subarray(start, at));
  }
  if (at !== message.length) throw new Error('a field runs past the message');
  const page = ListTransactionsResponse.decode(Buffer.concat(own));
  if (page.page !== listing.pages + 1 && listing.pages > 0) throw new Error(`page ${page.page} after ${listing.pages}`);
  listing.pages = page.page;
  listing.totalSize = Number(page.totalSize);
}

/** gRPC's length-prefixed messages out of the stream's chunks, each handed over whole. */
class MessageFramer {
  #chunks = [];
  #size = 0;
  #expected = -1;
  constructor(onMessage) {
    this.onMessage = onMessage;
  }

  push(chunk) {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#size < 5) return;
        const prefix = this.#take(5);
        if (prefix[0] !== 0) throw new Error('a compressed message');
        this.#expected = prefix.readUInt32BE(1);
      }
      if (this.#size < this.#expected) return;
      const message = this.#take(this.#expected);
      this.#expected = -1;
      this.onMessage(message);
    }
  }

  pending() {
    return this.#size > 0 || this.#expected >= 0;
  }

  #take(bytes) {
    this.#size -= bytes;
    const first = this.#chunks[0];
    if (first.length >= bytes) {
      if (first.length === bytes) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(bytes);
      return first.subarray(0, bytes);
    }
    const taken = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, bytes - filled);
      chunk.copy(taken, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return taken;
  }
}

function readVarint(bytes, at) {
  let value = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (at >= bytes.length) throw new Error('a varint runs past the message');
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
  throw new Error('a varint longer than 10 bytes');
}
