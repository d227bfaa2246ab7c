import {
  status,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import type { UnauthenticatedStreams } from './stream-limits.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';
type Answer = { status: ServingStatus | 'SERVICE_UNKNOWN' };
type StatusListener = (status: ServingStatus) => void;

/**
 * grpc.health.v1.Health for a fixed set of services ('' is the server as a
 * whole). Open to every caller — probes carry no identity — so nothing a
 * caller sends is kept: a Watch takes a slot of the unauthenticated-stream
 * limits and gives it back when it ends, and a Watch of an unknown service is
 * answered SERVICE_UNKNOWN without storing its name (the grpc-health-check
 * package keeps an entry per name ever watched, which a stranger could grow
 * without bound).
 */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Map<string, Set<StatusListener>>();

  constructor(services: readonly string[]) {
    for (const service of ['', ...services]) {
      this.statuses.set(service, 'SERVING');
      this.listeners.set(service, new Set());
    }
  }

  setStatus(service: string, servingStatus: ServingStatus): void {
    if (!this.statuses.has(service)) throw new Error(`health: ${service} is not one of this server's services`);
    this.statuses.set(service, servingStatus);
    for (const listener of this.listeners.get(service)!) listener(servingStatus);
  }

  /** Watches open now (for tests: nothing may stay once clients go). */
  get watching(): number {
    return [...this.listeners.values()].reduce((sum, listeners) => sum + listeners.size, 0);
  }

  addToServer(server: Pick<Server, 'addService'>, streams: UnauthenticatedStreams): void {
    server.addService(healthServiceDefinition as unknown as ServiceDefinition, {
      check: (call: ServerUnaryCall<{ service: string }, Answer>, callback: sendUnaryData<Answer>) => {
        const servingStatus = this.statuses.get(call.request.service);
        if (servingStatus) callback(null, { status: servingStatus });
        else callback({ code: status.NOT_FOUND, details: `health: no service ${call.request.service}` });
      },
      watch: (call: ServerWritableStream<{ service: string }, Answer>) => {
        const refusal = streams.admit(call, 'health');
        if (refusal) {
          call.emit('error', refusal);
          return;
        }
        const listeners = this.listeners.get(call.request.service);
        if (!listeners) {
          call.write({ status: 'SERVICE_UNKNOWN' });
          return;
        }
        const listener: StatusListener = (servingStatus) => call.write({ status: servingStatus });
        listeners.add(listener);
        call.once('cancelled', () => listeners.delete(listener));
        call.once('close', () => listeners.delete(listener));
        listener(this.statuses.get(call.request.service)!);
      },
      list: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        callback(null, {
          statuses: Object.fromEntries(
            [...this.statuses].map(([service, servingStatus]) => [service, { status: servingStatus }]),
          ),
        });
      },
    });
  }
}
