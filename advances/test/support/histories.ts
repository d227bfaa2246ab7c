import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';

/** Recorded workflow histories (binary protobuf `History`) that the replay test runs the current workflow code against. */
export const HISTORIES_DIR = fileURLToPath(new URL('../histories/', import.meta.url));

/**
 * With ALFABET_RECORD_HISTORIES=1, saves the history of a finished workflow
 * as a replay fixture (commit it): `ALFABET_RECORD_HISTORIES=1 npm test -- advances/test/<the test>`.
 * A recorded history is production's past — what workflows started by older
 * code really did — so it is never re-recorded: a new behaviour gets a new
 * history under a new name, and recording over an existing one is refused.
 */
export async function recordHistoryIfAsked(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.ALFABET_RECORD_HISTORIES !== '1') return;
  const path = `${HISTORIES_DIR}${name}.history.pb`;
  if (existsSync(path))
    throw new Error(
      `${path} is already recorded: histories are never re-recorded; record the new behaviour under a new name`,
    );
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // Binary protobuf: exactly what the server sent, decoded again by the replay test.
  writeFileSync(path, temporal.api.history.v1.History.encode(history).finish());
}
