// The leanest load client: gRPC unary calls written as HTTP/2 frames straight
// onto a TCP socket (RFC 9113), without node:http2's session and per-stream
// objects. Profiled under Transfer ×32, bench/h2-unary.mjs spent most of its
// CPU in node:http2's stream machinery and the garbage it leaves; on two cores
// that CPU is taken from the service and its PostgreSQL, where pgbench's own
// client (C, libpq) takes next to nothing. Same interface and answers as
// h2-unary.mjs — call(method, request, deadlineMs) → the response, or an Error
// whose `code` is the gRPC status and whose message is the server's — and held
// to grpc-js's answers by test/bench-h2-client.test.ts.
//
// What it does of HTTP/2: the preface and SETTINGS (streams open once the server's
// have come; asking for no HPACK
// dynamic table and no push), flow control both ways (DATA held back until the
// server's windows allow it, and split at its frame size; the server's DATA
// acknowledged with WINDOW_UPDATE), the server's stream limit (calls wait for
// a free stream), PING answered, RST_STREAM and GOAWAY failing the calls they
// end. Request headers are indexed (bench/hpack-request-encoder.mjs);
// response header blocks are decoded by hpack.js — with
// no dynamic table a block's bytes decode the same everywhere, so each
// distinct block is decoded once and remembered.
import { connect } from 'node:net';
import hpack from 'hpack.js';
import { AccountsServiceService } from '@alfabet/proto/accounts/v1';
import { callError, frame, statusError, UNAVAILABLE, UNKNOWN } from './h2-grpc.mjs';
import { RequestHeaderEncoder } from './hpack-request-encoder.mjs';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const [DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION] = [0, 1, 3, 4, 6, 7, 8, 9];
const [END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY] = [0x1, 0x1, 0x4, 0x8, 0x20];
const [HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE] = [1, 2, 3, 4, 5];
const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65_535;
const DECODED_BLOCKS_KEPT = 1_000;

export class H2FramesLedgerClient {
  #socket;
  #authority;
  #requestHeaders = new RequestHeaderEncoder();
  #decodedBlocks = new Map(); // a response header block's bytes (latin1) → its fields
  #streams = new Map(); // stream id → the call in flight on it
  #waiting = []; // calls beyond the server's stream limit
  #nextStreamId = 1;
  #closed = null; // the Error every later call fails with
  #received = Buffer.alloc(0);
  #continued = null; // a HEADERS frame waiting for its CONTINUATION frames
  // No stream opens before the server's SETTINGS: streams past a limit it has not told yet would be refused.
  #peer = { maxStreams: 0, streamWindow: DEFAULT_WINDOW, maxFrame: 16_384 };
  #peerSettingsSeen = false;
  #sendWindow = DEFAULT_WINDOW;
  #unacknowledged = 0; // DATA bytes received and not yet given back with WINDOW_UPDATE
  #corked = false;

