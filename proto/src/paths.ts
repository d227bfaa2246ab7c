import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder that holds the `.proto` sources (`alfabet/...`), for servers that
 * load them at run time to serve gRPC reflection. Found by walking up from this
 * file so it works from `src/` (tests) and from `dist/src/` (built code).
 */
export function protoRootDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    if (existsSync(join(dir, 'alfabet', 'accounts', 'v1', 'accounts.proto'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(
    'proto sources (alfabet/accounts/v1/accounts.proto) not found above ' + fileURLToPath(import.meta.url),
  );
}

/** The proto files every service serves reflection for, relative to protoRootDir(). */
export const PROTO_FILES = {
  accounts: 'alfabet/accounts/v1/accounts.proto',
  advances: 'alfabet/advances/v1/advances.proto',
} as const;

/**
 * gRPC's health.proto (vendored unchanged; grpc-health-check implements it),
 * served by reflection under its real name so ops can call
 * grpc.health.v1.Health/Check with grpcurl or buf curl.
 */
export const HEALTH_PROTO_FILE = 'grpc/health/v1/health.proto';

/**
 * The contracts compiled by buf (`buf build`, imports included), relative to
 * protoRootDir(): what server reflection serves, with the real file names and
 * dependencies. Regenerated with the code (`npm run proto:generate`); CI checks
 * it is up to date.
 */
export const DESCRIPTOR_SET_FILE = 'descriptors.binpb';
