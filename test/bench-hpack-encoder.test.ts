import hpack from 'hpack.js';
import { RequestHeaderEncoder } from '../bench/hpack-request-encoder.mjs';

/**
 * The load client's request headers (bench/hpack-request-encoder.mjs) must
 * mean, to any HPACK decoder that follows the same table, exactly the fields
 * given — call after call, as its dynamic table fills, evicts and shrinks to
 * the size the server allows. hpack.js decodes them here as the server's
 * nghttp2 would.
 */
const fieldsOf = (path: string, timeout = '10000m'): [string, string][] => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', '127.0.0.1:50051'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
  ['grpc-timeout', timeout],
];

function decoderOf(maxSize: number) {
  const decompressor = hpack.decompressor.create({ table: { maxSize } });
  return (block: Buffer) => {
    decompressor.write(block);
    decompressor.execute();
    const fields: [string, string][] = [];
    for (let field = decompressor.read(); field; field = decompressor.read()) fields.push([field.name, field.value]);
    return fields;
  };
}

test('every block decodes to its fields, through inserts, evictions and a smaller table', () => {
  const encoder = new RequestHeaderEncoder();
  const decode = decoderOf(4_096);
  const calls = [];
  // 60 distinct paths (~80 bytes of table each) overflow its 4 096: the oldest entries are evicted on the way.
  for (let i = 0; i < 300; i++)
    calls.push(fieldsOf(`/alfabet.accounts.v1.AccountsService/Method${i % 60}`, `${i % 3}m`));
  for (const fields of calls) expect(decode(encoder.encode(fields))).toEqual(fields);

  encoder.setMaxSize(100); // the server's SETTINGS_HEADER_TABLE_SIZE: the next block announces it
  for (const fields of calls.slice(0, 20)) expect(decode(encoder.encode(fields))).toEqual(fields);
  encoder.setMaxSize(0);
  for (const fields of calls.slice(0, 20)) expect(decode(encoder.encode(fields))).toEqual(fields);
});

test('a call repeated is sent indexed: a few bytes, not its strings again', () => {
  const encoder = new RequestHeaderEncoder();
  const fields = fieldsOf('/alfabet.accounts.v1.AccountsService/Transfer');
  const first = encoder.encode(fields);
  const again = encoder.encode(fields);
  expect(first.length).toBeGreaterThan(100);
  expect(again.length).toBe(fields.length);
  expect(encoder.encode(fields)).toBe(again);
});
