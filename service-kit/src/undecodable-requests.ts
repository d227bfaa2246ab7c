import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { guardService } from './call-guards.js';
import { invalidArgument } from './field-error.js';
import { toServiceError } from './service-errors.js';

/**
 * Bytes that are not a protobuf message of the method's request type are the
 * client's mistake, yet grpc-js answers them with INTERNAL ("Error
 * deserializing request"). These wrappers make them INVALID_ARGUMENT naming
 * `request`, before any handler runs — so nothing is stored, and a 500-style
 * code keeps meaning a fault of ours.
 */
const UNDECODABLE = Symbol('undecodable request');
interface Undecodable {
  [UNDECODABLE]: string;
}
const isUndecodable = (request: unknown): request is Undecodable =>
  typeof request === 'object' && request !== null && UNDECODABLE in request;

/** The definition with a request decoder that never throws (it marks the request instead). */
export function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return { [UNDECODABLE]: (error as Error).message } satisfies Undecodable;
          }
        },
      },
    ]),
  ) as ServiceDefinition;
}

/** The implementation, refusing marked requests with INVALID_ARGUMENT. */
export function refusingUndecodable(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): UntypedServiceImplementation {
  // A field error becomes INVALID_ARGUMENT naming `request` (nothing is logged for a caller's mistake).
  const silent = { warn: () => undefined, error: () => undefined };
  return guardService(definition, implementation, (method, call) =>
    isUndecodable(call.request)
      ? toServiceError(
          invalidArgument('request', `is not a valid ${method} request message (${call.request[UNDECODABLE]})`),
          silent,
          method,
          '',
        )
      : null,
  );
}
