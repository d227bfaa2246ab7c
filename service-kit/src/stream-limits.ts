import { status, type ServiceError } from '@grpc/grpc-js';

/**
 * Concurrent HTTP/2 streams (calls) one connection may have open, advertised
 * to clients as SETTINGS_MAX_CONCURRENT_STREAMS; a stream beyond it is refused
 * (REFUSED_STREAM) before any of our code runs. Well above what one client
 * needs (the advances worker runs at most 100 activities at once over one
 * connection; the benchmarks 32 callers per connection), so it only ever
 * stops a connection that would hold thousands of calls open.
 */
export const CONCURRENT_STREAMS_PER_CONNECTION_MAX = 256;

/**
 * Streams any caller may hold open without an identity, authorization on or
 * off: grpc.health.v1.Health/Watch (probes carry no credentials) and server
 * reflection (grpcurl asks before it authenticates). A probe or grpcurl holds
 * one or two; these bound what a stranger can pin in memory.
 */
export const UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX = 4;
export const UNAUTHENTICATED_STREAMS_MAX = 128;

/** What the limits need of a call: which connection it came on, and the events that end it. */
export interface LimitedStream {
  getPeer(): string;
  once(event: 'cancelled' | 'finish' | 'error' | 'close', listener: () => void): unknown;
}

/**
 * Counts the open unauthenticated streams, per connection (keyed by the
 * peer's address and port, unique among open connections) and in all. A
 * stream's slot is given back the moment it ends however it ends — the
 * client leaves, cancels, or the server finishes — and a connection's entry
 * goes with its last stream, so nothing stays behind once clients go.
 */
export class UnauthenticatedStreams {
  private readonly byConnection = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly perConnectionMax = UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX,
    private readonly totalMax = UNAUTHENTICATED_STREAMS_MAX,
  ) {}

  /** Streams open now, and the connections they are on. */
  get open(): { streams: number; connections: number } {
    return { streams: this.total, connections: this.byConnection.size };
  }

  /** Takes a slot for `stream` until it ends; the error to answer with when there is none. */
  admit(stream: LimitedStream, what: string): Partial<ServiceError> | null {
    const connection = stream.getPeer();
    const onConnection = this.byConnection.get(connection) ?? 0;
    if (onConnection >= this.perConnectionMax)
      return exhausted(`${what}: at most ${this.perConnectionMax} open streams per connection without an identity`);
    if (this.total >= this.totalMax)
      return exhausted(`${what}: the server holds ${this.totalMax} open streams without an identity; retry later`);
    this.byConnection.set(connection, onConnection + 1);
    this.total += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.byConnection.get(connection) ?? 1) - 1;
      if (left === 0) this.byConnection.delete(connection);
      else this.byConnection.set(connection, left);
    };
    for (const event of ['cancelled', 'finish', 'error', 'close'] as const) stream.once(event, release);
    return null;
  }
}

const exhausted = (details: string): Partial<ServiceError> => ({ code: status.RESOURCE_EXHAUSTED, details });
