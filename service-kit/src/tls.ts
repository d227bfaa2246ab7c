import { ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './config-parsing.js';

/**
 * TLS for the gRPC servers and clients, configured by PEM file paths. The
 * files are read once at start, so a missing or unreadable file stops the
 * service with a message naming its variable.
 */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa: Buffer | null;
}

export interface ClientTls {
  /** The CA that signed the server's certificate. */
  ca: Buffer;
  /** The client's own certificate and key, for mutual TLS. */
  cert: Buffer | null;
  key: Buffer | null;
}

/** An optional path to a readable PEM file (empty = absent). */
export const pemPath = () => z.string().optional();

function readPem(variable: string, path: string): Buffer {
  try {
    const pem = readFileSync(path);
    if (!pem.includes('-----BEGIN ')) throw new Error('not a PEM file');
    return pem;
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  ${variable}: cannot read ${path} (${(error as Error).message})`);
  }
}

/** Server TLS from `<prefix>_TLS_CERT`, `_TLS_KEY` and the optional `_TLS_CLIENT_CA`; null when neither cert nor key is set. */
export function serverTlsFrom(prefix: string, env: Readonly<Record<string, unknown>>): ServerTls | null {
  const [certVar, keyVar, caVar] = [`${prefix}_TLS_CERT`, `${prefix}_TLS_KEY`, `${prefix}_TLS_CLIENT_CA`];
  const [cert, key, ca] = [certVar, keyVar, caVar].map((name) => env[name] as string | undefined);
  if (!cert && !key) {
    if (ca)
      throw new ConfigError(
        `invalid configuration:\n  ${caVar}: needs ${certVar} and ${keyVar} (mutual TLS is TLS first)`,
      );
    return null;
  }
  if (!cert || !key)
    throw new ConfigError(
      `invalid configuration:\n  ${cert ? keyVar : certVar}: must be set together with ${cert ? certVar : keyVar}`,
    );
  return { cert: readPem(certVar, cert), key: readPem(keyVar, key), clientCa: ca ? readPem(caVar, ca) : null };
}

/** Client TLS from `<prefix>_TLS_CA` and the optional `_TLS_CERT`/`_TLS_KEY` pair; null when no CA is set. */
export function clientTlsFrom(prefix: string, env: Readonly<Record<string, unknown>>): ClientTls | null {
  const [caVar, certVar, keyVar] = [`${prefix}_TLS_CA`, `${prefix}_TLS_CERT`, `${prefix}_TLS_KEY`];
  const [ca, cert, key] = [caVar, certVar, keyVar].map((name) => env[name] as string | undefined);
  if (!ca) {
    if (cert || key)
      throw new ConfigError(
        `invalid configuration:\n  ${caVar}: needed to use ${cert ? certVar : keyVar} (the server's CA)`,
      );
    return null;
  }
  if (!!cert !== !!key)
    throw new ConfigError(
      `invalid configuration:\n  ${cert ? keyVar : certVar}: must be set together with ${cert ? certVar : keyVar}`,
    );
  return { ca: readPem(caVar, ca), cert: cert ? readPem(certVar, cert) : null, key: key ? readPem(keyVar, key) : null };
}

export function serverCredentials(tls: ServerTls | null): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== null,
  );
}

export function channelCredentials(tls: ClientTls | null): ChannelCredentials {
  return tls ? credentials.createSsl(tls.ca, tls.key, tls.cert) : credentials.createInsecure();
}

/** How a server with `tls` is reached, for its start-up log line. */
export const transportOf = (tls: ServerTls | null): string =>
  tls ? (tls.clientCa ? 'mutual TLS' : 'TLS') : 'plaintext (loopback only)';
