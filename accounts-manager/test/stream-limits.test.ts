import { credentials, loadPackageDefinition, status, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { connect } from 'node:http2';
import { createConnection } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  CONCURRENT_STREAMS_PER_CONNECTION_MAX,
  UNAUTHENTICATED_STREAMS_MAX,
  UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX,
} from '@alfabet/service-kit/stream-limits';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';

/**
 * What a caller without credentials can hold open on a ledger that checks
 * callers: streams per connection are bounded by HTTP/2's own setting (a
 * stream beyond it is refused before any of our code runs), and the streams
 * the server keeps open for anyone — health watches, reflection — by named
 * limits per connection and in all, given back as soon as clients go.
 * Everything over real connections.
 */
let ledger: TestLedger;
const clients: Client[] = [];

beforeAll(async () => {
  ledger = await startTestLedger({ ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTH_TOKENS: 'ops:ops-token-0123456789abcdef' });
});
afterAll(async () => {
  for (const client of clients) client.close();
  await ledger?.stop();
});

const Health = (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any).grpc.health.v1.Health;
const Reflection = (
  loadPackageDefinition(
    loadSync(
      join(
        dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')),
        'build/proto/grpc/reflection/v1/reflection.proto',
      ),
      { keepCase: true },
    ),
  ) as any
).grpc.reflection.v1.ServerReflection;
/** A health client on a connection of its own. */
function healthClient(): Client & Record<string, any> {
  const client = new Health(ledger.address, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  clients.push(client);
  return client;
}

type WatchOutcome = { serving: true } | { code: number; details: string };
/** Opens a Watch; resolves with its first status, or with the error that ended it. */
function watch(client: Record<string, any>): { stream: ClientReadableStream<unknown>; first: Promise<WatchOutcome> } {
  const stream = client.Watch({ service: '' }) as ClientReadableStream<{ status: string }>;
  const first = new Promise<WatchOutcome>((resolve) => {
    stream.once('data', (answer: { status: string }) => resolve({ serving: answer.status === 'SERVING' } as never));
    stream.once('error', (error: { code: number; details: string }) =>
      resolve({ code: error.code, details: error.details }),
    );
  });
  return { stream, first };
}

async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const openUnauthenticated = () => ledger.app.grpc.unauthenticatedStreams.open;

it('advertises a bound on concurrent streams per connection and refuses the streams beyond it', async () => {
  const polite = connect(`http://${ledger.address}`);
  const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) =>
    polite.once('remoteSettings', resolve),
  );
  polite.destroy();
  expect(settings.maxConcurrentStreams).toBe(CONCURRENT_STREAMS_PER_CONNECTION_MAX);

  // Node's own client would hold the streams beyond the limit back; an attacker's does not.
  // So, raw HTTP/2: calls without credentials whose request never finishes (the handler, and
  // the authorization guard, wait for it), each holding its stream open, and five more.
  const extra = 5;
  const reset = await burstOfUnfinishedCalls(CONCURRENT_STREAMS_PER_CONNECTION_MAX + extra);
  const streamIdOf = (index: number) => 2 * index + 1;
  expect(reset).toEqual(
    new Map(
      Array.from({ length: extra }, (_, i) => [streamIdOf(CONCURRENT_STREAMS_PER_CONNECTION_MAX + i), 7]), // REFUSED_STREAM
    ),
  );
});

/**
 * Opens `count` streams on one raw HTTP/2 connection without waiting for the
 * server's SETTINGS, each a GetAccount whose message never arrives; resolves
 * with the streams the server reset (stream id → error code) once it has gone quiet.
 */
function burstOfUnfinishedCalls(count: number): Promise<Map<number, number>> {
  const [host, port] = ledger.address.split(':') as [string, string];
  const frame = (type: number, flags: number, streamId: number, payload: Buffer) => {
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header.writeUInt8(type, 3);
    header.writeUInt8(flags, 4);
    header.writeUInt32BE(streamId, 5);
    return Buffer.concat([header, payload]);
  };
  // HPACK "literal header field without indexing, new name", every length under 127.
  const literal = (name: string, value: string) =>
    Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const headers = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'http'),
    literal(':path', '/alfabet.accounts.v1.AccountsService/GetAccount'),
    literal(':authority', ledger.address),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ]);
  const frames = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0, Buffer.alloc(0))];
  for (let i = 0; i < count; i++) {
    frames.push(frame(0x1, 0x4, 2 * i + 1, headers)); // HEADERS, END_HEADERS, no END_STREAM
    frames.push(frame(0x0, 0, 2 * i + 1, Buffer.from([0, 0, 0, 0, 10]))); // a message promising 10 bytes
  }
  return new Promise((resolve, reject) => {
    const reset = new Map<number, number>();
    let received = Buffer.alloc(0);
    let quiet: NodeJS.Timeout | undefined;
    const socket = createConnection({ host, port: Number(port) }, () => socket.write(Buffer.concat(frames)));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 9 && received.length >= 9 + received.readUIntBE(0, 3)) {
        const length = received.readUIntBE(0, 3);
        if (received.readUInt8(3) === 0x3) reset.set(received.readUInt32BE(5) & 0x7fffffff, received.readUInt32BE(9));
        if (received.readUInt8(3) === 0x7) reject(new Error('the server closed the connection (GOAWAY)'));
        received = received.subarray(9 + length);
      }
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        socket.destroy();
        resolve(reset);
      }, 500);
    });
  });
}

