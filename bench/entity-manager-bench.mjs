// The price of the EntityManager on the ledger's account calls (CreateAccount,
// GetAccount go through accounts-manager/src/db/account-store.ts), next to its
// anchor: the same row read by one prepared statement on the native pool, in
// the same process and the same run. CPU of this process per call, after a
// warm-up; no gRPC, so only the persistence layer's own cost is in the figure.
import { openDatabase } from '../accounts-manager/dist/src/db/orm.js';
import { findAccount, insertAccount } from '../accounts-manager/dist/src/db/account-store.js';
import { ratio } from './stats.mjs';

const ACCOUNT_ROW = `SELECT account_id, display_name, balance,
  (extract(epoch FROM create_time) * 1000000)::bigint AS create_time_us,
  (extract(epoch FROM update_time) * 1000000)::bigint AS update_time_us
  FROM accounts WHERE account_id = $1`;

/** µs of this process's CPU, and of wall time, per call of `call` over `calls` calls. */
async function perCall(calls, call) {
  for (let i = 0; i < Math.min(200, calls); i++) await call();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < calls; i++) await call();
  const used = process.cpuUsage(cpu);
  return {
    cpuUs: Math.round((used.user + used.system) / calls),
    wallUs: Math.round(((performance.now() - started) * 1000) / calls),
  };
}

export async function entityManagerBenchmark({ databaseUrl, calls, say }) {
  const log = { info: () => undefined };
  const { orm, pool } = await openDatabase({ databaseUrl, poolSize: 4, statementTimeoutMs: 10_000 }, log);
  try {
    const account = await insertAccount(orm.em, null, 'entity-manager bench');
    const raw = await perCall(calls, () =>
      pool.query({ name: 'bench_get_account', text: ACCOUNT_ROW, values: [account.accountId] }),
    );
    const get = await perCall(calls, () => findAccount(orm.em, account.accountId));
    const create = await perCall(calls, () => insertAccount(orm.em, null, 'entity-manager bench'));
    const result = {
      calls,
      raw,
      get,
      create,
      getRatio: ratio(get.cpuUs, raw.cpuUs),
      createRatio: ratio(create.cpuUs, raw.cpuUs),
    };
    say(
      `accounts through the EntityManager (${calls} calls each): GetAccount read ${get.cpuUs} µs CPU/call, CreateAccount ${create.cpuUs} µs; the same read raw ${raw.cpuUs} µs`,
    );
    return result;
  } finally {
    await orm.close(true);
  }
}
