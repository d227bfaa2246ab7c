import { createFileRegistry, fromBinary, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Client, credentials, status, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { AccountsServiceService, Direction } from '@alfabet/proto/accounts/v1';
import { AdvancesServiceService } from '@alfabet/proto/advances/v1';
import { DESCRIPTOR_SET_FILE, protoRootDir } from '@alfabet/proto/paths';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ledgerApi } from '../accounts-manager/test/support/ledger-harness.js';
import { BANK_ACCOUNT_ID } from '../accounts-manager/src/ledger/system-accounts.js';
import { startAdvancesStack, type AdvancesStack } from '../advances/test/support/advances-harness.js';
import { TEST_DATABASES, testDatabaseUrl } from '../test-support/test-databases.js';

/**
 * The contract's error cases, walked RPC by RPC for both services: every
 * INVALID_ARGUMENT, NOT_FOUND and ALREADY_EXISTS the protos and DESIGN §3
 * document, answered with exactly that code, the field named first in the
 * message and in the `alfabet-error-field` trailer, and nothing stored.
 *
 * What "every" means is read from the compiled contracts
 * (proto/descriptors.binpb), not from this list: each RPC, each id field
 * (malformed), each Timestamp (nanos −1 and 10⁹), enum (an unknown number),
 * page_size (too large, negative), token (forged), amount (zero, negative),
 * idempotency key (reused with other parameters), and each reference the
 * contract says must exist (unknown: NOT_FOUND). A field or RPC added to a
 * .proto fails the coverage test until its cases are here.
 */
let stack: AdvancesStack;
let ledgerDb: pg.Pool;
let advancesDb: pg.Pool;
let ledger: Client;
let advances: Client;
let rich: string; // money enough that only the request's own fault can fail it
let other: string;
let borrower: string;
let snapshotToken: string;
let advancePageToken: string;
const accounts = () => [rich, other, borrower];
const MAX_AMOUNT = 1_000_000_000_000n;

beforeAll(async () => {
  stack = await startAdvancesStack({ noWorker: true });
  ledgerDb = new pg.Pool({ connectionString: testDatabaseUrl(TEST_DATABASES.accounts), max: 2 });
  advancesDb = new pg.Pool({ connectionString: testDatabaseUrl(TEST_DATABASES.advances), max: 2 });
  ledger = new Client(stack.ledger.address, credentials.createInsecure());
  advances = new Client(`127.0.0.1:${stack.api.grpc.port}`, credentials.createInsecure());
  const api = ledgerApi(stack.ledger.client);
  rich = await api.fundedAccount(MAX_AMOUNT, 'contract rich');
  other = await api.fundedAccount(10n, 'contract other');
  borrower = await api.fundedAccount(0n, 'contract borrower');
  const pages = (await invoke('ListTransactions', { pageSize: 1, accountId: rich })) as { snapshotToken: string }[];
  snapshotToken = pages[0]!.snapshotToken;
  await invoke('RequestAdvance', { accountId: borrower, amount: 500n });
  await invoke('RequestAdvance', { accountId: await api.fundedAccount(0n, 'contract second'), amount: 500n });
  advancePageToken = ((await invoke('ListAdvances', { pageSize: 1 })) as { nextPageToken: string }).nextPageToken;
}, 120_000);
afterAll(async () => {
  ledger?.close();
  advances?.close();
  await ledgerDb?.end();
  await advancesDb?.end();
  await stack?.stop();
});

const SERVICES: Record<string, { definition: ServiceDefinition; client: () => Client }> = {
  'alfabet.accounts.v1.AccountsService': { definition: AccountsServiceService, client: () => ledger },
  'alfabet.advances.v1.AdvancesService': { definition: AdvancesServiceService, client: () => advances },
};