it('bounds health watches without credentials per connection, and gives their slots back when the client goes', async () => {
  const client = healthClient();
  const watches = Array.from({ length: UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX + 1 }, () => watch(client));
  const outcomes = await Promise.all(watches.map((w) => w.first));
  expect(outcomes.filter((outcome) => 'serving' in outcome)).toHaveLength(UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX);
  expect(outcomes.filter((outcome) => !('serving' in outcome))).toEqual([
    {
      code: status.RESOURCE_EXHAUSTED,
      details: `health: at most ${UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX} open streams per connection without an identity`,
    },
  ]);
  expect(openUnauthenticated()).toEqual({ streams: UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX, connections: 1 });
  // Reflection streams count against the same limits: this connection has none left.
  const reflection = new Reflection(ledger.address, credentials.createInsecure(), {
    channelOverride: client.getChannel(),
  }) as Client & Record<string, any>;
  const refusedReflection = await new Promise<{ code: number; details: string }>((resolve) => {
    const stream = reflection.ServerReflectionInfo();
    stream.on('data', () => resolve({ code: status.OK, details: 'answered' }));
    stream.on('error', resolve);
    stream.write({ list_services: '' });
  });
  expect(refusedReflection).toMatchObject({
    code: status.RESOURCE_EXHAUSTED,
    details: `reflection: at most ${UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX} open streams per connection without an identity`,
  });
  for (const w of watches) w.stream.cancel();
  await eventually(() => openUnauthenticated().streams === 0, 'every watch given back once cancelled');
  expect(openUnauthenticated()).toEqual({ streams: 0, connections: 0 });
  expect(ledger.app.grpc.health.watching).toBe(0);
  // And a new client may watch again.
  const again = watch(healthClient());
  await expect(again.first).resolves.toEqual({ serving: true });
  again.stream.cancel();
  await eventually(() => openUnauthenticated().streams === 0, 'a cancelled watch given back');
});

it('bounds health watches without credentials in all, across connections, and gives every one back', async () => {
  const perConnection = UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX;
  const connections = Array.from({ length: UNAUTHENTICATED_STREAMS_MAX / perConnection }, () => healthClient());
  const watches = connections.flatMap((client) => Array.from({ length: perConnection }, () => watch(client)));
  const outcomes = await Promise.all(watches.map((w) => w.first));
  expect(outcomes.every((outcome) => 'serving' in outcome)).toBe(true);
  expect(openUnauthenticated()).toEqual({ streams: UNAUTHENTICATED_STREAMS_MAX, connections: connections.length });

  const oneMore = watch(healthClient());
  await expect(oneMore.first).resolves.toEqual({
    code: status.RESOURCE_EXHAUSTED,
    details: `health: the server holds ${UNAUTHENTICATED_STREAMS_MAX} open streams without an identity; retry later`,
  });
  for (const w of watches) w.stream.cancel();
  await eventually(() => openUnauthenticated().streams === 0, 'every watch given back');
  expect(openUnauthenticated()).toEqual({ streams: 0, connections: 0 });
  expect(ledger.app.grpc.health.watching).toBe(0);
});

it('answers a watch of a service it does not have, without keeping the name', async () => {
  const client = healthClient();
  const stream = client.Watch({ service: `no.such.Service${'x'.repeat(10_000)}` }) as ClientReadableStream<{
    status: string;
  }>;
  const first = await new Promise<string>((resolve) => stream.once('data', (answer) => resolve(answer.status)));
  expect(first).toBe('SERVICE_UNKNOWN');
  stream.on('error', () => undefined); // the cancellation below
  expect(openUnauthenticated().streams).toBe(1);
  expect(ledger.app.grpc.health.watching).toBe(0);
  stream.cancel();
  await eventually(() => openUnauthenticated().streams === 0, 'the watch given back');
});

it('gives a watch back when its client vanishes without a word (the connection drops)', async () => {
  const sessions = Array.from({ length: 8 }, () => connect(`http://${ledger.address}`));
  const answered = sessions.flatMap((session) =>
    Array.from({ length: UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX }, () => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Watch',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('error', () => undefined);
      stream.end(Buffer.from([0, 0, 0, 0, 0])); // HealthCheckRequest { service: '' }
      return new Promise((resolve) => stream.once('data', resolve));
    }),
  );
  await Promise.all(answered);
  expect(openUnauthenticated()).toEqual({ streams: 8 * UNAUTHENTICATED_STREAMS_PER_CONNECTION_MAX, connections: 8 });
  for (const session of sessions) session.socket.destroy();
  await eventually(() => openUnauthenticated().streams === 0, 'every watch given back');
  expect(openUnauthenticated()).toEqual({ streams: 0, connections: 0 });
  expect(ledger.app.grpc.health.watching).toBe(0);
});
