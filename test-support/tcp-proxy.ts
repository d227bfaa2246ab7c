import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy for fault injection between a client and a server (e.g. the
 * advances API and Temporal). It knows nothing of the protocol: it decides
 * what happens to bytes, not to calls — so a test arms a mode, makes the one
 * call it cares about, and watches the byte counters to know where it is.
 *
 * - `pass`: bytes flow both ways.
 * - `hold`: the client's bytes are kept back (the request is "in flight",
 *   the server has not seen it) until the mode changes (they are then sent
 *   on) or `discardHeld()` / `cut()` drops them.
 * - `lose-replies`: the client's bytes reach the server, the server's never
 *   come back (the request was accepted, its reply lost).
 * - `reset`: every connection the client sends anything on is reset (RST)
 *   before the bytes go anywhere: the server is unreachable, fast.
 * - `reset-next`: the same, once; then back to `pass`.
 */
export type ProxyMode = 'pass' | 'hold' | 'lose-replies' | 'reset' | 'reset-next';

export interface TcpProxy {
  /** host:port clients connect to. */
  address: string;
  setMode(mode: ProxyMode): void;
  /** Client bytes held back right now (mode `hold`). */
  heldBytes(): number;
  /** Client bytes that reached the server so far. */
  forwardedBytes(): number;
  /** Connections reset by `reset` or `reset-next` so far. */
  resets(): number;
  /** Drops the held bytes: the server never sees them. */
  discardHeld(): void;
  /** Resets every open connection (held bytes are dropped); new connections are accepted as usual. */
  cut(): void;
  close(): Promise<void>;
}

interface Pipe {
  client: Socket;
  server: Socket;
  held: Buffer[];
}

export async function startTcpProxy(upstream: string): Promise<TcpProxy> {
  const [upstreamHost, upstreamPort] = splitAddress(upstream);
  const pipes = new Set<Pipe>();
  let mode: ProxyMode = 'pass';
  let forwarded = 0;
  let resets = 0;

  const send = (pipe: Pipe, chunk: Buffer) => {
    forwarded += chunk.length;
    pipe.server.write(chunk);
  };
  const flush = (pipe: Pipe) => {
    for (const chunk of pipe.held.splice(0)) send(pipe, chunk);
  };
  const reset = (pipe: Pipe) => {
    pipe.held = [];
    if (!pipe.client.destroyed) pipe.client.resetAndDestroy();
    if (!pipe.server.destroyed) pipe.server.resetAndDestroy();
    pipes.delete(pipe);
  };

  const proxy = createServer((client) => {
    const pipe: Pipe = { client, server: connect(upstreamPort, upstreamHost), held: [] };
    pipes.add(pipe);
    client.on('data', (chunk: Buffer) => {
      if (mode === 'hold') pipe.held.push(chunk);
      else if (mode === 'reset' || mode === 'reset-next') {
        if (mode === 'reset-next') mode = 'pass';
        resets++;
        reset(pipe);
      } else {
        flush(pipe);
        send(pipe, chunk);
      }
    });
    pipe.server.on('data', (chunk: Buffer) => {
      if (mode !== 'lose-replies' && !client.destroyed) client.write(chunk);
    });
    // Either side gone (a refused upstream, a killed client): the other goes too, by reset.
    for (const socket of [client, pipe.server]) {
      socket.on('error', () => reset(pipe));
      socket.on('close', () => reset(pipe));
    }
  });
  await new Promise<void>((resolve, reject) => proxy.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as { port: number };

  const cut = () => {
    for (const pipe of [...pipes]) reset(pipe);
  };
  return {
    address: `127.0.0.1:${port}`,
    setMode(next) {
      mode = next;
      if (mode === 'pass' || mode === 'lose-replies') for (const pipe of pipes) flush(pipe);
    },
    heldBytes: () => [...pipes].reduce((sum, pipe) => sum + pipe.held.reduce((n, chunk) => n + chunk.length, 0), 0),
    forwardedBytes: () => forwarded,
    resets: () => resets,
    discardHeld() {
      for (const pipe of pipes) pipe.held = [];
    },
    cut,
    async close() {
      cut();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
