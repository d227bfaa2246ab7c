import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry with the process's default metrics (CPU, memory, event loop lag, GC). */
export function createMetricsRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Serves GET /metrics in the Prometheus text format on host:port. Resolves with the bound port. */
export async function startMetricsServer(
  address: string,
  registry: Registry,
): Promise<{ server: Server; port: number }> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  const port = Number(address.slice(at + 1));
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end('not found: try GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => response.writeHead(500).end(`metrics failed: ${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot serve metrics on ${address}: ${error.message}`)));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return { server, port: typeof bound === 'object' && bound ? bound.port : port };
}

/** A service's /metrics endpoint, which is off when no address is configured. */
export interface MetricsEndpoint {
  /** The bound port, or null when the endpoint is off. */
  port: number | null;
  /** Stops serving (nothing to do when off). */
  close(): Promise<void>;
}

/** Serves /metrics on `address` when one is configured (see startMetricsServer); otherwise an endpoint that is off. */
export async function startMetricsEndpoint(address: string | null, registry: Registry): Promise<MetricsEndpoint> {
  if (!address) return { port: null, close: async () => undefined };
  const { server, port } = await startMetricsServer(address, registry);
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
