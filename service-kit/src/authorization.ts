import { Metadata, status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { ConfigError } from './config-parsing.js';
import { guardService, type GuardedCall } from './call-guards.js';
import { ERROR_FIELD_METADATA_KEY } from './service-errors.js';

/**
 * Who may call what. A caller's identity is the common name of its TLS
 * client certificate (mutual TLS) or the name a bearer token stands for
 * (`authorization: Bearer <token>` metadata). The policy maps identities to
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

function identityOf(call: GuardedCall, policy: AuthorizationPolicy): Identity {
  const header = call.metadata.get('authorization')[0];
  if (typeof header === 'string' && header.length > 0) {
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    const name = token ? policy.tokens.get(digest(token)) : undefined;
    return name ? { name } : { refused: 'the bearer token is not valid' };
  }
  const commonName = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  const name = Array.isArray(commonName) ? commonName[0] : commonName;
  return name ? { name } : { refused: 'a client certificate or a bearer token is required' };
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
    if (!allowed(policy, identity.name, method))
      return refusal(status.PERMISSION_DENIED, `${identity.name} may not call ${method}`);
    return null;
  });
}