/** Calls RPC `rpc` (its proto name) with the request's defaults plus `fields`: the answer, or every page of a stream. */
function invoke(rpc: string, fields: object): Promise<unknown> {
  for (const { definition, client } of Object.values(SERVICES)) {
    const method = Object.values(definition).find((m) => m.path.endsWith(`/${rpc}`));
    if (!method) continue;
    const request = { ...(method.requestDeserialize(Buffer.alloc(0)) as object), ...fields };
    return new Promise((resolve, reject) => {
      if (!method.responseStream) {
        client().makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, (e, r) =>
          e ? reject(e) : resolve(r),
        );
        return;
      }
      const pages: unknown[] = [];
      const stream = client().makeServerStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
      );
      stream.on('data', (page) => pages.push(page));
      stream.on('error', reject);
      stream.on('end', () => resolve(pages));
    });
  }
  throw new Error(`no RPC ${rpc}`);
}

interface ErrorCase {
  rpc: string;
  /** `<field>:<what is wrong>`: the coverage test below requires some of these by the contract. */
  covers: string;
  request: () => object;
  code: status;
  field: string;
  /** Stores what the case needs first (e.g. the first use of a request_id); not part of its footprint. */
  prepare?: (requestId: string) => Promise<void>;
}

const uuidCases = (rpc: string, field: string, base: () => object, fieldKey: string): ErrorCase[] => [
  {
    rpc,
    covers: `${field}:malformed`,
    request: () => ({ ...base(), [fieldKey]: 'not-a-uuid' }),
    code: status.INVALID_ARGUMENT,
    field,
  },
];
const nanosCases = (rpc: string, field: string, key: string, base: () => object): ErrorCase[] =>
  [
    ['nanos-negative', -1],
    ['nanos-too-large', 1_000_000_000],
  ].map(([what, nanos]) => ({
    rpc,
    covers: `${field}:${what}`,
    request: () => ({ ...base(), [key]: { seconds: BigInt(Math.floor(Date.now() / 1000) - 60), nanos } }),
    code: status.INVALID_ARGUMENT,
    field,
  }));
const invalid = (rpc: string, covers: string, request: () => object): ErrorCase => ({
  rpc,
  covers,
  request,
  code: status.INVALID_ARGUMENT,
  field: covers.split(':')[0]!,
});
const missing = (rpc: string, covers: string, request: () => object): ErrorCase => ({
  rpc,
  covers,
  request,
  code: status.NOT_FOUND,
  field: covers.split(':')[0]!,
});
const reused = (rpc: string, first: (requestId: string) => object, second: (requestId: string) => object) => {
  let requestId = '';
  return {
    rpc,
    covers: 'request_id:reused',
    prepare: async (id: string) => {
      requestId = id;
      await invoke(rpc, first(id));
    },
    request: () => second(requestId),
    code: status.ALREADY_EXISTS,
    field: 'request_id',
  } satisfies ErrorCase;
};

/** A batch whose item 1 reuses a lone Transfer's request_id with another amount: ALREADY_EXISTS naming the item. */
function itemReused(): ErrorCase {
  let requestId = '';
  return {
    rpc: 'BatchTransfer',
    covers: 'transfers[1].request_id:reused',
    prepare: async (id: string) => {
      requestId = id;
      await invoke('Transfer', transfer({ requestId })());
    },
    request: () => batch({}, { requestId, amount: 6n })(),
    code: status.ALREADY_EXISTS,
    field: 'transfers[1].request_id',
  };
}

const transfer =
  (fields: object = {}) =>
  () => ({
    requestId: randomUUID(),
    srcAccountId: rich,
    dstAccountId: other,
    amount: 5n,
    direction: Direction.DIRECTION_DEBIT,
    ...fields,
  });
const bank =
  (fields: object = {}) =>
  () => ({
    requestId: randomUUID(),
    dstAccountId: other,
    amount: 5n,
    direction: Direction.DIRECTION_CREDIT,
    description: 'contract',
    ...fields,
  });
/** A BatchTransfer of three good transfers, item 1 overridden by `item`. */
const batch =
  (fields: object = {}, item: object = {}) =>
  () => ({
    requestId: randomUUID(),
    atomic: false,
    transfers: [transfer()(), { ...transfer()(), ...item }, transfer()()],
    ...fields,
  });
