import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

/** What a guard sees of a call before its handler runs: the request, its metadata, the TLS peer. */
export type GuardedCall = Pick<ServerUnaryCall<unknown, unknown>, 'request' | 'metadata' | 'getAuthContext'>;

/** Returns the error to answer with, or null to let the handler run. */
export type CallGuard = (method: string, call: GuardedCall) => Partial<ServiceError> | null;

/**
 * The implementation with `guard` consulted before every unary and
 * server-streaming handler (the shapes this project serves): a refusal is
 * the call's answer and the handler never runs.
 */
export function guardService(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  guard: CallGuard,
): UntypedServiceImplementation {
  return Object.fromEntries(
    Object.entries(implementation).map(([name, handler]) => {
      const method = definition[name];
      if (!method || method.requestStream) return [name, handler];
      const methodName = method.path.split('/').pop()!;
      if (method.responseStream) {
        const streaming = handler as handleServerStreamingCall<unknown, unknown>;
        const guarded: handleServerStreamingCall<unknown, unknown> = (call) => {
          const refusal = guard(methodName, call);
          if (refusal) call.emit('error', refusal);
          else streaming(call);
        };
        return [name, guarded];
      }
      const unary = handler as handleUnaryCall<unknown, unknown>;
      const guarded: handleUnaryCall<unknown, unknown> = (call, callback) => {
        const refusal = guard(methodName, call);
        if (refusal) callback(refusal);
        else unary(call, callback);
      };
      return [name, guarded];
    }),
  );
}
