import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * What ops tools use against a running service: the gRPC health service and
 * server reflection (what `grpcurl list/describe` relies on), as plain
 * dynamic clients built from the protos those packages ship.
 */
const require = createRequire(import.meta.url);
const healthProto = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto');
const reflectionProto = join(
  dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

type Loaded = Record<string, any>;

function healthClient(address: string): Client & Loaded {
  const pkg = loadPackageDefinition(loadSync(healthProto, { enums: String })) as Loaded;
  return new pkg.grpc.health.v1.Health(address, credentials.createInsecure());
}

export function healthCheck(address: string, service = ''): Promise<string> {
  const client = healthClient(address);
  return new Promise((resolve, reject) => {
    client.Check(
      { service },
      { deadline: Date.now() + 5_000 },
      (error: ServiceError | null, response: { status: string }) => {
        client.close();
        error ? reject(error) : resolve(response.status);
      },
    );
  });
}

/** Watches a service's health; resolves with every status seen until the server ends the stream. */
export function healthWatch(address: string, service: string, onStatus: (status: string) => void): Promise<void> {
  const client = healthClient(address);
  return new Promise((resolve) => {
    const stream = client.Watch({ service });
    stream.on('data', (response: { status: string }) => onStatus(response.status));
    stream.on('error', () => {
      client.close();
      resolve();
    });
    stream.on('end', () => {
      client.close();
      resolve();
    });
  });
}

/** Asks the server's reflection service one question and returns the answer. */
export function reflect(address: string, request: Record<string, string>): Promise<Loaded> {
  const pkg = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true })) as Loaded;
  const client: Client & Loaded = new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo();
    stream.on('data', (response: Loaded) => {
      resolve(response);
      stream.end();
      client.close();
    });
    stream.on('error', reject);
    stream.write(request);
  });
}