const list =
  (fields: object = {}) =>
  () => ({ accountId: rich, ...fields });
const DAY_S = 24 * 3600;
const secondsAgo = (seconds: number) => ({ seconds: BigInt(Math.floor(Date.now() / 1000) - seconds), nanos: 0 });

const ledgerCases: ErrorCase[] = [
  invalid('CreateAccount', 'request_id:malformed', () => ({ requestId: 'nope', displayName: 'A' })),
  invalid('CreateAccount', 'display_name:empty', () => ({ requestId: randomUUID(), displayName: '  ' })),
  invalid('CreateAccount', 'display_name:too-long', () => ({ requestId: randomUUID(), displayName: 'x'.repeat(201) })),
  invalid('CreateAccount', 'display_name:control', () => ({ requestId: randomUUID(), displayName: 'A\u0000' })),
  reused(
    'CreateAccount',
    (requestId) => ({ requestId, displayName: 'First' }),
    (requestId) => ({ requestId, displayName: 'Second' }),
  ),

  invalid('GetAccount', 'account_id:missing', () => ({ accountId: '' })),
  ...uuidCases('GetAccount', 'account_id', () => ({}), 'accountId'),
  missing('GetAccount', 'account_id:unknown', () => ({ accountId: randomUUID() })),

  ...uuidCases('Transfer', 'request_id', transfer(), 'requestId'),
  ...uuidCases('Transfer', 'src_account_id', transfer(), 'srcAccountId'),
  ...uuidCases('Transfer', 'dst_account_id', transfer(), 'dstAccountId'),
  invalid('Transfer', 'src_account_id:missing', transfer({ srcAccountId: '' })),
  missing('Transfer', 'src_account_id:unknown', () => transfer({ srcAccountId: randomUUID() })()),
  missing('Transfer', 'dst_account_id:unknown', () => transfer({ dstAccountId: randomUUID() })()),
  invalid('Transfer', 'dst_account_id:same-as-src', () => transfer({ dstAccountId: rich })()),
  invalid('Transfer', 'src_account_id:bank', transfer({ srcAccountId: BANK_ACCOUNT_ID })),
  invalid('Transfer', 'amount:zero', transfer({ amount: 0n })),
  invalid('Transfer', 'amount:negative', transfer({ amount: -5n })),
  invalid('Transfer', 'amount:too-large', transfer({ amount: MAX_AMOUNT + 1n })),
  invalid('Transfer', 'direction:unspecified', transfer({ direction: Direction.DIRECTION_UNSPECIFIED })),
  invalid('Transfer', 'direction:unknown-enum', transfer({ direction: 7 })),
  reused(
    'Transfer',
    (requestId) => transfer({ requestId })(),
    (requestId) => transfer({ requestId, amount: 6n })(),
  ),

  ...uuidCases('BankTransaction', 'request_id', bank(), 'requestId'),
  ...uuidCases('BankTransaction', 'dst_account_id', bank(), 'dstAccountId'),
  missing('BankTransaction', 'dst_account_id:unknown', () => bank({ dstAccountId: randomUUID() })()),
  invalid('BankTransaction', 'dst_account_id:bank', bank({ dstAccountId: BANK_ACCOUNT_ID })),
  invalid('BankTransaction', 'amount:zero', bank({ amount: 0n })),
  invalid('BankTransaction', 'amount:negative', bank({ amount: -1n })),
  invalid('BankTransaction', 'amount:too-large', bank({ amount: MAX_AMOUNT + 1n })),
  invalid('BankTransaction', 'direction:unspecified', bank({ direction: Direction.DIRECTION_UNSPECIFIED })),
  invalid('BankTransaction', 'direction:unknown-enum', bank({ direction: 3 })),
  invalid('BankTransaction', 'description:too-long', bank({ description: 'x'.repeat(501) })),
  invalid('BankTransaction', 'description:control', bank({ description: 'bell\u0007' })),
  reused(
    'BankTransaction',
    (requestId) => bank({ requestId })(),
    (requestId) => bank({ requestId, direction: Direction.DIRECTION_DEBIT })(),
  ),

  ...uuidCases('BatchTransfer', 'request_id', batch(), 'requestId'),
  invalid('BatchTransfer', 'transfers:empty', batch({ transfers: [] })),
  invalid('BatchTransfer', 'transfers:oversize', batch({ transfers: Array.from({ length: 1001 }, transfer()) })),
  invalid('BatchTransfer', 'transfers[1].request_id:malformed', () => batch({}, { requestId: 'not-a-uuid' })()),
  invalid('BatchTransfer', 'transfers[1].src_account_id:malformed', () => batch({}, { srcAccountId: 'not-a-uuid' })()),
  invalid('BatchTransfer', 'transfers[1].dst_account_id:malformed', () => batch({}, { dstAccountId: 'not-a-uuid' })()),
  invalid('BatchTransfer', 'transfers[1].request_id:duplicate', () => {
    const request = batch()();
    return {
      ...request,
      transfers: [request.transfers[0], { ...request.transfers[1], requestId: request.transfers[0]!.requestId }],
    };
  }),
  missing('BatchTransfer', 'transfers[1].src_account_id:unknown', () => batch({}, { srcAccountId: randomUUID() })()),
  missing('BatchTransfer', 'transfers[1].dst_account_id:unknown', () => batch({}, { dstAccountId: randomUUID() })()),
  invalid('BatchTransfer', 'transfers[1].dst_account_id:same-as-src', () => batch({}, { dstAccountId: rich })()),
  invalid('BatchTransfer', 'transfers[1].src_account_id:bank', () => batch({}, { srcAccountId: BANK_ACCOUNT_ID })()),
  invalid('BatchTransfer', 'transfers[1].amount:zero', () => batch({}, { amount: 0n })()),
  invalid('BatchTransfer', 'transfers[1].amount:negative', () => batch({}, { amount: -5n })()),
  invalid('BatchTransfer', 'transfers[1].amount:too-large', () => batch({}, { amount: MAX_AMOUNT + 1n })()),
  invalid('BatchTransfer', 'transfers[1].direction:unknown-enum', () => batch({}, { direction: 7 })()),
  reused(
    'BatchTransfer',
    (requestId) => batch({ requestId })(),
    (requestId) => batch({ requestId, atomic: true })(),
  ),
  itemReused(),

  invalid('GetTransaction', 'transaction_id:no-lookup', () => ({})),
  ...uuidCases('GetTransaction', 'transaction_id', () => ({}), 'transactionId'),
  ...uuidCases('GetTransaction', 'request_id', () => ({}), 'requestId'),
  missing('GetTransaction', 'transaction_id:unknown', () => ({ transactionId: randomUUID() })),
  missing('GetTransaction', 'request_id:unknown', () => ({ requestId: randomUUID() })),

  ...uuidCases('ListTransactions', 'account_id', list(), 'accountId'),
  missing('ListTransactions', 'account_id:unknown', list({ accountId: randomUUID() })),
  ...nanosCases('ListTransactions', 'start_time', 'startTime', list()),
  ...nanosCases('ListTransactions', 'end_time', 'endTime', list()),
  invalid('ListTransactions', 'start_time:year-10000', list({ startTime: { seconds: 253_402_300_800n, nanos: 0 } })),
  invalid('ListTransactions', 'start_time:before-window', list({ startTime: secondsAgo(30 * DAY_S) })),
  invalid(
    'ListTransactions',
    'end_time:before-start',
    list({ startTime: secondsAgo(DAY_S), endTime: secondsAgo(2 * DAY_S) }),
  ),
  invalid('ListTransactions', 'page_size:too-large', list({ pageSize: 1001 })),
  invalid('ListTransactions', 'page_size:negative', list({ pageSize: -1 })),
  invalid('ListTransactions', 'page:negative', list({ page: -1 })),
  invalid('ListTransactions', 'page:without-snapshot', list({ page: 2 })),
  invalid('ListTransactions', 'page_token:forged', list({ pageToken: 'c29tZW9uZSBlbHNlJ3MgdG9rZW4' })),
  invalid('ListTransactions', 'snapshot_token:forged', list({ snapshotToken: 'c29tZW9uZSBlbHNlJ3MgdG9rZW4' })),
  invalid('ListTransactions', 'account_id:other-than-token', () => ({ snapshotToken, accountId: other })),
];

