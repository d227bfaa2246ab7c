// How our Node services are started: V8 heap and glibc malloc settings.
// `npm start` (scripts/stack.mjs) and the benchmarks start every service with
// them; the Dockerfiles set the same values (ENV NODE_OPTIONS, MALLOC_ARENA_MAX).
// An operator's own NODE_OPTIONS comes after ours, so its flags win.
//
// Why (measured on the 2-core bench machine, docs/benchmarks.md "Memory"):
// - --max-semi-space-size=16: Node 24's V8 grows the young generation to 128 MiB
//   under load (64 MiB semi-spaces), where 16 MiB ones serve these services as
//   well: accounts-manager's RSS at 128 callers 270–300 → 155–160 MiB, its CPU
//   per call unchanged within the noise.
// - --max-old-space-size=512: with the default limit (4 GiB on a 24 GiB machine)
//   V8 lets the old generation grow 4× past what is live before collecting
//   (35 MiB live → 140 MiB); a 512 MiB limit makes it collect sooner. Live heaps
//   are 35–70 MiB; 512 MiB leaves room for bursts.
// - MALLOC_ARENA_MAX=2: the advances worker's Temporal core (Rust, a thread
//   pool) and V8's helper threads each get a malloc arena of their own by
//   default (8 per core) and keep what they freed; two arenas kept the worker's
//   peak with 1 000 advances in flight ~100–200 MiB lower. No effect measured
//   on accounts-manager, where it does no harm.
export const SERVICE_NODE_OPTIONS = '--max-semi-space-size=16 --max-old-space-size=512';
export const SERVICE_MALLOC_ARENA_MAX = '2';

// accounts-manager's own (docs/benchmarks.md, "Old-space collections every 200 ms"):
// - --heap-growing-percent=100: let the old generation grow to twice what was
//   live after a full collection before the next. With V8's own factor under a
//   512 MiB limit, accounts-manager's old generation (~30 MiB live) kept less
//   room than the young generation, so V8 ran a full mark-compact every ~200 ms
//   whatever the load (pauses of 3–12 ms): the first report page's p99 was 22 ms
//   against 11 for the same SQL alone; with it, 8–10 ms against 7–8, and CPU per
//   Transfer at ×128 81–88 µs against 104–108. V8 takes this flag only on the
//   command line (NODE_OPTIONS refuses it). It is V8's, not Node's: a Node whose
//   V8 dropped it would refuse to start ("bad option", exit 9), which the stack
//   and compose tests would show at once.
// - --max-semi-space-size=8: the young generation half as large keeps the RSS
//   that flag adds small: 181–186 MiB under Transfer ×128 against 178 before
//   (16 MiB semi-spaces with the flag: 194–200 MiB).
export const ACCOUNTS_NODE_OPTIONS = '--max-semi-space-size=8 --max-old-space-size=512';
export const ACCOUNTS_NODE_ARGS = ['--heap-growing-percent=100'];

/**
 * `env` for starting one of our Node services: our settings first, the operator's own after them.
 * `nodeOptions`: the service's own (ACCOUNTS_NODE_OPTIONS for accounts-manager).
 */
export function serviceEnv(env, nodeOptions = SERVICE_NODE_OPTIONS) {
  return {
    ...env,
    NODE_OPTIONS: `${nodeOptions} ${env.NODE_OPTIONS ?? ''}`.trim(),
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? SERVICE_MALLOC_ARENA_MAX,
  };
}

/** `env` and node's own arguments (before the script) for starting accounts-manager. */
export function accountsManagerRuntime(env) {
  return { env: serviceEnv(env, ACCOUNTS_NODE_OPTIONS), nodeArgs: ACCOUNTS_NODE_ARGS };
}
