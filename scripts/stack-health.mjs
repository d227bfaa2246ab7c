// The standard gRPC health check (grpc.health.v1), used by `npm start` to
// wait for each service and by ops scripts.
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const { grpc } = loadPackageDefinition(loadSync(protoPath, { enums: String }));

/** True when `address` answers SERVING for `service` within `timeoutMs`. */
export function healthCheck(address, service = '', timeoutMs = 2_000) {
  const client = new grpc.health.v1.Health(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      resolve(!error && response?.status === 'SERVING');
    });
  });
}