const advance =
  (fields: object = {}) =>
  () => ({ requestId: randomUUID(), accountId: borrower, amount: 500n, ...fields });
const advanceCases: ErrorCase[] = [
  ...uuidCases('RequestAdvance', 'request_id', advance(), 'requestId'),
  ...uuidCases('RequestAdvance', 'account_id', advance(), 'accountId'),
  invalid('RequestAdvance', 'account_id:missing', advance({ accountId: '' })),
  missing('RequestAdvance', 'account_id:unknown', () => advance({ accountId: randomUUID() })()),
  invalid('RequestAdvance', 'amount:zero', advance({ amount: 0n })),
  invalid('RequestAdvance', 'amount:negative', advance({ amount: -500n })),
  {
    ...invalid('RequestAdvance', 'amount:below-policy', advance({ amount: 1n })),
    code: status.FAILED_PRECONDITION,
  },
  reused(
    'RequestAdvance',
    (requestId) => ({ requestId, accountId: other, amount: 500n }),
    (requestId) => ({ requestId, accountId: other, amount: 501n }),
  ),

  invalid('GetAdvance', 'advance_id:missing', () => ({ advanceId: '' })),
  ...uuidCases('GetAdvance', 'advance_id', () => ({}), 'advanceId'),
  missing('GetAdvance', 'advance_id:unknown', () => ({ advanceId: randomUUID() })),

  ...uuidCases('ListAdvances', 'account_id', () => ({}), 'accountId'),
  invalid('ListAdvances', 'status:unknown-enum', () => ({ status: 99 })),
  invalid('ListAdvances', 'page_size:too-large', () => ({ pageSize: 501 })),
  invalid('ListAdvances', 'page_size:negative', () => ({ pageSize: -1 })),
  invalid('ListAdvances', 'page_token:forged', () => ({ pageToken: 'garbage!' })),
  invalid('ListAdvances', 'page_token:other-filters', () => ({
    pageSize: 1,
    pageToken: advancePageToken,
    accountId: other,
  })),

  ...uuidCases('ListReconciliationFindings', 'advance_id', () => ({}), 'advanceId'),
  invalid('ListReconciliationFindings', 'page_size:too-large', () => ({ pageSize: 501 })),
  invalid('ListReconciliationFindings', 'page_size:negative', () => ({ pageSize: -1 })),
  invalid('ListReconciliationFindings', 'page_token:forged', () => ({ pageToken: 'garbage!' })),
];
const cases = [...ledgerCases, ...advanceCases];

