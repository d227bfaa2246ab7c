import { bundleWorkflowCode, DefaultLogger, type WorkerOptions } from '@temporalio/worker';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The workflow code the worker runs. `npm run build` bundles it once
 * (Temporal's webpack bundler) into dist/workflow-bundle.js, and the worker
 * loads that file: bundling at each start held ~90 MiB of the worker's
 * memory for good (webpack and its caches: RSS 109 → 198 MiB after a GC,
 * docs/benchmarks.md "Memory") and took seconds. Under jest (TypeScript
 * sources, no build) the worker bundles the sources itself, as before.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/workflow-bundle.js, next to the compiled dist/src/ it is made from. */
const BUNDLE_FILE = join(HERE, '..', '..', 'workflow-bundle.js');

/**
 * The workflow bundle's entry. Built code has workflows/index.js; under jest
 * (TypeScript sources) it is workflows/index.ts, which the bundler compiles itself.
 */
export function workflowsPath(): string {
  const built = join(HERE, '..', 'workflows', 'index.js');
  return existsSync(built) ? built : join(HERE, '..', 'workflows', 'index.ts');
}

/** True when dist/workflow-bundle.js exists and is at least as new as every compiled file. */
export function bundleIsCurrent(): boolean {
  return existsSync(BUNDLE_FILE) && statSync(BUNDLE_FILE).mtimeMs >= newestCompiledMs(join(HERE, '..'));
}

/** Writes dist/workflow-bundle.js from the compiled workflows (the build's last step), unless it is current. */
export async function writeWorkflowBundle(): Promise<{ file: string; written: boolean }> {
  if (bundleIsCurrent()) return { file: BUNDLE_FILE, written: false };
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  writeFileSync(BUNDLE_FILE, code);
  return { file: BUNDLE_FILE, written: true };
}

/**
 * What Worker.create takes for the workflow code: the built bundle when there
 * is one at least as new as every compiled file (a build that skipped the
 * bundling step must not run yesterday's workflows), else the sources to bundle now.
 */
export function workflowCodeOption(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  return bundleIsCurrent() ? { workflowBundle: { codePath: BUNDLE_FILE } } : { workflowsPath: workflowsPath() };
}

/** The newest modification time of the .js files under `dir` (0 under jest, where there are none). */
function newestCompiledMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestCompiledMs(path));
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
