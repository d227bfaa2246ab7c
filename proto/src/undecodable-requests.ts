import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
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
interface Undecodable { [UNDECODABLE]: string }
const isUndecodable = (request: unknown): request is Undecodable =>
  typeof request === 'object' && request !== null && UNDECODABLE in request;

/** The definition with a request decoder that never throws (it marks the request instead). */
export function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(Object.entries(definition).map(([name, method]) => [name, {
    ...method,
    requestDeserialize: (bytes: Buffer): unknown => {
      try {
        return method.requestDeserialize(bytes);
      } catch (error) {
        return { [UNDECODABLE]: (error as Error).message } satisfies Undecodable;
      }
    },
  }])) as ServiceDefinition;
}

/** The implementation, refusing marked requests with INVALID_ARGUMENT. */
export function refusingUndecodable(definition: ServiceDefinition, implementation: UntypedServiceImplementation): UntypedServiceImplementation {
  // A field error becomes INVALID_ARGUMENT naming `request` (nothing is logged for a caller's mistake).
  const silent = { warn: () => undefined, error: () => undefined };
  const refusal = (name: string, request: Undecodable) => toServiceError(
    invalidArgument('request', `is not a valid ${definition[name]!.path.split('/').pop()} request message (${request[UNDECODABLE]})`), silent, name, '');
  return Object.fromEntries(Object.entries(implementation).map(([name, handler]) => {
    const method = definition[name];
    if (!method || method.requestStream) return [name, handler];
    if (method.responseStream) {
      const streaming = handler as handleServerStreamingCall<unknown, unknown>;
      return [name, ((call) => (isUndecodable(call.request) ? call.emit('error', refusal(name, call.request)) : streaming(call))) as handleServerStreamingCall<unknown, unknown>];
    }
    const unary = handler as handleUnaryCall<unknown, unknown>;
    return [name, ((call, callback) => (isUndecodable(call.request) ? callback(refusal(name, call.request)) : unary(call, callback))) as handleUnaryCall<unknown, unknown>];
  }));
}