/** What a request could have stored: money movements and advances of the test's accounts, rows holding its request id. */
async function footprint(requestId: string) {
  const ledgerRows = await ledgerDb.query<{ moves: number; requests: number }>(
    `SELECT (SELECT count(*)::int FROM transactions WHERE from_account_id = ANY($1::uuid[]) OR to_account_id = ANY($1::uuid[])) AS moves,
            (SELECT count(*)::int FROM transaction_requests WHERE request_id::text = $2)
          + (SELECT count(*)::int FROM accounts WHERE request_id::text = $2) AS requests`,
    [accounts(), requestId],
  );
  const advanceRows = await advancesDb.query<{ advances: number; requests: number }>(
    `SELECT (SELECT count(*)::int FROM advances WHERE account_id = ANY($1::uuid[])) AS advances,
            (SELECT count(*)::int FROM advances WHERE request_id::text = $2) AS requests`,
    [accounts(), requestId],
  );
  return { ...ledgerRows.rows[0], ...advanceRows.rows[0] };
}

test.each(cases.map((c) => [c.rpc, c.covers, status[c.code], c.field, c] as const))(
  '%s %s → %s naming %s, nothing stored',
  async (_rpc, _covers, _code, _field, errorCase) => {
    const requestId = randomUUID();
    await errorCase.prepare?.(requestId);
    const request = errorCase.request();
    const key = 'requestId' in request && typeof request.requestId === 'string' ? request.requestId : requestId;
    const before = await footprint(key);
    const error = await invoke(errorCase.rpc, request).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(error && { code: error.code, details: error.details }).toEqual({
      code: errorCase.code,
      details: expect.stringMatching(new RegExp(`^${errorCase.field.replace(/[[\].]/g, '\\$&')}: `)),
    });
    expect(error!.metadata.get('alfabet-error-field')).toEqual([errorCase.field]);
    expect(await footprint(key)).toEqual(before);
  },
);

