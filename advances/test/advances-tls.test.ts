import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AdvancesServiceClient } from '@alfabet/proto/advances/v1';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { makeTestCertificates, type TestCertificates } from '../../test-support/test-certificates.js';
import { startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

/** The advances API over mutual TLS with authorization: identities from client certificates, a policy from config. */
let certs: TestCertificates;
let stack: AdvancesStack;

beforeAll(async () => {
  certs = makeTestCertificates();
  stack = await startAdvancesStack({
    noWorker: true,
    env: {
      ADVANCES_TLS_CERT: certs.server.cert,
      ADVANCES_TLS_KEY: certs.server.key,
      ADVANCES_TLS_CLIENT_CA: certs.ca,
      ADVANCES_AUTH: 'on',
      ADVANCES_AUTHZ_POLICY: '{"ops": ["*"], "viewer": ["GetAdvance", "ListAdvances"]}',
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  certs?.remove();
});

function codeOf(
  channel: ChannelCredentials,
  method: 'getAdvance' | 'requestAdvance',
  request: object,
): Promise<number> {
  const client = new AdvancesServiceClient(`127.0.0.1:${stack.api.grpc.port}`, channel);
  return new Promise((resolve) =>
    (client[method] as unknown as (r: object, o: object, cb: (e: ServiceError | null) => void) => void).call(
      client,
      request,
      { deadline: Date.now() + 5_000 },
      (error) => {
        client.close();
        resolve(error ? error.code : status.OK);
      },
    ),
  );
}
const getAdvance = (channel: ChannelCredentials) => codeOf(channel, 'getAdvance', { advanceId: randomUUID() });

test('serves a client with a certificate of its CA, and refuses plaintext, no certificate, or another CA', async () => {
  const pem = (path: string) => readFileSync(path);
  const withIdentity = (identity: { cert: string; key: string }) =>
    credentials.createSsl(pem(certs.ca), pem(identity.key), pem(identity.cert));
  expect(await getAdvance(withIdentity(certs.client('ops')))).toBe(status.NOT_FOUND); // reached the handler: no such advance
  expect(await getAdvance(credentials.createInsecure())).toBe(status.UNAVAILABLE);
  expect(await getAdvance(credentials.createSsl(pem(certs.ca)))).toBe(status.UNAVAILABLE);
  expect(await getAdvance(withIdentity(certs.impostor('ops')))).toBe(status.UNAVAILABLE);
});

test('checks each identity against the policy: a viewer may read advances, not request one', async () => {
  const pem = (path: string) => readFileSync(path);
  const as = (name: string) => {
    const id = certs.client(name);
    return credentials.createSsl(pem(certs.ca), pem(id.key), pem(id.cert));
  };
  const request = { requestId: randomUUID(), accountId: randomUUID(), amount: 1_000n };
  expect(await getAdvance(as('viewer'))).toBe(status.NOT_FOUND);
  expect(await codeOf(as('viewer'), 'requestAdvance', request)).toBe(status.PERMISSION_DENIED);
  expect(await codeOf(as('stranger'), 'getAdvance', { advanceId: randomUUID() })).toBe(status.PERMISSION_DENIED);
  expect(await codeOf(as('ops'), 'requestAdvance', request)).toBe(status.NOT_FOUND); // allowed: the ledger has no such account
});
