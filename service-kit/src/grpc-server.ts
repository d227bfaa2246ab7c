import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { join } from 'node:path';
import { protoRootDir } from '@alfabet/proto/paths';
import { refusingUndecodable, tolerantDefinition } from './undecodable-requests.js';

export interface GrpcServiceBinding {
  /** Fully qualified name, e.g. alfabet.accounts.v1.AccountsService (the health service key). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
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
  health: HealthImplementation;
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
  });
  for (const service of options.services) {
    server.addService(
      tolerantDefinition(service.definition),
      refusingUndecodable(service.definition, service.implementation),
    );
  }

  // Reflection describes the health service too, so `grpcurl list` shows it and ops can call it.
  const protoPaths = [...options.protoFiles.map((file) => join(protoRootDir(), file)), healthProtoPath];
  const packageDefinition = loadSync(protoPaths, {
    includeDirs: [protoRootDir()],
    keepCase: true,
  });
  new ReflectionService(packageDefinition).addToServer(server);

  const health = new HealthImplementation({ '': 'SERVING' });
  for (const service of options.services) health.setStatus(service.name, 'SERVING');
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, options.credentials ?? ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(new Error(`cannot listen on ${options.address}: ${error.message}`)) : resolve(boundPort),
    );
  });

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
  return { server, port, health, shutdown };
}
