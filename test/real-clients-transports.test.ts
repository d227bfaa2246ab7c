import { createFileRegistry, fromBinary, type DescFile } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { DESCRIPTOR_SET_FILE, HEALTH_PROTO_FILE, PROTO_FILES, protoRootDir } from '@alfabet/proto/paths';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startAdvancesStack, type AdvancesStack } from '../advances/test/support/advances-harness.js';
import { makeTestCertificates, type TestCertificates } from '../test-support/test-certificates.js';

/**
 * The clients ops really use — the real grpcurl and `buf curl` — against both
 * services in every way they can be deployed: plaintext, TLS (`-cacert`),
 * mutual TLS with authorization on (identity from the client certificate),
 * and TLS with authorization on and a bearer token. In each: `list`,
 * `describe` of every service, message and enum of the contracts, and a call
 * of every RPC — the ListTransactions stream included — by reflection alone.
 * Authorization really is on where it should be: a call without credentials is
 * refused there. Certificates come from a CA made for this run
 * (test-support/test-certificates.ts).
 */
const run = promisify(execFile);
const bufBinary = fileURLToPath(new URL('../node_modules/.bin/buf', import.meta.url));
const OPS_TOKEN = `ops-${randomUUID()}`;
const ADVANCES_TOKEN = `advances-${randomUUID()}`;
let certs: TestCertificates;

beforeAll(() => {
  certs = makeTestCertificates();
});
afterAll(() => certs?.remove());

function grpcurlPath(): string {
  const path = process.env.GRPCURL;
  if (!path)
    throw new Error('GRPCURL is not set: run the tests through `npm test` (scripts/toolchain.sh installs grpcurl)');
  return path;
}

interface Mode {
  name: string;
  ledgerEnv: () => Record<string, string>;
  advancesEnv: () => Record<string, string>;
  grpcurl: () => string[];
  buf: () => string[];
  scheme: 'http' | 'https';
  /** Authorization is on: what grpcurl says when it calls with the CA only (no certificate, no token). */
  refusedWithout: RegExp | null;
}

const serverTls = (prefix: string) => ({
  [`${prefix}_TLS_CERT`]: certs.server.cert,
  [`${prefix}_TLS_KEY`]: certs.server.key,
});
const MODES: Mode[] = [
  {
    name: 'plaintext',
    ledgerEnv: () => ({}),
    advancesEnv: () => ({}),
    grpcurl: () => ['-plaintext'],
    buf: () => ['--http2-prior-knowledge'],
    scheme: 'http',
    refusedWithout: null,
  },
  {
    name: 'TLS (-cacert)',
    ledgerEnv: () => serverTls('ACCOUNTS'),
    advancesEnv: () => ({ ...serverTls('ADVANCES'), LEDGER_TLS_CA: certs.ca }),
    grpcurl: () => ['-cacert', certs.ca],
    buf: () => ['--cacert', certs.ca],
    scheme: 'https',
    refusedWithout: null,
  },
  {
    name: 'mutual TLS, authorization on (-cert/-key of CN=ops)',
    ledgerEnv: () => ({ ...serverTls('ACCOUNTS'), ACCOUNTS_TLS_CLIENT_CA: certs.ca, ACCOUNTS_AUTH: 'on' }),
    advancesEnv: () => {
      const advances = certs.client('advances');
      return {
        ...serverTls('ADVANCES'),
        ADVANCES_TLS_CLIENT_CA: certs.ca,
        ADVANCES_AUTH: 'on',
        LEDGER_TLS_CA: certs.ca,
        LEDGER_TLS_CERT: advances.cert,
        LEDGER_TLS_KEY: advances.key,
      };
    },
    grpcurl: () => {
      const ops = certs.client('ops');
      return ['-cacert', certs.ca, '-cert', ops.cert, '-key', ops.key];
    },
    buf: () => {
      const ops = certs.client('ops');
      return ['--cacert', certs.ca, '--cert', ops.cert, '--key', ops.key];
    },
    scheme: 'https',
    // The server requires a client certificate: without one there is no connection.
    refusedWithout: /Failed to dial target host/,
  },
  {
    name: 'TLS, authorization on, bearer token of ops',
    ledgerEnv: () => ({
      ...serverTls('ACCOUNTS'),
      ACCOUNTS_AUTH: 'on',
      ACCOUNTS_AUTH_TOKENS: `ops:${OPS_TOKEN},advances:${ADVANCES_TOKEN}`,
    }),
    advancesEnv: () => ({
      ...serverTls('ADVANCES'),
      ADVANCES_AUTH: 'on',
      ADVANCES_AUTH_TOKENS: `ops:${OPS_TOKEN}`,
      LEDGER_TLS_CA: certs.ca,
      LEDGER_AUTH_TOKEN: ADVANCES_TOKEN,
    }),
    grpcurl: () => ['-cacert', certs.ca, '-H', `authorization: Bearer ${OPS_TOKEN}`],
    buf: () => ['--cacert', certs.ca, '-H', `authorization: Bearer ${OPS_TOKEN}`],
    scheme: 'https',
    refusedWithout: /Code: Unauthenticated/,
  },
];

