import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A stop that never finishes (a dependency gone mid-close) must not leave the
 * process running: after the hard limit it exits 1, saying why.
 */
const lifecycle = fileURLToPath(new URL('../dist/src/process-lifecycle.js', import.meta.url));

function runWithStop(stop: 'hangs' | 'finishes'): Promise<{ code: number | null; output: string; ms: number }> {
  const script = `
    import { runUntilSignalled } from ${JSON.stringify(lifecycle)};
    const log = { info: (f, m) => console.log(m), error: (f, m) => console.log(m) };
    runUntilSignalled(log, () => ${stop === 'hangs' ? 'new Promise(() => {})' : 'Promise.resolve()'}, 0, 500);
    setInterval(() => {}, 1000); // a server would keep the process alive like this
    console.log('ready');`;
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += String(chunk);
      if (output.includes('ready') && !child.killed) child.kill('SIGTERM');
    });
    child.once('exit', (code) => resolve({ code, output, ms: Date.now() - started }));
  });
}

test('a hung stop is cut off after the hard limit: exit 1, and the reason logged', async () => {
  const { code, output } = await runWithStop('hangs');
  expect(code).toBe(1);
  expect(output).toContain('shutdown did not finish in time; exiting');
});

test('a stop that finishes exits 0', async () => {
  const { code, output } = await runWithStop('finishes');
  expect(code).toBe(0);
  expect(output).toContain('stopped');
});
