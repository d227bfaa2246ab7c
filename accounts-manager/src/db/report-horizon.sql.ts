import type pg from 'pg';

/**
 * The report horizon: the oldest instant a report token that is valid now can
 * name. `transactions:archive` reads it from the database and keeps every day
 * after it hot, whatever its own environment says.
 *
 * Why this rule is exact. A new listing starts no earlier than
 * takenAt − reach (reach = REPORT_WINDOW + the start-time grace), and its
 * tokens are accepted while now − takenAt ≤ REPORT_TOKEN_TTL of the server
 * that opens them. So at instant T every valid token was taken at or after
 * T − ttl and names a start at or after T − ttl − reach. Servers may run with
 * different settings (a rolling change of REPORT_WINDOW), so each setting is a
 * row of report_token_issuers and the horizon takes the largest ttl recorded
 * and the largest reach of the settings that can have issued a token still
 * valid: those whose `issuing_until` is within that ttl of T. A server writes
 * `issuing_until` = now() + lease *before* it takes a snapshot and never takes
 * one past its promise without renewing it, so a setting no server runs any
 * more stops counting one ttl after its last promise. If no setting is live
 * (the service has been down longer than a ttl) no token is valid; the
 * largest reach ever recorded still keeps the days a new listing will reach.
 *
 * Raw SQL, on purpose: both statements compute with the database's clock
 * (now()), which every server and transactions:archive share, and the promise
 * is an upsert that may only extend it (greatest() in ON CONFLICT DO UPDATE) —
 * neither is a unit-of-work flush or a find(). They are rare (a write about
 * once a minute per server, a read per archive run), so no figure is at stake;
 * the table itself is described by entities/report-token-issuer.entity.ts.
 */

/** How long a promise to issue lasts; renewed when less than RENEW_BEFORE_MS is left (≈ one write a minute). */
export const ISSUING_LEASE_MS = 60_000;
const RENEW_BEFORE_MS = 15_000;

export interface ReportHorizon {
  /** Oldest instant a valid token (or a new listing) can name: days ending after it stay hot. */
  horizon: Date;
  /** The reach and ttl the horizon was computed from (the largest of the live settings). */
  reachMs: number;
  ttlMs: number;
}

/** A server's promise, kept in the database, that it may issue report snapshots with its settings. */
export class ReportIssuer {
  private promisedUntilMs = 0;
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly reachMs: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves once the database holds a promise covering this instant; a write at most about once a minute. */
  async beforeIssuing(): Promise<void> {
    if (this.now() < this.promisedUntilMs - RENEW_BEFORE_MS) return;
    this.renewing ??= this.record().finally(() => {
      this.renewing = null;
    });
    await this.renewing;
  }

  /** Records this server's settings and promise (at start, and by beforeIssuing). */
  async record(): Promise<void> {
    const sentAt = this.now();
    await this.pool.query(
      `INSERT INTO report_token_issuers (reach_ms, ttl_ms, issuing_until)
       VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
       ON CONFLICT (reach_ms, ttl_ms) DO UPDATE
         SET issuing_until = greatest(report_token_issuers.issuing_until, excluded.issuing_until)`,
      [this.reachMs, this.ttlMs, ISSUING_LEASE_MS],
    );
    // The database's promise runs from when it ran the statement, which is after sentAt.
    this.promisedUntilMs = sentAt + ISSUING_LEASE_MS;
  }
}

/**
 * The horizon again, inside the archive's move transaction: a server that started
 * since with a longer REPORT_WINDOW has recorded it (its record waits for this
 * SHARE lock, so it cannot take a snapshot before the move commits).
 */
export async function readReportHorizonLocked(client: pg.PoolClient): Promise<Date> {
  await client.query('LOCK TABLE report_token_issuers IN SHARE MODE');
  return (await readReportHorizon(client))?.horizon ?? new Date(0);
}

/** Reads the horizon the servers recorded; null when no server has recorded one yet. */
export async function readReportHorizon(db: pg.Pool | pg.PoolClient): Promise<ReportHorizon | null> {
  // The horizon as epoch microseconds: the service's own pools read timestamps as text (exact to the
  // microsecond), the commands' as Date; a number means the same in both.
  const { rows } = await db.query<{ horizon_us: string | null; reach_ms: string | null; ttl_ms: string | null }>(`
    WITH m AS (SELECT max(ttl_ms) AS ttl_ms, max(reach_ms) AS any_reach_ms FROM report_token_issuers),
         live AS (SELECT max(i.reach_ms) AS reach_ms FROM report_token_issuers i, m
                  WHERE i.issuing_until >= now() - m.ttl_ms * interval '1 millisecond'),
         r AS (SELECT m.ttl_ms, coalesce(live.reach_ms, m.any_reach_ms) AS reach_ms FROM m, live)
    SELECT floor(extract(epoch FROM now() - (r.ttl_ms + r.reach_ms) * interval '1 millisecond') * 1000000)::bigint::text
             AS horizon_us, r.reach_ms, r.ttl_ms
      FROM r`);
  const row = rows[0];
  if (!row?.horizon_us || row.reach_ms === null || row.ttl_ms === null) return null;
  // Down to the millisecond a Date holds: earlier, never later, than the exact horizon.
  const horizon = new Date(Math.floor(Number(row.horizon_us) / 1000));
  return { horizon, reachMs: Number(row.reach_ms), ttlMs: Number(row.ttl_ms) };
}
