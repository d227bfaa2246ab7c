import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { AccountsServiceClient, Direction } from '@alfabet/proto/accounts/v1';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { createLedgerClient } from '../../advances/src/ledger/ledger-client.js';
import { grpcurl } from '../../test-support/grpcurl.js';
import { makeTestCertificates, type TestCertificates } from '../../test-support/test-certificates.js';
import { ConfigError, loadAccountsConfig } from '../src/config.js';
import { startTestLedger, type TestLedger } from './support/ledger-harness.js';
import { testPool } from './support/db.js';
import { listAll } from './support/report-client.js';

/**
 * Transport security and authorization of the ledger: TLS, mutual TLS with
 * identities from client certificates, bearer tokens, and the policy that
 * keeps BankTransaction (which creates or destroys money) to the advances
 * service and ops. Certificates come from a CA made for this run.
 */
let certs: TestCertificates;
let pool: pg.Pool;
const servers: TestLedger[] = [];
const clients: AccountsServiceClient[] = [];
const OPS_TOKEN = 'ops-token-0123456789abcdef';
const SHOP_TOKEN = 'shop-token-0123456789abcdef';
const ADVANCES_TOKEN = 'advances-token-0123456789abcdef';

beforeAll(() => {
  certs = makeTestCertificates();
  pool = testPool();
});
afterAll(async () => {
  for (const client of clients) client.close();
  for (const server of servers) await server.stop();
  await pool.end();
  certs.remove();
});

const pem = (path: string) => readFileSync(path);
async function serve(env: Record<string, string>): Promise<TestLedger> {
  const server = await startTestLedger({
    ACCOUNTS_TLS_CERT: certs.server.cert,
    ACCOUNTS_TLS_KEY: certs.server.key,
    ...env,
  });
  servers.push(server);
  return server;
}
function clientOf(server: TestLedger, channel: ChannelCredentials): AccountsServiceClient {
  const client = new AccountsServiceClient(server.address, channel);
  clients.push(client);
  return client;
}
const tls = (identity?: { cert: string; key: string }) =>
  credentials.createSsl(pem(certs.ca), identity ? pem(identity.key) : null, identity ? pem(identity.cert) : null);

function unary<Res>(
  client: AccountsServiceClient,
  method: 'getAccount' | 'transfer' | 'bankTransaction' | 'createAccount',
  request: object,
  token?: string,
): Promise<Res> {
  const metadata = new Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) =>
    (
      client[method] as unknown as (
        r: object,
        m: Metadata,
        o: object,
        cb: (e: ServiceError | null, r: Res) => void,
      ) => void
    ).call(client, request, metadata, { deadline: Date.now() + 5_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: ServiceError) => ({ code: error.code, details: error.details }),
  );
const credit = (dstAccountId: string) => ({
  requestId: randomUUID(),
  dstAccountId,
  amount: 100n,
  direction: Direction.DIRECTION_CREDIT,
  description: 'tls test',
});
const rowsOf = async (requestId: string) =>
  Number(
    (await pool.query('SELECT count(*) AS n FROM transaction_requests WHERE request_id = $1', [requestId])).rows[0].n,
  );