/** The contracts as compiled (what reflection serves): every service, message and enum each port describes. */
const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(join(protoRootDir(), DESCRIPTOR_SET_FILE))),
);
const TIMESTAMP = 'google/protobuf/timestamp.proto';
function symbolsOf(fileName: string): string[] {
  const file: DescFile = registry.getFile(fileName)!;
  return [...file.services, ...file.messages, ...file.enums].map((descriptor) => descriptor.typeName);
}

/** A port as a client sees it: its address, its services, the symbols it describes. */
interface Port {
  address: string;
  services: string[];
  symbols: string[];
}

/** Calls `method` with JSON `request`: the answer, or every message of a stream. */
type Call = (port: Port, method: string, request: object) => Promise<Record<string, unknown>[]>;

/** grpcurl and buf curl print each answer message as a JSON object starting at column 0. */
const messagesOf = (stdout: string): Record<string, unknown>[] =>
  stdout.trim() ? (JSON.parse(`[${stdout.trim().replace(/\n}\n{/g, '\n},\n{')}]`) as Record<string, unknown>[]) : [];

function clientsOf(mode: Mode) {
  const grpcurl = async (...args: string[]) => (await run(grpcurlPath(), [...mode.grpcurl(), ...args])).stdout;
  const bufCurl = async (...args: string[]) =>
    (await run(bufBinary, ['curl', '--protocol', 'grpc', ...mode.buf(), ...args])).stdout;
  const url = (port: Port, method = '') => `${mode.scheme}://${port.address}/${method}`;
  return {
    grpcurl: {
      list: async (port: Port) => (await grpcurl(port.address, 'list')).split('\n').filter(Boolean).sort(),
      describe: (port: Port, symbol: string) => grpcurl(port.address, 'describe', symbol),
      call: (async (port, method, request) =>
        messagesOf(await grpcurl('-d', JSON.stringify(request), port.address, method))) as Call,
    },
    bufCurl: {
      list: async (port: Port) => (await bufCurl('--list-services', url(port))).split('\n').filter(Boolean).sort(),
      call: (async (port, method, request) =>
        messagesOf(await bufCurl('-d', JSON.stringify(request), url(port, method)))) as Call,
    },
  };
}

/** Every RPC of both services, as ops would call them one after the other. */
async function callEveryRpc(call: Call, ledger: Port, advances: Port, label: string): Promise<void> {
  const accounts = 'alfabet.accounts.v1.AccountsService';
  const one = async (port: Port, method: string, request: object) => (await call(port, method, request))[0] ?? {};
  const open = async (name: string) =>
    (
      (await one(ledger, `${accounts}/CreateAccount`, { display_name: `${label} ${name}` })).account as {
        accountId: string;
      }
    ).accountId;
  const alice = await open('Alice');
  const bob = await open('Bob');
  expect(await one(ledger, `${accounts}/GetAccount`, { account_id: alice })).toMatchObject({
    account: { accountId: alice, displayName: `${label} Alice` },
  });
  const creditId = randomUUID();
  const credit = { request_id: creditId, dst_account_id: alice, amount: '10000', direction: 'DIRECTION_CREDIT' };
  const credited = await one(ledger, `${accounts}/BankTransaction`, { ...credit, description: 'opening deposit' });
  expect(credited).toMatchObject({ transaction: { status: 'TRANSACTION_STATUS_SUCCESS', amount: '10000' } });
  const moved = await one(ledger, `${accounts}/Transfer`, {
    request_id: randomUUID(),
    src_account_id: alice,
    dst_account_id: bob,
    amount: '2500',
    direction: 'DIRECTION_DEBIT',
  });
  const transaction = moved.transaction as { transactionId: string; createTime: string };
  expect(await one(ledger, `${accounts}/GetTransaction`, { transaction_id: transaction.transactionId })).toEqual(moved);
  expect(await one(ledger, `${accounts}/GetTransaction`, { request_id: creditId })).toEqual(credited);
  // The report: one message per page; times to the microsecond, as stored.
  const pages = await call(ledger, `${accounts}/ListTransactions`, { account_id: alice, page_size: 1 });
  expect(pages.map((page) => [page.page, page.totalPages, page.totalSize])).toEqual([
    [1, 2, '2'],
    [2, 2, '2'],
  ]);
  expect((pages[0]!.transactions as object[])[0]).toEqual(moved.transaction);
  expect(transaction.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$/);
  const batch = await one(ledger, `${accounts}/BatchTransfer`, {
    request_id: randomUUID(),
    atomic: true,
    transfers: [
      { src_account_id: alice, dst_account_id: bob, amount: '100', direction: 'DIRECTION_DEBIT' },
      { src_account_id: bob, dst_account_id: alice, amount: '50', direction: 'DIRECTION_DEBIT' },
    ],
  });
  expect((batch.transactions as { status: string; amount: string }[]).map((t) => [t.status, t.amount])).toEqual([
    ['TRANSACTION_STATUS_SUCCESS', '100'],
    ['TRANSACTION_STATUS_SUCCESS', '50'],
  ]);
  expect(await one(ledger, `${accounts}/GetAccount`, { account_id: alice })).toMatchObject({
    account: { balance: '7450' },
  });
  expect(await one(ledger, 'grpc.health.v1.Health/Check', {})).toEqual({ status: 'SERVING' });

  const service = 'alfabet.advances.v1.AdvancesService';
  const requested = (await one(advances, `${service}/RequestAdvance`, { account_id: bob, amount: '1200' })) as {
    advance: { advanceId: string; accountId: string };
  };
  expect(requested.advance.accountId).toBe(bob);
  const advanceId = requested.advance.advanceId;
  expect(await one(advances, `${service}/GetAdvance`, { advance_id: advanceId })).toMatchObject({
    advance: { advanceId, amount: '1200' },
  });
  expect(await one(advances, `${service}/ListAdvances`, { account_id: bob })).toMatchObject({
    advances: [{ advanceId }],
  });
  expect(await call(advances, `${service}/ListReconciliationFindings`, { advance_id: advanceId })).toEqual([{}]);
  expect(await one(advances, 'grpc.health.v1.Health/Check', {})).toEqual({ status: 'SERVING' });
}

