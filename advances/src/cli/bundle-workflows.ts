import { writeWorkflowBundle } from '../temporal/workflow-code.js';

/**
 * The build's last step (scripts/run.sh build, the Dockerfile): bundles the
 * compiled workflow code into dist/workflow-bundle.js for the worker to load
 * (see ../temporal/workflow-code.ts for why).
 */
writeWorkflowBundle().then(
  ({ file, written }) => console.log(`workflow bundle ${written ? 'written' : 'already current'}: ${file}`),
  (error: unknown) => {
    console.error(`bundling the workflows failed: ${(error as Error)?.stack ?? String(error)}`);
    process.exit(1);
  },
);
