import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type pg from 'pg';
import { quoteIdent } from './archive.sql.js';

/**
 * The export of an archived day, written before the day is dropped past
 * ARCHIVE_RETENTION (retention.sql.ts): the bank keeps its records, outside
 * the database. Raw SQL, on purpose: a keyset walk over one partition of
 * archive.transactions (no entity describes the per-day tables) in which
 * PostgreSQL itself renders each row as JSON (row_to_json), exactly: times to
 * the microsecond in UTC, amounts as strings. Rare (a day's file a day, once
 * retention starts dropping), so no figure is at stake.
 *
 * Two files per day in ARCHIVE_EXPORT_DIR:
 *   transactions-YYYY-MM-DD.jsonl.gz       one JSON object a transaction, ordered by create_time, transaction_id
 *   transactions-YYYY-MM-DD.manifest.json  the day, the row count, the data file's size and SHA-256
 * Each is written to a temporary name, fsynced and renamed, the manifest last:
 * a manifest names a complete data file. A kill leaves at most a temporary
 * file, which the next run replaces; an export whose manifest matches its file
 * and the day's row count is kept as it is (export storage may be write-once).
 */

/** The columns exported, in this order (xact_id is left out: it means nothing outside this cluster). */
export const EXPORT_COLUMNS = [
  'transaction_id',
  'create_time',
  'request_id',
  'kind',
  'src_account_id',
  'dst_account_id',
  'amount',
  'direction',
  'description',
  'status',
  'failure_reason',
  'failure_message',
  'from_account_id',
  'to_account_id',
  'initiated_by',
] as const;

const BATCH = 10_000;

export interface DayExport {
  day: string;
  /** The data file's name in the export directory. */
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
}

interface Manifest extends DayExport {
  format: string;
  columns: readonly string[];
  exportedAt: string;
}

const dataFile = (day: string) => `transactions-${day}.jsonl.gz`;
const manifestFile = (day: string) => `transactions-${day}.manifest.json`;

/**
 * The day's export in `dir`: the one already there if its manifest matches
 * its data file and `rows`, otherwise a fresh one.
 */
export async function exportArchivedDay(
  client: pg.PoolClient,
  dir: string,
  partition: string,
  day: string,
): Promise<DayExport> {
  const rows = await countRows(client, partition);
  const existing = await readExport(dir, day);
  if (existing && existing.rows === rows) return existing;
  const written = await writeData(client, dir, partition, day);
  if (written.rows !== rows) {
    throw new Error(`the export of ${day} read ${written.rows} rows where the day holds ${rows}; nothing dropped`);
  }
  const manifest: Manifest = {
    ...written,
    format: 'gzip of JSON Lines: one transaction a line, ordered by create_time, transaction_id; times UTC (µs)',
    columns: EXPORT_COLUMNS,
    exportedAt: new Date().toISOString(),
  };
  await writeDurably(join(dir, manifestFile(day)), `${JSON.stringify(manifest, null, 2)}\n`);
  return written;
}

/** The export of `day` as its manifest describes it, if the data file is there and matches it; null otherwise. */
export async function readExport(dir: string, day: string): Promise<DayExport | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, manifestFile(day)), 'utf8')) as Manifest;
  } catch {
    return null;
  }
  const path = join(dir, manifest.file);
  const size = await stat(path).then(
    (s) => s.size,
    () => -1,
  );
  if (manifest.day !== day || size !== manifest.bytes) return null;
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  if (hash.digest('hex') !== manifest.sha256) return null;
  return { day, file: manifest.file, rows: manifest.rows, bytes: manifest.bytes, sha256: manifest.sha256 };
}

async function countRows(client: pg.PoolClient, partition: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM archive.${quoteIdent(partition)}`);
  return Number(rows[0]!.n);
}

/** The day's rows, gzipped, to a temporary file, then fsynced and renamed into place. */
async function writeData(client: pg.PoolClient, dir: string, partition: string, day: string): Promise<DayExport> {
  const file = dataFile(day);
  const temporary = join(dir, `.${file}.${process.pid}.partial`);
  const hash = createHash('sha256');
  let bytes = 0;
  let rows = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const lines = async function* () {
    for await (const batch of rowBatches(client, partition)) {
      rows += batch.length;
      yield `${batch.join('\n')}\n`;
    }
  };
  try {
    await pipeline(Readable.from(lines()), createGzip(), counted, createWriteStream(temporary));
    await fsync(temporary);
    await rename(temporary, join(dir, file));
    await fsync(dir);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return { day, file, rows, bytes, sha256: hash.digest('hex') };
}

/** The partition's rows as JSON text, BATCH at a time, walking its primary key (create_time, transaction_id). */
async function* rowBatches(client: pg.PoolClient, partition: string): AsyncGenerator<string[]> {
  // The session's time zone decides how row_to_json writes a timestamptz: UTC, whatever the server's default.
  await client.query(`SET TIME ZONE 'UTC'`);
  let after = { time: '-infinity', id: '00000000-0000-0000-0000-000000000000' };
  for (;;) {
    const { rows } = await client.query<{ line: string; time: string; id: string }>(
      `SELECT row_to_json(t)::text AS line, t.create_time::text AS time, t.transaction_id::text AS id
       FROM (SELECT ${EXPORT_COLUMNS.map((c) => (c === 'amount' ? 'amount::text AS amount' : c)).join(', ')}
             FROM archive.${quoteIdent(partition)}
             WHERE (create_time, transaction_id) > ($1::timestamptz, $2::uuid)
             ORDER BY create_time, transaction_id
             LIMIT ${BATCH}) t
       ORDER BY t.create_time, t.transaction_id`,
      [after.time, after.id],
    );
    if (rows.length === 0) return;
    yield rows.map((row) => row.line);
    const last = rows[rows.length - 1]!;
    after = { time: last.time, id: last.id };
  }
}

/** Writes `text` to `path` through a temporary file, fsynced, renamed, the directory fsynced. */
async function writeDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.partial`;
  await writeFile(temporary, text);
  await fsync(temporary);
  await rename(temporary, path);
  await fsync(join(path, '..'));
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
