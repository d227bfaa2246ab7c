import { duration } from '@alfabet/service-kit/config-parsing';
import type { ReportHorizon } from './report-horizon.sql.js';

/**
 * Where `transactions:archive` stops: the report horizon the running servers
 * recorded in the database (report-horizon.sql.ts), never the command's own
 * environment. The command's input can only move the cutoff earlier, and input
 * that would reach past the horizon, or that is malformed, is refused before
 * anything moves, with a message naming the option.
 */

export class ArchiveInputError extends Error {}

export interface ArchiveOptions {
  dryRun: boolean;
  /** Archive only days that end on or before this UTC midnight. */
  before: Date | null;
  /** Keep running, archiving again this often (ms); null: one run, then exit. */
  everyMs: number | null;
}

/**
 * The command line: `--dry-run`, `--before=YYYY-MM-DD`, `--every=<duration>` (each also as
 * `--option value`); anything else is refused. `--every` keeps to the horizon the servers
 * record, so it takes neither of the others (a fixed date, or a look, is a one-off run).
 */
export function parseArchiveArgs(argv: string[]): ArchiveOptions {
  const options: ArchiveOptions = { dryRun: false, before: null, everyMs: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const valueOf = (option: string) => (arg === option ? argv[++i] : arg.slice(option.length + 1));
    if (arg === '--dry-run') options.dryRun = true;
    else if (arg === '--before' || arg.startsWith('--before='))
      options.before = utcDate('--before', valueOf('--before'));
    else if (arg === '--every' || arg.startsWith('--every=')) options.everyMs = interval(valueOf('--every'));
    else throw new ArchiveInputError(`unknown option ${arg} (use --dry-run, --before=YYYY-MM-DD, --every=24h)`);
  }
  if (options.everyMs !== null && (options.dryRun || options.before !== null))
    throw new ArchiveInputError('--every takes neither --dry-run nor --before: those are for one run');
  return options;
}

/** The longest --every: a week (the days past the horizon wait at most that long to move). */
const MAX_EVERY_MS = 7 * 86_400_000;

function interval(value: string | undefined): number {
  if (!value) throw new ArchiveInputError('--every needs a duration, like --every=24h');
  const parsed = duration('--every').safeParse(value);
  if (!parsed.success) throw new ArchiveInputError(parsed.error.issues[0]!.message);
  if (parsed.data > MAX_EVERY_MS) throw new ArchiveInputError(`--every must be at most 7d (got "${value}")`);
  return parsed.data;
}

function utcDate(option: string, value: string | undefined): Date {
  const date = new Date(`${value}T00:00:00Z`);
  if (
    !value ||
    !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
    Number.isNaN(date.getTime()) ||
    date.toISOString().slice(0, 10) !== value
  ) {
    throw new ArchiveInputError(`${option} must be a date YYYY-MM-DD (UTC), got "${value ?? ''}"`);
  }
  return date;
}

/** The command's own report settings, when its environment sets them (only to be checked, never to widen the archive). */
export interface OwnReportSettings {
  /** REPORT_WINDOW plus the start-time grace, if REPORT_WINDOW is set. */
  reachMs: number | null;
  ttlMs: number | null;
}

/**
 * The cutoff: the recorded horizon, or --before if earlier. A REPORT_WINDOW or
 * REPORT_TOKEN_TTL shorter than the servers' is refused: whoever set it expects
 * days to move that live tokens still cover.
 */
export function archiveCutoff(horizon: ReportHorizon | null, own: OwnReportSettings, options: ArchiveOptions): Date {
  if (!horizon) {
    throw new ArchiveInputError(
      'the ledger has no report horizon recorded yet (start accounts-manager once, it records it at start); nothing archived',
    );
  }
  if (own.reachMs !== null && own.reachMs < horizon.reachMs) {
    throw new ArchiveInputError(
      `REPORT_WINDOW is shorter than the running servers' (${days(horizon.reachMs)} with the start-time grace): ` +
        'live report tokens still cover those days; unset it or make it match; nothing archived',
    );
  }
  if (own.ttlMs !== null && own.ttlMs < horizon.ttlMs) {
    throw new ArchiveInputError(
      `REPORT_TOKEN_TTL is shorter than the running servers' (${horizon.ttlMs / 1000} s): unset it or make it match; nothing archived`,
    );
  }
  if (options.before && options.before > horizon.horizon) {
    throw new ArchiveInputError(
      `--before ${options.before.toISOString().slice(0, 10)} is later than the report horizon ` +
        `${horizon.horizon.toISOString()} (live report tokens reach back to it); nothing archived`,
    );
  }
  return options.before ?? horizon.horizon;
}

const days = (ms: number) => `${(ms / 86_400_000).toFixed(3)} d`;