describe('TLS', () => {
  it('serves a client that trusts its CA, and no plaintext client', async () => {
    const server = await serve({});
    const account = await unary<{ account: { accountId: string } }>(clientOf(server, tls()), 'createAccount', {
      requestId: '',
      displayName: 'over TLS',
    });
    expect(account.account.accountId).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      await refusal(
        unary(clientOf(server, credentials.createInsecure()), 'getAccount', { accountId: account.account.accountId }),
      ),
    ).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('may bind beyond loopback with TLS; without it, only if explicitly allowed', () => {
    const tlsFiles = { ACCOUNTS_TLS_CERT: certs.server.cert, ACCOUNTS_TLS_KEY: certs.server.key };
    const secured = { ACCOUNTS_AUTH: 'on', REPORT_TOKEN_SECRET: 'a-secret-of-our-own-0123456789' };
    expect(loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051', ...tlsFiles, ...secured }).tls).not.toBeNull();
    expect(() => loadAccountsConfig({ ACCOUNTS_GRPC_ADDR: '0.0.0.0:50051', ...secured })).toThrow(
      /ACCOUNTS_GRPC_ADDR: 0\.0\.0\.0:50051 is not a loopback address/,
    );
  });

  it('refuses a configuration it cannot honour, naming the variable', () => {
    expect(() => loadAccountsConfig({ ACCOUNTS_TLS_CERT: certs.server.cert })).toThrow(
      /ACCOUNTS_TLS_KEY: must be set together with ACCOUNTS_TLS_CERT/,
    );
    expect(() =>
      loadAccountsConfig({ ACCOUNTS_TLS_CERT: '/nonexistent.pem', ACCOUNTS_TLS_KEY: certs.server.key }),
    ).toThrow(/ACCOUNTS_TLS_CERT: cannot read \/nonexistent\.pem/);
    expect(() => loadAccountsConfig({ ACCOUNTS_TLS_CLIENT_CA: certs.ca })).toThrow(
      /ACCOUNTS_TLS_CLIENT_CA: needs ACCOUNTS_TLS_CERT/,
    );
    expect(() => loadAccountsConfig({ ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTHZ_POLICY: '{"shop": ["Mint"]}' })).toThrow(
      ConfigError,
    );
    expect(() => loadAccountsConfig({ ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTH_TOKENS: 'ops:short' })).toThrow(
      /ACCOUNTS_AUTH_TOKENS: each entry must be identity:token/,
    );
    expect(() => loadAccountsConfig({ ACCOUNTS_AUTH: 'maybe' })).toThrow(/ACCOUNTS_AUTH must be off or on/);
  });
});

describe('mutual TLS: the client certificate is the identity', () => {
  let server: TestLedger;
  let account: string;
  beforeAll(async () => {
    server = await serve({ ACCOUNTS_TLS_CLIENT_CA: certs.ca, ACCOUNTS_AUTH: 'on' });
    account = (
      await unary<{ account: { accountId: string } }>(clientOf(server, tls(certs.client('shop'))), 'createAccount', {
        requestId: '',
        displayName: 'mTLS',
      })
    ).account.accountId;
  });

  it('lets the advances service move money with BankTransaction, and an ordinary client not', async () => {
    const advances = clientOf(server, tls(certs.client('advances')));
    const shop = clientOf(server, tls(certs.client('shop')));
    const denied = credit(account);
    expect(await refusal(unary(shop, 'bankTransaction', denied))).toEqual({
      code: status.PERMISSION_DENIED,
      details: 'authorization: shop may not call BankTransaction',
    });
    expect(await rowsOf(denied.requestId)).toBe(0);
    const allowed = credit(account);
    await expect(unary(advances, 'bankTransaction', allowed)).resolves.toMatchObject({ transaction: { amount: 100n } });
    expect(await rowsOf(allowed.requestId)).toBe(1);
    // The rest of the ledger stays open to any authenticated caller, the report stream included.
    await expect(unary(shop, 'getAccount', { accountId: account })).resolves.toMatchObject({
      account: { balance: 100n },
    });
    expect((await listAll(shop, { accountId: account }))[0]!.totalSize).toBe(1n);
  });

  it('refuses a client without a certificate, or with one from another CA, at the handshake', async () => {
    expect(await refusal(unary(clientOf(server, tls()), 'getAccount', { accountId: account }))).toMatchObject({
      code: status.UNAVAILABLE,
    });
    expect(
      await refusal(unary(clientOf(server, tls(certs.impostor('advances'))), 'bankTransaction', credit(account))),
    ).toMatchObject({ code: status.UNAVAILABLE });
  });

  it("is how the advances service's ledger client reaches it", async () => {
    const ledger = createLedgerClient({
      address: server.address,
      callTimeoutMs: 5_000,
      authToken: null,
      tls: {
        ca: pem(certs.ca),
        ...(({ cert, key }) => ({ cert: pem(cert), key: pem(key) }))(certs.client('advances')),
      },
    });
    try {
      const request = credit(account);
      expect((await ledger.bankTransaction(request, 'tls-test')).requestId).toBe(request.requestId);
      expect((await ledger.findTransactionByRequestId(request.requestId, 'tls-test'))?.requestId).toBe(
        request.requestId,
      );
    } finally {
      ledger.close();
    }
  });
});

describe('bearer tokens', () => {
  let server: TestLedger;
  let account: string;
  beforeAll(async () => {
    server = await serve({ ACCOUNTS_AUTH: 'on', ACCOUNTS_AUTH_TOKENS: `ops:${OPS_TOKEN}, shop:${SHOP_TOKEN}` });
    account = (
      await unary<{ account: { accountId: string } }>(
        clientOf(server, tls()),
        'createAccount',
        { requestId: '', displayName: 'tokens' },
        SHOP_TOKEN,
      )
    ).account.accountId;
  });

  it('answers UNAUTHENTICATED without an identity or with a wrong token, PERMISSION_DENIED when not allowed', async () => {
    const client = clientOf(server, tls());
    expect(await refusal(unary(client, 'getAccount', { accountId: account }))).toEqual({
      code: status.UNAUTHENTICATED,
      details: 'authorization: a client certificate or a bearer token is required',
    });
    expect(await refusal(unary(client, 'getAccount', { accountId: account }, 'not-the-token-0123456789'))).toEqual({
      code: status.UNAUTHENTICATED,
      details: 'authorization: the bearer token is not valid',
    });
    const denied = credit(account);
    expect(await refusal(unary(client, 'bankTransaction', denied, SHOP_TOKEN))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await rowsOf(denied.requestId)).toBe(0);
    await expect(unary(client, 'bankTransaction', credit(account), OPS_TOKEN)).resolves.toMatchObject({
      transaction: { amount: 100n },
    });
    const stream = await listAll(client, { accountId: account }).then(
      () => null,
      (error: ServiceError) => error.code,
    );
    expect(stream).toBe(status.UNAUTHENTICATED); // the report too
  });

  it('follows a policy from ACCOUNTS_AUTHZ_POLICY', async () => {
    const strict = await serve({
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `shop:${SHOP_TOKEN}`,
      ACCOUNTS_AUTHZ_POLICY: '{"shop": ["GetAccount"]}',
    });
    const client = clientOf(strict, tls());
    await expect(unary(client, 'getAccount', { accountId: account }, SHOP_TOKEN)).resolves.toMatchObject({
      account: { accountId: account },
    });
    expect(
      await refusal(
        unary(
          client,
          'transfer',
          {
            requestId: '',
            srcAccountId: account,
            dstAccountId: randomUUID(),
            amount: 1n,
            direction: Direction.DIRECTION_DEBIT,
          },
          SHOP_TOKEN,
        ),
      ),
    ).toEqual({ code: status.PERMISSION_DENIED, details: 'authorization: shop may not call Transfer' });
  });

  it("is sent by the advances service's ledger client", async () => {
    const ledger = createLedgerClient({
      address: server.address,
      callTimeoutMs: 5_000,
      tls: { ca: pem(certs.ca), cert: null, key: null },
      authToken: OPS_TOKEN,
    });
    try {
      await expect(ledger.bankTransaction(credit(account), 'token-test')).resolves.toMatchObject({ amount: 100n });
    } finally {
      ledger.close();
    }
  });

  it('keeps the health service open to probes, without an identity', async () => {
    const health = (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any).grpc.health.v1.Health;
    const probe = new health(server.address, tls());
    const answer = await new Promise<{ status: string }>((resolve, reject) =>
      probe.Check({ service: 'alfabet.accounts.v1.AccountsService' }, (e: Error | null, r: { status: string }) =>
        e ? reject(e) : resolve(r),
      ),
    );
    probe.close();
    expect(answer.status).toBe('SERVING');
  });
});

describe('authentication without edges: anything ambiguous is refused, never resolved by picking one', () => {
  let server: TestLedger;
  let account: string;
  beforeAll(async () => {
    server = await serve({
      ACCOUNTS_TLS_CLIENT_CA: certs.ca,
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `advances:${ADVANCES_TOKEN}, shop:${SHOP_TOKEN}`,
    });
    account = (
      await unary<{ account: { accountId: string } }>(clientOf(server, tls(certs.client('shop'))), 'createAccount', {
        requestId: '',
        displayName: 'edges',
      })
    ).account.accountId;
  });

  it('refuses a certificate with two common names instead of taking the first (CN=advances,CN=someone-else)', async () => {
    const twoNames = clientOf(server, tls(certs.client('two-names', '/CN=advances/CN=someone-else')));
    const minted = credit(account);
    expect(await refusal(unary(twoNames, 'bankTransaction', minted))).toEqual({
      code: status.UNAUTHENTICATED,
      details: 'authorization: the client certificate has more than one common name (CN)',
    });
    expect(await rowsOf(minted.requestId)).toBe(0);
    // Not even what any authenticated caller may do: the certificate names no one identity.
    expect(await refusal(unary(twoNames, 'getAccount', { accountId: account }))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    const reversed = clientOf(server, tls(certs.client('two-names-reversed', '/CN=someone-else/CN=advances')));
    expect(await refusal(unary(reversed, 'bankTransaction', credit(account)))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });

  it('takes the identity from the certificate under mutual TLS: a token cannot lend it another name', async () => {
    const stranger = clientOf(server, tls(certs.client('someone-else')));
    const minted = credit(account);
    expect(await refusal(unary(stranger, 'bankTransaction', minted, ADVANCES_TOKEN))).toEqual({
      code: status.UNAUTHENTICATED,
      details: 'authorization: the bearer token and the client certificate name different identities',
    });
    expect(await rowsOf(minted.requestId)).toBe(0);
    // The shop's certificate with the advances token: the same refusal, for any method.
    const shop = clientOf(server, tls(certs.client('shop')));
    expect(await refusal(unary(shop, 'getAccount', { accountId: account }, ADVANCES_TOKEN))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    // A token that names nobody is refused even beside a good certificate.
    expect(await refusal(unary(shop, 'getAccount', { accountId: account }, 'not-a-token-0123456789'))).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    // A token that agrees with the certificate changes nothing.
    await expect(unary(shop, 'getAccount', { accountId: account }, SHOP_TOKEN)).resolves.toMatchObject({
      account: { accountId: account },
    });
    const advances = clientOf(server, tls(certs.client('advances')));
    await expect(unary(advances, 'bankTransaction', credit(account), ADVANCES_TOKEN)).resolves.toMatchObject({
      transaction: { amount: 100n },
    });
  });

  it('refuses two authorization headers instead of taking the first (sent by the real grpcurl)', async () => {
    const tokenServer = await serve({
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `advances:${ADVANCES_TOKEN}, shop:${SHOP_TOKEN}`,
    });
    const request = credit(account);
    const bankTransaction = (...tokens: string[]) =>
      grpcurl([
        '-cacert',
        certs.ca,
        ...tokens.flatMap((token) => ['-rpc-header', `authorization: Bearer ${token}`]),
        '-d',
        JSON.stringify({
          request_id: request.requestId,
          dst_account_id: account,
          amount: '100',
          direction: 'DIRECTION_CREDIT',
        }),
        tokenServer.address,
        'alfabet.accounts.v1.AccountsService/BankTransaction',
      ]);
    for (const tokens of [
      [ADVANCES_TOKEN, SHOP_TOKEN],
      [SHOP_TOKEN, ADVANCES_TOKEN],
      [ADVANCES_TOKEN, ADVANCES_TOKEN],
    ]) {
      const refused = await bankTransaction(...tokens);
      expect({ tokens, stderr: refused.stderr }).toEqual({
        tokens,
        stderr: expect.stringMatching(
          /Code: Unauthenticated\s+Message: authorization: more than one authorization header/,
        ),
      });
    }
    expect(await rowsOf(request.requestId)).toBe(0);
    // One header, the same token: the call goes through.
    const answered = await bankTransaction(ADVANCES_TOKEN);
    expect({ exitCode: answered.exitCode, stderr: answered.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(await rowsOf(request.requestId)).toBe(1);
  });
});