describe.each(MODES)('$name', (mode) => {
  let stack: AdvancesStack;
  let ledger: Port;
  let advances: Port;
  const clients = clientsOf(mode);

  beforeAll(async () => {
    stack = await startAdvancesStack({ noWorker: true, ledgerEnv: mode.ledgerEnv(), env: mode.advancesEnv() });
    const health = 'grpc.health.v1.Health';
    ledger = {
      address: stack.ledger.address,
      services: ['alfabet.accounts.v1.AccountsService', health],
      symbols: [...symbolsOf(PROTO_FILES.accounts), ...symbolsOf(HEALTH_PROTO_FILE), ...symbolsOf(TIMESTAMP)],
    };
    advances = {
      address: `127.0.0.1:${stack.api.grpc.port}`,
      services: ['alfabet.advances.v1.AdvancesService', health],
      symbols: [...symbolsOf(PROTO_FILES.advances), ...symbolsOf(HEALTH_PROTO_FILE), ...symbolsOf(TIMESTAMP)],
    };
  }, 120_000);
  afterAll(async () => stack?.stop());

  test('grpcurl lists each port and describes every service, message and enum', async () => {
    for (const port of [ledger, advances]) {
      expect(await clients.grpcurl.list(port)).toEqual(port.services);
      for (const symbol of port.symbols) {
        expect(await clients.grpcurl.describe(port, symbol)).toMatch(
          new RegExp(`^${symbol.replace(/\./g, '\\.')} is an? (service|message|enum):`),
        );
      }
    }
  });

  test('buf curl lists each port', async () => {
    for (const port of [ledger, advances]) expect(await clients.bufCurl.list(port)).toEqual(port.services);
  });

  test('grpcurl calls every RPC of both services', async () => {
    await callEveryRpc(clients.grpcurl.call, ledger, advances, `grpcurl ${mode.name}`);
  });

  test('buf curl calls every RPC of both services', async () => {
    await callEveryRpc(clients.bufCurl.call, ledger, advances, `buf curl ${mode.name}`);
  });

  if (mode.refusedWithout) {
    test('without its credentials a call is refused: authorization is on', async () => {
      const targets = [
        [ledger, 'alfabet.accounts.v1.AccountsService/GetAccount', 'account_id'],
        [advances, 'alfabet.advances.v1.AdvancesService/GetAdvance', 'advance_id'],
      ] as const;
      for (const [port, method, field] of targets) {
        const request = JSON.stringify({ [field]: randomUUID() });
        const stderr = await run(grpcurlPath(), [
          '-cacert',
          certs.ca,
          '-connect-timeout',
          '3',
          '-d',
          request,
          port.address,
          method,
        ]).then(
          () => 'answered',
          (error: { stderr: string }) => error.stderr,
        );
        expect(stderr).toMatch(mode.refusedWithout!);
      }
    });
  }
});