  constructor(address) {
    const colon = address.lastIndexOf(':');
    this.#authority = address;
    this.#socket = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), noDelay: true });
    this.#socket.on('data', (chunk) => this.#onData(chunk));
    this.#socket.on('error', (error) => this.#fail(`connection error: ${error.message}`));
    this.#socket.on('close', () => this.#fail('connection closed'));
    this.#write(
      PREFACE,
      frameOf(SETTINGS, 0, 0, settings([HEADER_TABLE_SIZE, 0], [ENABLE_PUSH, 0], [INITIAL_WINDOW_SIZE, MAX_WINDOW])),
      frameOf(WINDOW_UPDATE, 0, 0, uint31(MAX_WINDOW - DEFAULT_WINDOW)),
    );
  }

  call(method, request, deadlineMs) {
    const definition = AccountsServiceService[method];
    return new Promise((resolve, reject) => {
      const call = { definition, deadlineMs, resolve, reject, headerBlock: null, trailers: null, chunks: [] };
      if (this.#closed) return reject(this.#closed);
      call.unsent = frame(definition.requestSerialize(request)); // what is left to send, as windows allow
      if (this.#streams.size >= this.#peer.maxStreams) this.#waiting.push(call);
      else this.#start(call);
    });
  }

  close() {
    this.#closed ??= callError(UNAVAILABLE, 'client closed');
    this.#socket.end();
  }

  #start(call) {
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    call.id = id;
    call.sendWindow = this.#peer.streamWindow;
    this.#streams.set(id, call);
    this.#write(frameOf(HEADERS, END_HEADERS, id, this.#headerBlock(call.definition.path, call.deadlineMs)));
    this.#sendData(call);
  }

  /** As much of the call's message as both windows and the frame size allow; the rest waits for WINDOW_UPDATE. */
  #sendData(call) {
    while (call.unsent) {
      const size = Math.min(call.unsent.length, call.sendWindow, this.#sendWindow, this.#peer.maxFrame);
      if (size <= 0) return; // a window is spent: WINDOW_UPDATE resumes it
      const last = size === call.unsent.length;
      this.#write(frameOf(DATA, last ? END_STREAM : 0, call.id, call.unsent.subarray(0, size)));
      call.sendWindow -= size;
      this.#sendWindow -= size;
      call.unsent = last ? null : call.unsent.subarray(size);
    }
  }

  #headerBlock(path, deadlineMs) {
    return this.#requestHeaders.encode([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', this.#authority],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['grpc-timeout', `${deadlineMs}m`],
    ]);
  }

  #onData(chunk) {
    this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
    let offset = 0;
    while (this.#received.length - offset >= 9) {
      const length = this.#received.readUIntBE(offset, 3);
      if (this.#received.length - offset < 9 + length) break;
      const type = this.#received[offset + 3];
      const flags = this.#received[offset + 4];
      const id = this.#received.readUInt32BE(offset + 5) & MAX_WINDOW;
      const payload = this.#received.subarray(offset + 9, offset + 9 + length);
      offset += 9 + length;
      try {
        this.#onFrame(type, flags, id, payload);
      } catch (error) {
        this.#fail(`protocol error: ${error.message}`);
        this.#socket.destroy();
        return;
      }
    }
    this.#received = this.#received.subarray(offset);
  }

  #onFrame(type, flags, id, payload) {
    if (this.#continued && type !== CONTINUATION) throw new Error(`frame ${type} inside a header block`);
    switch (type) {
      case DATA:
        return this.#onDataFrame(flags, id, payload);
      case HEADERS:
        this.#continued = { id, flags, fragments: [unpadded(flags, payload, flags & PRIORITY ? 5 : 0)] };
        return this.#onHeaderFragment();
      case CONTINUATION:
        this.#continued.fragments.push(payload);
        this.#continued.flags |= flags & END_HEADERS;
        return this.#onHeaderFragment();
      case RST_STREAM:
        return this.#end(id, callError(UNAVAILABLE, `stream closed (code ${payload.readUInt32BE(0)})`));
      case SETTINGS:
        if (!(flags & ACK)) this.#onSettings(payload);
        return;
      case PING:
        if (!(flags & ACK)) this.#write(frameOf(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        return this.#onGoaway(payload);
      case WINDOW_UPDATE:
        return this.#onWindowUpdate(id, payload.readUInt32BE(0) & MAX_WINDOW);
      default: // PRIORITY and extensions: nothing to do
    }
  }

  #onDataFrame(flags, id, payload) {
    this.#unacknowledged += payload.length;
    if (this.#unacknowledged >= MAX_WINDOW / 2) {
      this.#write(frameOf(WINDOW_UPDATE, 0, 0, uint31(this.#unacknowledged)));
      this.#unacknowledged = 0;
    }
    const call = this.#streams.get(id);
    if (!call) return;
    call.chunks.push(unpadded(flags, payload, 0));
    if (flags & END_STREAM) this.#finish(call);
  }

  #onHeaderFragment() {
    const { id, flags, fragments } = this.#continued;
    if (!(flags & END_HEADERS)) return;
    this.#continued = null;
    const block = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
    const call = this.#streams.get(id);
    if (!call) return;
    // The response's headers differ call by call (the service's own ids) and are read only when the
    // trailers carry no status (a "trailers-only" answer): kept as bytes until then.
    if (call.headerBlock) call.trailers = this.#decode(block);
    else call.headerBlock = block;
    if (flags & END_STREAM) this.#finish(call);
  }

  #decode(block) {
    const key = block.toString('latin1');
    let fields = this.#decodedBlocks.get(key);
    if (!fields) {
      const decompressor = hpack.decompressor.create({ table: { maxSize: 0 } });
      decompressor.write(block);
      decompressor.execute();
      fields = {};
      for (let field = decompressor.read(); field; field = decompressor.read()) fields[field.name] = field.value;
      if (this.#decodedBlocks.size < DECODED_BLOCKS_KEPT) this.#decodedBlocks.set(key, fields);
    }
    return fields;
  }

  #onSettings(payload) {
    if (!this.#peerSettingsSeen) {
      this.#peerSettingsSeen = true;
      this.#peer.maxStreams = Infinity; // unless these settings say otherwise
    }
    for (let i = 0; i + 6 <= payload.length; i += 6) {
      const [setting, value] = [payload.readUInt16BE(i), payload.readUInt32BE(i + 2)];
      if (setting === MAX_CONCURRENT_STREAMS) this.#peer.maxStreams = value;
      if (setting === MAX_FRAME_SIZE) this.#peer.maxFrame = value;
      if (setting === HEADER_TABLE_SIZE) this.#requestHeaders.setMaxSize(value);
      if (setting === INITIAL_WINDOW_SIZE) {
        // A change applies to every open stream's window, by the difference (RFC 9113 §6.9.2).
        for (const call of this.#streams.values()) call.sendWindow += value - this.#peer.streamWindow;
        this.#peer.streamWindow = value;
      }
    }
    this.#write(frameOf(SETTINGS, ACK, 0, Buffer.alloc(0)));
    this.#resume();
  }

  #onWindowUpdate(id, increment) {
    if (id === 0) this.#sendWindow += increment;
    else {
      const call = this.#streams.get(id);
      if (call) call.sendWindow += increment;
    }
    this.#resume();
  }

  /** The server answers the streams up to its last one; the later ones, and every call still to come, fail. */
  #onGoaway(payload) {
    this.#fail(`server going away (code ${payload.readUInt32BE(4)})`, payload.readUInt32BE(0) & MAX_WINDOW);
  }

  /** After a window grew: messages held back by it, then calls held back by the stream limit. */
  #resume() {
    for (const call of this.#streams.values()) if (call.unsent) this.#sendData(call);
    this.#startWaiting();
  }

  #startWaiting() {
    while (this.#waiting.length > 0 && this.#streams.size < this.#peer.maxStreams && !this.#closed)
      this.#start(this.#waiting.shift());
  }

  #finish(call) {
    const trailers = call.trailers ?? {};
    const headers = 'grpc-status' in trailers || !call.headerBlock ? {} : this.#decode(call.headerBlock);
    const failed = statusError(headers, trailers);
    if (failed) return this.#end(call.id, failed);
    try {
      const body = call.chunks.length === 1 ? call.chunks[0] : Buffer.concat(call.chunks);
      const response = call.definition.responseDeserialize(body.subarray(5, 5 + body.readUInt32BE(1)));
      this.#end(call.id, null, response);
    } catch (error) {
      this.#end(call.id, callError(UNKNOWN, `malformed answer: ${error.message}`));
    }
  }

  #end(id, error, response) {
    const call = this.#streams.get(id);
    if (!call) return;
    this.#streams.delete(id);
    if (error) call.reject(error);
    else call.resolve(response);
    this.#startWaiting(); // a stream is free (windows are not: a call's end gives none back)
  }

  /** Every call fails UNAVAILABLE from now on: those in flight on streams after `lastAnswered`, and those waiting. */
  #fail(reason, lastAnswered = 0) {
    this.#closed ??= callError(UNAVAILABLE, reason);
    for (const id of [...this.#streams.keys()]) if (id > lastAnswered) this.#end(id, this.#closed);
    for (const call of this.#waiting.splice(0)) call.reject(this.#closed);
  }

  /** Frames written in one tick leave in one write (one system call). */
  #write(...buffers) {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    for (const buffer of buffers) this.#socket.write(buffer);
  }
}

/** An HTTP/2 frame: the 9-byte header, then the payload. */
function frameOf(type, flags, streamId, payload) {
  const header = Buffer.allocUnsafe(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

function settings(...pairs) {
  const payload = Buffer.allocUnsafe(6 * pairs.length);
  pairs.forEach(([setting, value], i) => {
    payload.writeUInt16BE(setting, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return payload;
}

function uint31(value) {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(value, 0);
  return payload;
}

/** A frame's payload without its padding and, for HEADERS with PRIORITY, the priority's `skip` bytes. */
function unpadded(flags, payload, skip) {
  if (!(flags & PADDED)) return skip ? payload.subarray(skip) : payload;
  return payload.subarray(1 + skip, payload.length - payload[0]);
}
