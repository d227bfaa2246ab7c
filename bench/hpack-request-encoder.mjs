// HPACK (RFC 7541) for the request headers of a load client: the few fields a
// gRPC call sends, the same ones call after call. Each is indexed — from the
// static table, or from the dynamic table the first call put it in — so the
// server's decoder finds the strings it already made instead of reading them
// anew (literals every call cost accounts-manager ~10 % more CPU a Transfer
// than node:http2's client, which indexes). Strings are sent raw, not Huffman-coded.
const STATIC_FIELDS = new Map([
  [':method\0POST', 3],
  [':scheme\0http', 6],
]);
const STATIC_NAMES = new Map([
  [':authority', 1],
  [':path', 4],
  ['content-type', 31],
]);
const STATIC_LENGTH = 61;
const DEFAULT_TABLE_SIZE = 4_096;
const ENTRY_OVERHEAD = 32;

export class RequestHeaderEncoder {
  #table = []; // the dynamic table, newest first: { name, value, size }
  #size = 0;
  #maxSize = DEFAULT_TABLE_SIZE;
  #sizeUpdate = null; // a new maximum the next block must announce
  #blocks = new Map(); // fields → their block, while the table stays as it is

  /** The server's SETTINGS_HEADER_TABLE_SIZE: its decoder's limit, which this encoder keeps under. */
  setMaxSize(size) {
    this.#maxSize = Math.min(size, DEFAULT_TABLE_SIZE);
    this.#sizeUpdate = this.#maxSize;
    this.#evict();
    this.#blocks.clear();
  }

  /** `fields`: [name, value] pairs, names in lower case. */
  encode(fields) {
    const key = fields.join('\n');
    const known = this.#blocks.get(key);
    if (known) return known;
    const parts = [];
    let changed = false;
    if (this.#sizeUpdate !== null) {
      parts.push(prefixedInt(this.#sizeUpdate, 5, 0x20));
      this.#sizeUpdate = null;
      changed = true;
    }
    for (const [name, value] of fields) {
      const index =
        STATIC_FIELDS.get(`${name}\0${value}`) ?? this.#dynamicIndex((e) => e.name === name && e.value === value);
      if (index) {
        parts.push(prefixedInt(index, 7, 0x80)); // indexed field (§6.1)
        continue;
      }
      // Literal with incremental indexing (§6.2.1): the server adds it to its table, as this encoder does.
      const nameIndex = STATIC_NAMES.get(name) ?? this.#dynamicIndex((e) => e.name === name) ?? 0;
      parts.push(prefixedInt(nameIndex, 6, 0x40));
      if (nameIndex === 0) parts.push(...rawString(name));
      parts.push(...rawString(value));
      this.#insert(name, value);
      changed = true;
    }
    const block = Buffer.concat(parts);
    // A block that changed the table would change it again if sent twice; one that only indexes is
    // valid until the table next changes, when every remembered block may point elsewhere.
    if (changed) this.#blocks.clear();
    else this.#blocks.set(key, block);
    return block;
  }

  #dynamicIndex(matches) {
    const position = this.#table.findIndex(matches);
    return position < 0 ? undefined : STATIC_LENGTH + 1 + position;
  }

  #insert(name, value) {
    const size = ENTRY_OVERHEAD + Buffer.byteLength(name) + Buffer.byteLength(value);
    this.#table.unshift({ name, value, size });
    this.#size += size;
    this.#evict(); // an entry larger than the table empties it and is not kept (§4.4)
  }

  #evict() {
    while (this.#size > this.#maxSize) this.#size -= this.#table.pop().size;
  }
}

/** HPACK's integer with an N-bit prefix (§5.1), its first byte's high bits `high`. */
function prefixedInt(value, bits, high) {
  const max = (1 << bits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A string literal (§5.2), not Huffman-coded: its length, then its bytes. */
function rawString(text) {
  const bytes = Buffer.from(text, 'utf8');
  return [prefixedInt(bytes.length, 7, 0x00), bytes];
}
