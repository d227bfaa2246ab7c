/**
 * `node health-probe.js <host:port> [service]` exits 0 when the gRPC server
 * answers SERVING (grpc.health.v1), 1 otherwise. Docker healthchecks use it:
 * the images carry no grpcurl.
 */
import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const PROBE_TIMEOUT_MS = 3_000;
const [address, service = ''] = process.argv.slice(2);
if (!address) {
  process.stderr.write('usage: health-probe <host:port> [service]\n');
  process.exit(2);
}
const loaded = loadPackageDefinition(loadSync(protoPath, { enums: String })) as any;
const client = new loaded.grpc.health.v1.Health(address, credentials.createInsecure());
client.Check(
  { service },
  { deadline: Date.now() + PROBE_TIMEOUT_MS },
  (error: ServiceError | null, response?: { status: string }) => {
    const status = error ? `error: ${error.message}` : response?.status;
    process.stdout.write(`${address} ${service || '(server)'}: ${status}\n`);
    process.exit(status === 'SERVING' ? 0 : 1);
  },
);
