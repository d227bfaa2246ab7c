import { Metadata, status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { ConfigError } from './config-parsing.js';
import { guardService, type GuardedCall } from './call-guards.js';
import { setCallIdentity } from './request-context.js';
import { ERROR_FIELD_METADATA_KEY } from './service-errors.js';

/**
 * Who may call what. A caller's identity is the common name of its TLS
 * client certificate (mutual TLS) or, without one, the name a bearer token
 * stands for (`authorization: Bearer <token>` metadata). The policy maps identities to
 * the methods they may call; `*` as an identity means any authenticated
 * caller, `*` as a method means every method.
 */
export interface AuthorizationPolicy {
  allow: ReadonlyMap<string, ReadonlySet<string>>;
  /** sha256(token) in hex → identity; tokens themselves are never kept. */
  tokens: ReadonlyMap<string, string>;
}

const ANY = '*';
const digest = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Parses `<prefix>_AUTHZ_POLICY` (JSON: {"identity": ["Method", …]}, or the
 * default) and `<prefix>_AUTH_TOKENS` ("identity:token,…"). Unknown methods
 * and short tokens stop the service at start.
 */
export function authorizationPolicyFrom(
  prefix: string,
  env: Readonly<Record<string, unknown>>,
  methods: readonly string[],
  fallback: Record<string, string[]>,
): AuthorizationPolicy {
  const policyVar = `${prefix}_AUTHZ_POLICY`;
  const tokensVar = `${prefix}_AUTH_TOKENS`;
  let policy: unknown = fallback;
  const policyText = env[policyVar] as string | undefined;
  if (policyText) {
    try {
      policy = JSON.parse(policyText);
    } catch {
      throw new ConfigError(
        `invalid configuration:\n  ${policyVar}: must be JSON like {"ops": ["*"], "*": ["GetAccount"]}`,
      );
    }
  }
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy))
    throw new ConfigError(`invalid configuration:\n  ${policyVar}: must be a JSON object`);
  const allow = new Map<string, Set<string>>();
  for (const [identity, allowed] of Object.entries(policy)) {
    if (!Array.isArray(allowed) || !allowed.every((m) => typeof m === 'string' && (m === ANY || methods.includes(m)))) {
      throw new ConfigError(
        `invalid configuration:\n  ${policyVar}: "${identity}" must map to a list of methods of ${methods.join(', ')} or "*"`,
      );
    }
    allow.set(identity, new Set(allowed as string[]));
  }
  const tokens = new Map<string, string>();
  for (const entry of ((env[tokensVar] as string | undefined) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = entry.indexOf(':');
    const [identity, token] = [entry.slice(0, at), entry.slice(at + 1)];
    if (at <= 0 || identity === ANY || token.length < 16) {
      throw new ConfigError(
        `invalid configuration:\n  ${tokensVar}: each entry must be identity:token with a token of at least 16 characters`,
      );
    }
    tokens.set(digest(token), identity);
  }
  return { allow, tokens };
}

type Identity = { name: string } | { refused: string };

/**
 * Who the caller is. A client certificate, when presented, is the identity
 * and must name exactly one CN; a bearer token sent with it must stand for
 * that same identity (a token cannot lend a certificate another name).
 * Without a certificate the token is the identity. Anything ambiguous — two
 * CNs, two authorization headers, a token and a certificate that disagree —
 * is refused rather than resolved by picking one.
 */
function identityOf(call: GuardedCall, policy: AuthorizationPolicy): Identity {
  const headers = call.metadata.get('authorization');
  if (headers.length > 1) return { refused: 'more than one authorization header' };
  const header = headers[0];
  const token = typeof header === 'string' && header.length > 0 ? tokenIdentity(header, policy) : null;
  const certificate = certificateIdentity(call);
  if (certificate && 'refused' in certificate) return certificate;
  if (token && 'refused' in token) return token;
  if (certificate && token && certificate.name !== token.name)
    return { refused: 'the bearer token and the client certificate name different identities' };
  return certificate ?? token ?? { refused: 'a client certificate or a bearer token is required' };
}

function tokenIdentity(header: string, policy: AuthorizationPolicy): Identity {
  const token = /^Bearer (.+)$/i.exec(header)?.[1];
  const name = token ? policy.tokens.get(digest(token)) : undefined;
  return name ? { name } : { refused: 'the bearer token is not valid' };
}

/** The client certificate's one common name; null when the caller presented no certificate. */
function certificateIdentity(call: GuardedCall): Identity | null {
  const certificate = call.getAuthContext().sslPeerCertificate;
  if (!certificate) return null;
  const commonName: unknown = certificate.subject?.CN;
  if (Array.isArray(commonName)) return { refused: 'the client certificate has more than one common name (CN)' };
  if (typeof commonName !== 'string' || commonName.length === 0)
    return { refused: 'the client certificate names no identity (no common name)' };
  return { name: commonName };
}

const allowed = (policy: AuthorizationPolicy, identity: string, method: string) =>
  [policy.allow.get(identity), policy.allow.get(ANY)].some((methods) => methods?.has(ANY) || methods?.has(method));

function refusal(code: status, details: string) {
  const metadata = new Metadata();
  metadata.set(ERROR_FIELD_METADATA_KEY, 'authorization');
  return { code, details: `authorization: ${details}`, metadata };
}

/** `implementation` with every call checked against `policy` before its handler runs; as it is when authorization is off (null). */
export function withAuthorization(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  policy: AuthorizationPolicy | null,
): UntypedServiceImplementation {
  if (!policy) return implementation;
  return guardService(definition, implementation, (method, call) => {
    const identity = identityOf(call, policy);
    if ('refused' in identity) return refusal(status.UNAUTHENTICATED, identity.refused);
    setCallIdentity(identity.name);
    if (!allowed(policy, identity.name, method))
      return refusal(status.PERMISSION_DENIED, `${identity.name} may not call ${method}`);
    return null;
  });
}
