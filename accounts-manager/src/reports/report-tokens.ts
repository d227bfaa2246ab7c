import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { invalidArgument } from '@alfabet/service-kit/field-error';
import type { PageCursor, ReportSnapshot } from './report-types.js';

/**
 * Report tokens are sealed with AES-256-GCM under a key derived from
 * REPORT_TOKEN_SECRET: opaque to clients (they cannot read the snapshot or
 * filters inside) and authenticated (a changed, truncated, extended or
 * foreign token fails to open). A token also says which kind it is, so a
 * page_token cannot pose as a snapshot_token, and when it was issued, so it
 * expires. The IV is derived from the content (synthetic IV), so one snapshot
 * always gets the same snapshot_token, and an IV is never reused for
 * different content.
 *
 *   token = base64url( version(1) | iv(12) | ciphertext | tag(16) )
 *
 * Version 2 tokens also carry the ledger epoch of their snapshot and its
 * cluster (db/ledger-epochs.sql.ts), so they stay exact after a restore into
 * another cluster. Version 1 tokens (issued before epochs, at most one
 * REPORT_TOKEN_TTL before the upgrade) are still accepted: they were taken on
 * the cluster the epochs migration ran on, which is epoch 1. The version byte
 * is authenticated (the AAD), so no token can change its version.
 */
const VERSION = 2;
const EPOCHLESS_VERSION = 1;
/** What a version 1 token's snapshot is read as: the epoch of the cluster the epochs migration ran on. */
const EPOCHLESS_EPOCH = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const micros = z
  .string()
  .regex(/^-?\d{1,19}$/)
  .transform(BigInt);
const snapshotPayload = z
  .object({
    kind: z.enum(['snapshot', 'page']),
    snapshot: z.string().regex(/^\d+:\d+:(\d+(,\d+)*)?$/),
    startUs: micros,
    endUs: micros.nullable(),
    accountId: z.string().uuid().nullable(),
    pageSize: z.number().int().min(1).max(1000),
    totalSize: z
      .string()
      .regex(/^\d{1,19}$/)
      .transform(BigInt),
    takenAtMs: z.number().int().nonnegative(),
    page: z.number().int().min(1).optional(),
    afterCreateTimeUs: micros.optional(),
    afterTransactionId: z.string().uuid().optional(),
    epoch: z.number().int().min(1).optional(),
    cluster: z
      .string()
      .regex(/^\d{1,20}$/)
      .optional(),
  })
  .strict();

export type TokenField = 'snapshot_token' | 'page_token';

export class ReportTokens {
  // Key objects made once: a Buffer key is turned into one on every seal (a page's token: 1.7 % of a
  // streamed report's CPU, docs/benchmarks.md "Report at scale").
  private readonly key: KeyObject;
  private readonly ivKey: KeyObject;

  constructor(
    secret: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createSecretKey(
      Buffer.from(hkdfSync('sha256', secret, 'alfabet.accounts.v1.ListTransactions', 'report-token-v1', 32)),
    );
    this.ivKey = createSecretKey(
      Buffer.from(hkdfSync('sha256', secret, 'alfabet.accounts.v1.ListTransactions', 'report-token-v1-iv', 32)),
    );
  }

  sealSnapshot(snapshot: ReportSnapshot): string {
    return this.seal({ kind: 'snapshot', ...flatten(snapshot) });
  }

  sealPage(snapshot: ReportSnapshot, cursor: PageCursor): string {
    return this.seal({
      kind: 'page',
      ...flatten(snapshot),
      page: cursor.page,
      afterCreateTimeUs: cursor.afterCreateTimeUs.toString(),
      afterTransactionId: cursor.afterTransactionId,
    });
  }

  openSnapshot(token: string): ReportSnapshot {
    return this.open('snapshot_token', 'snapshot', token).snapshot;
  }

