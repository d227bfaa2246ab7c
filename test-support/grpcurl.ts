import { execFile } from 'node:child_process';

/**
 * The real grpcurl (scripts/toolchain.sh installs it and exports GRPCURL), for
 * what our own Node clients cannot send: grpc-js refuses to put two
 * authorization headers or a header value with a tab on the wire, grpcurl
 * (grpc-go) sends them as given.
 */
export interface GrpcurlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function grpcurl(args: string[]): Promise<GrpcurlResult> {
  const path = process.env.GRPCURL;
  if (!path)
    throw new Error('GRPCURL is not set: run the tests through `npm test` (scripts/toolchain.sh installs grpcurl)');
  return new Promise((resolve) => {
    execFile(path, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const exitCode = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ exitCode, stdout, stderr });
    });
  });
}