test('the cases cover every RPC and every documented error of both contracts', () => {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(protoRootDir(), DESCRIPTOR_SET_FILE)));
  const registry = createFileRegistry(set);
  // The references the contract says must exist (DESIGN §3, the protos' comments): unknown is NOT_FOUND.
  const mustExist: Record<string, string[]> = {
    GetAccount: ['account_id'],
    Transfer: ['src_account_id', 'dst_account_id'],
    BankTransaction: ['dst_account_id'],
    BatchTransfer: ['transfers[1].src_account_id', 'transfers[1].dst_account_id'],
    GetTransaction: ['transaction_id', 'request_id'],
    ListTransactions: ['account_id'],
    RequestAdvance: ['account_id'],
    GetAdvance: ['advance_id'],
  };
  const missingCases: string[] = [];
  for (const serviceName of Object.keys(SERVICES)) {
    const service = registry.getService(serviceName)!;
    for (const method of service.methods) {
      const covered = new Set(cases.filter((c) => c.rpc === method.name).map((c) => c.covers));
      const required = [...requiredCases(method.input), ...(mustExist[method.name] ?? []).map((f) => `${f}:unknown`)];
      for (const key of required) if (!covered.has(key)) missingCases.push(`${method.name} ${key}`);
      if (covered.size === 0) missingCases.push(`${method.name} (no case at all)`);
    }
  }
  expect(missingCases).toEqual([]);
});

/**
 * The error cases a request message's fields call for, by the contract's rules. A repeated
 * message field (BatchTransfer's transfers) calls for its own empty and oversize cases and, for
 * its items, every case of the item's message, named as the error names them: `transfers[1].amount`.
 */
function requiredCases(message: DescMessage, prefix = ''): string[] {
  const required: string[] = [];
  for (const field of message.fields) {
    if (field.fieldKind === 'list' && field.listKind === 'message') {
      required.push(`${field.name}:empty`, `${field.name}:oversize`);
      required.push(...requiredCases(field.message, `${prefix}${field.name}[1].`));
      continue;
    }
    const name = prefix + field.name;
    if (field.fieldKind === 'scalar' && name.endsWith('_id')) required.push(`${name}:malformed`);
    if (field.fieldKind === 'message' && field.message.typeName === 'google.protobuf.Timestamp')
      required.push(`${name}:nanos-negative`, `${name}:nanos-too-large`);
    if (field.fieldKind === 'enum') required.push(`${name}:unknown-enum`);
    if (name === 'page_size') required.push('page_size:too-large', 'page_size:negative');
    if (name.endsWith('_token')) required.push(`${name}:forged`);
    if (field.name === 'amount') required.push(`${name}:zero`, `${name}:negative`);
    if (field.name === 'request_id' && !field.oneof) required.push(`${name}:reused`);
  }
  return required;
}
