// hpack.js (the bench's HPACK decoder, test/bench-hpack-encoder.test.ts) ships no types: the part used.
declare module 'hpack.js' {
  interface Decompressor {
    write(block: Buffer): void;
    execute(): void;
    read(): { name: string; value: string } | null;
  }
  const hpack: { decompressor: { create(options: { table: { maxSize: number } }): Decompressor } };
  export default hpack;
}
