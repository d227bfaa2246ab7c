import { status, type ServiceError } from '@grpc/grpc-js';

/**
 * A bench client's lean path (a load client, the report's reader) must fail a
 * bad request exactly as the generated grpc-js client reports it: the same
 * INVALID_ARGUMENT, the same message, naming `field`. Both calls are asked
 * the same bad request; neither may succeed.
 */
export async function expectSameInvalidArgument(
  leanCall: Promise<unknown>,
  grpcJsCall: Promise<unknown>,
  field: string,
): Promise<void> {
  // Both outcomes taken at once: a rejection left unhandled while the other call is awaited fails the test.
  const [leanError, grpcJsError] = await Promise.all([
    leanCall.then(
      () => null,
      (error: { code: number; message: string }) => error,
    ),
    grpcJsCall.then(
      () => null,
      (error: ServiceError) => error,
    ),
  ]);
  expect(leanError?.code).toBe(status.INVALID_ARGUMENT);
  expect(leanError?.message).toContain(field);
  expect(grpcJsError?.code).toBe(leanError?.code);
  expect(grpcJsError?.details).toBe(leanError?.message);
}
