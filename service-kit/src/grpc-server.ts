import {
  Server,
  ServerCredentials,
  type handleBidiStreamingCall,
  type ServerDuplexStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { readFileSync } from 'node:fs';
import { ReflectionService } from '@grpc/reflection';
import type { Http2Server, IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { DESCRIPTOR_SET_FILE, HEALTH_PROTO_FILE, protoRootDir } from '@alfabet/proto/paths';
import { withAuthorization, type AuthorizationPolicy } from './authorization.js';
import { observeService } from './grpc-observability.js';
import { HealthService } from './health.js';
import { CONCURRENT_STREAMS_PER_CONNECTION_MAX, UnauthenticatedStreams } from './stream-limits.js';
import { refusingUndecodable, tolerantDefinition } from './undecodable-requests.js';

export interface GrpcServiceBinding {
  /** Fully qualified name, e.g. alfabet.accounts.v1.AccountsService (the health service key). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/**
 * A service as both servers bind it: each call authorized against `policy`
 * (none when null) before its handler runs, inside an observed call (request
 * context, metrics, access log) so refusals are counted and logged too.
 */
export function guardedService(
  name: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  policy: AuthorizationPolicy | null,
  observers: Parameters<typeof observeService>[3],
): GrpcServiceBinding {
  return {
    name,
    definition,
    implementation: observeService(name, definition, withAuthorization(definition, implementation, policy), observers),
  };
}

export interface StartGrpcServerOptions {
  address: string;
  services: GrpcServiceBinding[];
  /** .proto files (relative to the proto root) to serve reflection for, so grpcurl can list and describe. */
  protoFiles: string[];
  credentials?: ServerCredentials;
  /** Largest request message accepted, in bytes. */
  maxReceiveMessageBytes?: number;
}

export interface RunningGrpcServer {
  server: Server;
  /** The port actually bound (useful with port 0 in tests). */
  port: number;
  health: HealthService;
  /** Health watches and reflection streams open now, bounded per connection and in all. */
  unauthenticatedStreams: UnauthenticatedStreams;
  /**
   * Graceful stop: health turns NOT_SERVING, no new calls are accepted,
   * in-flight calls may finish for up to graceMs, then the rest are cancelled.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** Starts a gRPC server with the given services plus server reflection and grpc.health.v1. */
export async function startGrpcServer(options: StartGrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
    'grpc.max_concurrent_streams': CONCURRENT_STREAMS_PER_CONNECTION_MAX,
  });
  for (const service of options.services) {
    server.addService(
      tolerantDefinition(service.definition),
      refusingUndecodable(service.definition, service.implementation),
    );
  }
  // Health and reflection answer without an identity, so the streams they keep open are bounded.
  const unauthenticatedStreams = new UnauthenticatedStreams();
  addReflection(server, options, unauthenticatedStreams);
  const health = new HealthService(options.services.map((service) => service.name));
  health.addToServer(server, unauthenticatedStreams);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, options.credentials ?? ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(new Error(`cannot listen on ${options.address}: ${error.message}`)) : resolve(boundPort),
    );
  });
  keepRepeatedAuthorizationHeaders(server);

  const shutdown = async (graceMs: number): Promise<void> => {
    health.setStatus('', 'NOT_SERVING');
    for (const service of options.services) health.setStatus(service.name, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
  return { server, port, health, unauthenticatedStreams, shutdown };
}

/**
 * Server reflection, so grpcurl can list and describe; it describes the health service too, so `grpcurl list`
 * shows it and ops can call it. It lists only the services this server serves. Each reflection stream takes a
 * slot of the unauthenticated-stream limits while it is open.
 */
function addReflection(server: Server, options: StartGrpcServerOptions, streams: UnauthenticatedStreams): void {
  new ReflectionService(exactDescriptors([...options.protoFiles, HEALTH_PROTO_FILE]), {
    services: [...options.services.map((service) => service.name), 'grpc.health.v1.Health'],
  }).addToServer({
    addService: (definition, implementation) =>
      server.addService(
        definition,
        Object.fromEntries(
          Object.entries(implementation).map(([name, handler]) => [
            name,
            (stream: ServerDuplexStream<unknown, unknown>) => {
              const refusal = streams.admit(stream, 'reflection');
              if (refusal) stream.emit('error', refusal);
              else (handler as handleBidiStreamingCall<unknown, unknown>)(stream);
            },
          ]),
        ),
      ),
  });
}

/**
 * Node's HTTP/2 server keeps only the first of repeated single-value headers,
 * `authorization` among them, and grpc-js builds a call's metadata from what
 * it kept: a call carrying two authorization headers would be judged by the
 * first alone. The raw header list still has them all, so before grpc-js
 * sees a stream, repeated authorization headers are put back as several
 * values — placeholders, never the tokens, so none can be dropped as
 * malformed and leave one standing — and the authorization guard refuses the
 * call for them. grpc-js offers no hook for raw headers, hence its private
 * list of HTTP/2 servers; should it ever change, the service stops at start.
 */
function keepRepeatedAuthorizationHeaders(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0)
    throw new Error('grpc-js no longer exposes its HTTP/2 servers: repeated authorization headers cannot be refused');
  for (const http2Server of http2Servers.keys()) {
    http2Server.prependListener(
      'stream',
      (_stream: unknown, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
        let count = 0;
        for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i] === 'authorization') count += 1;
        if (count > 1) (headers as Record<string, string[]>).authorization = Array(count).fill('repeated');
      },
    );
  }
}

/**
 * The file descriptors of `files` and everything they import, exactly as buf
 * compiled them (proto/descriptors.binpb): real file names
 * (alfabet/accounts/v1/accounts.proto, google/protobuf/timestamp.proto,
 * grpc/health/v1/health.proto) and real imports. Real clients (grpcurl, buf
 * curl) need both: protobufjs's own descriptors, which the reflection library
 * would serve otherwise, are renamed by package (alfabet_accounts_v1.proto),
 * lose their imports and leave type names unqualified, so grpcurl cannot
 * resolve google.protobuf.Timestamp and buf curl finds no service at all.
 */
function exactDescriptors(files: string[]): PackageDefinition {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(protoRootDir(), DESCRIPTOR_SET_FILE)));
  const byName = new Map(set.file.map((file) => [file.name, file]));
  const served = new Set<string>();
  const serve = (name: string): void => {
    const file = byName.get(name);
    if (!file) throw new Error(`${name} is not in ${DESCRIPTOR_SET_FILE}: run npm run proto:generate`);
    if (served.has(name)) return;
    served.add(name);
    file.dependency.forEach(serve);
  };
  files.forEach(serve);
  // The reflection library reads only the descriptors of a package definition.
  const fileDescriptorProtos = [...served].map((name) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, byName.get(name)!)),
  );
  return { descriptors: { fileDescriptorProtos } } as unknown as PackageDefinition;
}
