import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * A ledger backup is a directory: pg_dump's directory format (which
 * pg_restore reads) plus this manifest, which says what the backup holds —
 * the ledger epoch and cluster it was taken on and the exact snapshot it
 * copied. ledger:restore records that snapshot with the epoch it begins, so a
 * report token taken on the source after the backup is refused on the restore
 * instead of listing rows the backup does not have.
 */
export const MANIFEST_FILE = 'ledger-backup.json';

const manifestSchema = z
  .object({
    format: z.literal('alfabet-ledger-backup'),
    version: z.literal(1),
    database: z.string(),
    epoch: z.number().int().min(1),
    cluster: z.string().regex(/^\d{1,20}$/),
    snapshot: z.string().regex(/^\d+:\d+:(\d+(,\d+)*)?$/),
    takenAt: z.string(),
  })
  .strict();

export type BackupManifest = z.output<typeof manifestSchema>;

export function writeManifest(directory: string, manifest: BackupManifest): void {
  writeFileSync(join(directory, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The manifest of a backup directory; throws naming the file when it is missing or not one of ours. */
export function readManifest(directory: string): BackupManifest {
  const path = join(directory, MANIFEST_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message} (is ${directory} a ledger:backup directory?)`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) throw new Error(`${path} is not a ledger backup manifest: ${result.error.message}`);
  return result.data;
}