  openPage(token: string): { snapshot: ReportSnapshot; cursor: PageCursor } {
    const { snapshot, payload } = this.open('page_token', 'page', token);
    if (
      payload.page === undefined ||
      payload.afterCreateTimeUs === undefined ||
      payload.afterTransactionId === undefined
    ) {
      throw invalidToken('page_token');
    }
    return {
      snapshot,
      cursor: {
        page: payload.page,
        afterCreateTimeUs: payload.afterCreateTimeUs,
        afterTransactionId: payload.afterTransactionId,
      },
    };
  }

  /** A snapshot that came from a version 1 token (no cluster) stays one: its pages' tokens are version 1 too. */
  private seal(payload: { kind: string; cluster?: string } & Record<string, unknown>): string {
    const version = payload.cluster === undefined ? EPOCHLESS_VERSION : VERSION;
    const plaintext = JSON.stringify(payload);
    const iv = createHmac('sha256', this.ivKey).update(plaintext).digest().subarray(0, IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from([version]));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([version]), iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  private open(field: TokenField, kind: 'snapshot' | 'page', token: string) {
    const payload = this.decrypt(field, token);
    if (payload.kind !== kind) {
      throw invalidArgument(field, `is a ${payload.kind === 'page' ? 'page_token' : 'snapshot_token'}, not a ${field}`);
    }
    const snapshot: ReportSnapshot = {
      filter: { startUs: payload.startUs, endUs: payload.endUs, accountId: payload.accountId },
      pageSize: payload.pageSize,
      snapshot: payload.snapshot,
      epoch: payload.epoch ?? EPOCHLESS_EPOCH,
      cluster: payload.cluster ?? null,
      totalSize: payload.totalSize,
      takenAtMs: payload.takenAtMs,
    };
    if (this.now() - snapshot.takenAtMs > this.ttlMs) {
      throw invalidArgument(
        field,
        `has expired (report tokens last ${Math.round(this.ttlMs / 1000)} s); start a new listing`,
      );
    }
    return { snapshot, payload };
  }

  private decrypt(field: TokenField, token: string): z.output<typeof snapshotPayload> {
    // base64url only: Buffer.from would silently skip other characters.
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalidToken(field);
    const raw = Buffer.from(token, 'base64url');
    const version = raw[0];
    if (
      raw.length < 1 + IV_BYTES + TAG_BYTES + 2 ||
      (version !== VERSION && version !== EPOCHLESS_VERSION) ||
      raw.toString('base64url') !== token
    ) {
      throw invalidToken(field);
    }
    const iv = raw.subarray(1, 1 + IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    const body = raw.subarray(1 + IV_BYTES, raw.length - TAG_BYTES);
    let text: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from([version]));
      decipher.setAuthTag(tag);
      text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      throw invalidToken(field);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw invalidToken(field);
    }
    const result = snapshotPayload.safeParse(parsed);
    if (!result.success) throw invalidToken(field);
    // A version 2 token names its epoch and cluster; a version 1 token predates them.
    const hasEpoch = result.data.epoch !== undefined && result.data.cluster !== undefined;
    const hasNeither = result.data.epoch === undefined && result.data.cluster === undefined;
    if (version === VERSION ? !hasEpoch : !hasNeither) throw invalidToken(field);
    return result.data;
  }
}

function flatten(snapshot: ReportSnapshot) {
  return {
    snapshot: snapshot.snapshot,
    ...(snapshot.cluster === null ? {} : { epoch: snapshot.epoch, cluster: snapshot.cluster }),
    startUs: snapshot.filter.startUs.toString(),
    endUs: snapshot.filter.endUs?.toString() ?? null,
    accountId: snapshot.filter.accountId,
    pageSize: snapshot.pageSize,
    totalSize: snapshot.totalSize.toString(),
    takenAtMs: snapshot.takenAtMs,
  };
}

function invalidToken(field: TokenField) {
  return invalidArgument(
    field,
    'is not a valid token (changed, truncated, or issued by another server); use the token exactly as received',
  );
}
