// Where a reconciliation run spends its time, measured from outside: the
// bench hands runReconciliation wrapped dependencies (database pool, ledger
// client, Temporal client) that time every call. Production code is unchanged.
import { performance } from 'node:perf_hooks';
import { round } from '../stats.mjs';

/**
 * Time per category of call. `busyMs`: the wall-clock time during which at
 * least one call of the category was in flight (16 concurrent describes over
 * 1 s count 1 s, not 16 s). `exclusive()`: the run's wall-clock time split by
 * which categories were in flight together ('db+temporalList', …; 'none' when
 * no call was pending: JavaScript alone), which adds up to the run's time
 * even where the run overlaps its calls.
 */
export function busyClock() {
  let lanes = new Map();
  let together = new Map();
  let last = performance.now();
  const lane = (name) => {
    if (!lanes.has(name)) lanes.set(name, { inFlight: 0, since: 0, busyMs: 0, calls: 0, items: 0 });
    return lanes.get(name);
  };
  /** Books the time since the last call started or ended to the categories in flight meanwhile. */
  const transition = () => {
    const now = performance.now();
    const key =
      [...lanes]
        .filter(([, l]) => l.inFlight > 0)
        .map(([name]) => name)
        .sort()
        .join('+') || 'none';
    together.set(key, (together.get(key) ?? 0) + now - last);
    last = now;
    return now;
  };
  return {
    async time(name, work) {
      const l = lane(name);
      l.calls += 1;
      const now = transition();
      if (l.inFlight++ === 0) l.since = now;
      try {
        return await work();
      } finally {
        const end = transition();
        if (--l.inFlight === 0) l.busyMs += end - l.since;
      }
    },
    /** Counts things a call carried (rows of a page, workflows of a listing). */
    add: (name, items) => {
      lane(name).items += items;
    },
    busy: (name) => (lanes.get(name)?.inFlight ?? 0) > 0,
    reset: () => {
      lanes = new Map();
      together = new Map();
      last = performance.now();
    },
    report: () =>
      Object.fromEntries(
        [...lanes].map(([name, l]) => [name, { calls: l.calls, busyMs: round(l.busyMs, 1), items: l.items }]),
      ),
    exclusive: () => {
      transition();
      return Object.fromEntries([...together].map(([key, ms]) => [key, round(ms, 1)]));
    },
  };
}

/** Forwards everything to `target` except the properties in `overrides` (methods stay bound to the target). */
function override(target, overrides) {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property];
      const value = Reflect.get(object, property);
      return typeof value === 'function' ? value.bind(object) : value;
    },
  });
}

/**
 * The reconciliation's dependencies, timed. Database statements issued while
 * the ledger scan runs (mirroring its pages) count as the scan's.
 */
export function instrumentedDeps(deps, clock) {
  const pool = override(deps.pool, {
    query: (...args) => clock.time(clock.busy('scan') ? 'scanDb' : 'db', () => deps.pool.query(...args)),
  });
  const ledger = override(deps.ledger, {
    findTransactionByRequestId: (...args) =>
      clock.time('ledgerFetch', () => deps.ledger.findTransactionByRequestId(...args)),
    scanTransactions: (window, correlationId, onPage) =>
      clock.time('scan', () =>
        deps.ledger.scanTransactions(window, correlationId, (transactions) => {
          clock.add('scan', transactions.length);
          return onPage(transactions);
        }),
      ),
  });
  const workflow = override(deps.temporal.workflow, {
    getHandle: (...args) => {
      const handle = deps.temporal.workflow.getHandle(...args);
      return override(handle, { describe: () => clock.time('temporalDescribe', () => handle.describe()) });
    },
    list: (...args) => {
      clock.add('temporalListings', 1);
      return timedListing(deps.temporal.workflow.list(...args), clock);
    },
  });
  return { ...deps, pool, ledger, temporal: override(deps.temporal, { workflow }) };
}

/** A Temporal listing whose pages are timed (each next() that waits on the server is a visibility call). */
function timedListing(listing, clock) {
  return override(listing, {
    [Symbol.asyncIterator]: () => {
      const iterator = listing[Symbol.asyncIterator]();
      return override(iterator, {
        next: async () => {
          const step = await clock.time('temporalList', () => iterator.next());
          if (!step.done) clock.add('temporalList', 1);
          return step;
        },
      });
    },
  });
}

/**
 * A run's time by what it was waiting for, adding up to the run's time: the
 * ledger scan's stream and its mirror inserts, ledger fetches by request id,
 * the page's database statements (alone, or while Temporal's listing of the
 * page's workflows was in flight too), Temporal alone (its listing or its
 * describes, with no other call pending: the comparison may run meanwhile),
 * and JavaScript with no call pending (the comparison, building findings).
 */
export function breakdown(lanes, exclusive, totalMs) {
  const ms = Object.fromEntries(CATEGORIES.map((category) => [category, 0]));
  for (const [key, spent] of Object.entries(exclusive)) ms[categoryOf(key.split('+'))] += spent;
  const part = (name, extra = {}) => ({ ms: round(ms[name], 1), share: round(ms[name] / totalMs, 3), ...extra });
  return {
    scanStream: part('scanStream', { rows: lanes.scan?.items ?? 0 }),
    scanMirrorDb: part('scanMirrorDb', { statements: lanes.scanDb?.calls ?? 0 }),
    ledgerFetches: part('ledgerFetches', { calls: lanes.ledgerFetch?.calls ?? 0 }),
    pageDb: part('pageDb', { statements: lanes.db?.calls ?? 0 }),
    pageDbWhileTemporal: part('pageDbWhileTemporal'),
    temporalAlone: part('temporalAlone', {
      describes: lanes.temporalDescribe?.calls ?? 0,
      describeBusyMs: lanes.temporalDescribe?.busyMs ?? 0,
      listings: lanes.temporalListings?.items ?? 0,
      listed: lanes.temporalList?.items ?? 0,
      listBusyMs: lanes.temporalList?.busyMs ?? 0,
    }),
    javascript: part('javascript'),
  };
}

const CATEGORIES = [
  'scanStream',
  'scanMirrorDb',
  'ledgerFetches',
  'pageDb',
  'pageDbWhileTemporal',
  'temporalAlone',
  'javascript',
];

/** Which category a combination of calls in flight is booked to (first match wins, so none counts twice). */
function categoryOf(inFlight) {
  const temporal = inFlight.some((name) => name.startsWith('temporal'));
  if (inFlight.includes('scanDb')) return 'scanMirrorDb';
  if (inFlight.includes('scan')) return 'scanStream';
  if (inFlight.includes('ledgerFetch')) return 'ledgerFetches';
  if (inFlight.includes('db')) return temporal ? 'pageDbWhileTemporal' : 'pageDb';
  return temporal ? 'temporalAlone' : 'javascript';
}
