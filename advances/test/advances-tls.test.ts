import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AdvancesServiceClient } from '@alfabet/proto/advances/v1';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { makeTestCertificates, type TestCertificates } from '../../test-support/test-certificates.js';
import { startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

/** The advances API over mutual TLS: a client with a certificate of the CA is served, no other. */
let certs: TestCertificates;
let stack: AdvancesStack;

beforeAll(async () => {
  certs = makeTestCertificates();
  stack = await startAdvancesStack({
    noWorker: true,
    env: { ADVANCES_TLS_CERT: certs.server.cert, ADVANCES_TLS_KEY: certs.server.key, ADVANCES_TLS_CLIENT_CA: certs.ca },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  certs?.remove();
});

function getAdvance(channel: ChannelCredentials): Promise<number> {
  const client = new AdvancesServiceClient(`127.0.0.1:${stack.api.grpc.port}`, channel);
  return new Promise((resolve) => client.getAdvance({ advanceId: randomUUID() }, { deadline: Date.now() + 5_000 }, (error: ServiceError | null) => {
    client.close();
    resolve(error ? error.code : status.OK);
  }));
}

test('serves a client with a certificate of its CA, and refuses plaintext, no certificate, or another CA', async () => {
  const pem = (path: string) => readFileSync(path);
  const withIdentity = (identity: { cert: string; key: string }) => credentials.createSsl(pem(certs.ca), pem(identity.key), pem(identity.cert));
  expect(await getAdvance(withIdentity(certs.client('ops')))).toBe(status.NOT_FOUND); // reached the handler: no such advance
  expect(await getAdvance(credentials.createInsecure())).toBe(status.UNAVAILABLE);
  expect(await getAdvance(credentials.createSsl(pem(certs.ca)))).toBe(status.UNAVAILABLE);
  expect(await getAdvance(withIdentity(certs.impostor('ops')))).toBe(status.UNAVAILABLE);
});
