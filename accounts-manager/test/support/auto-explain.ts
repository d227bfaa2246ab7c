import type pg from 'pg';

/**
 * Loads auto_explain into `client`'s session and has it report the plan of
 * every statement that session runs from now on (nested ones too, those of
 * PL/pgSQL functions included) as notices, collected into `plans`. `settings`:
 * more SET statements for the session. stop() stops collecting; auto_explain
 * stays loaded in the session.
 */
export async function explainEveryStatement(
  client: pg.ClientBase,
  settings = '',
): Promise<{ plans: string[]; stop(): void }> {
  const plans: string[] = [];
  const onNotice = (notice: { message?: string }) => plans.push(notice.message ?? '');
  client.on('notice', onNotice);
  await client.query("LOAD 'auto_explain'");
  await client.query(
    `SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; ${settings}`,
  );
  return { plans, stop: () => client.removeListener('notice', onNotice) };
}
