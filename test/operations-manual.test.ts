import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestLedger, type TestLedger } from '../accounts-manager/test/support/ledger-harness.js';
import { startAdvancesStack, type AdvancesStack } from '../advances/test/support/advances-harness.js';
import { makeTestCertificates, type TestCertificates } from '../test-support/test-certificates.js';

/**
 * docs/operations.md is executable: every `grpcurl` command in its fenced `sh`
 * blocks runs, in the page's order, with the real grpcurl, and must exit 0.
 * The page's own conventions are all this test knows:
 * - `$LEDGER` / `$ADVANCES` are the addresses (set here to a stack on free
 *   ports); a command with `-plaintext` goes to a plaintext stack, any other
 *   (TLS) to a ledger with mutual TLS and authorization on, run from a
 *   directory holding the page's `ca.crt`, `ops.crt` and `ops.key`;
 * - `# → NAME = field.path` under a command copies that field of its answer
 *   into `$NAME` for the commands after it;
 * - a ```json or ```text block right after an `sh` block shows output of the
 *   block's last command: each of its lines, trimmed, with `$NAME` expanded,
 *   must appear in that output, in order (loosely: as a part of a line).
 * And the page must cover the tasks ops do: every RPC of both services,
 * health, list and describe.
 */
const MANUAL = fileURLToPath(new URL('../docs/operations.md', import.meta.url));
const run = promisify(execFile);

interface Command {
  line: number;
  text: string;
  captures: { name: string; path: string }[];
  expected: string[] | null;
}

/** The grpcurl commands of the page's `sh` blocks, with their captures and the output shown after them. */
function manualCommands(markdown: string): Command[] {
  const lines = markdown.split('\n');
  const commands: Command[] = [];
  let lastBlockEnd = -2;
  let lastBlockCommand: Command | null = null;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    const body = lines.slice(start + 1, end);
    const language = fence[1];
    const followsCommands = lines.slice(lastBlockEnd + 1, start).every((line) => line.trim() === '');
    if (language === 'sh') {
      lastBlockCommand = null;
      for (let j = 0; j < body.length; j++) {
        let text = body[j]!;
        const first = start + 2 + j;
        while (text.endsWith('\\') && j + 1 < body.length) text = text.slice(0, -1) + ' ' + body[++j]!.trim();
        const capture = /^# → (\w+) = ([\w.]+)$/.exec(text.trim());
        if (capture && lastBlockCommand) lastBlockCommand.captures.push({ name: capture[1]!, path: capture[2]! });
        if (!/^grpcurl\s/.test(text)) continue;
        lastBlockCommand = { line: first, text, captures: [], expected: null };
        commands.push(lastBlockCommand);
      }
    } else if ((language === 'json' || language === 'text') && followsCommands && lastBlockCommand) {
      lastBlockCommand.expected = body.map((line) => line.trim()).filter(Boolean);
      lastBlockCommand = null;
    } else {
      lastBlockCommand = null;
    }
    lastBlockEnd = end;
    i = end;
  }
  return commands;
}

const commands = manualCommands(readFileSync(MANUAL, 'utf8'));
let plain: AdvancesStack;
let secure: TestLedger;
let certs: TestCertificates;
let workDir: string;
const variables: Record<string, string> = {};

beforeAll(async () => {
  certs = makeTestCertificates();
  workDir = mkdtempSync(join(tmpdir(), 'alfabet-manual-'));
  const ops = certs.client('ops');
  copyFileSync(certs.ca, join(workDir, 'ca.crt'));
  copyFileSync(ops.cert, join(workDir, 'ops.crt'));
  copyFileSync(ops.key, join(workDir, 'ops.key'));
  // The page says `grpcurl`: the real one the toolchain installed, found on PATH.
  const grpcurl = process.env.GRPCURL;
  if (!grpcurl) throw new Error('GRPCURL is not set: run the tests through `npm test`');
  symlinkSync(grpcurl, join(workDir, 'grpcurl'));
  plain = await startAdvancesStack({ noWorker: true });
  secure = await startTestLedger({
    ACCOUNTS_TLS_CERT: certs.server.cert,
    ACCOUNTS_TLS_KEY: certs.server.key,
    ACCOUNTS_TLS_CLIENT_CA: certs.ca,
    ACCOUNTS_AUTH: 'on',
  });
}, 120_000);
afterAll(async () => {
  await secure?.stop();
  await plain?.stop();
  certs?.remove();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const expand = (text: string) => text.replace(/\$(\w+)/g, (whole, name: string) => variables[name] ?? whole);

test.each(commands.map((command) => [command.line, command.text.slice(0, 110), command] as const))(
  'docs/operations.md:%i %s',
  async (_line, _text, command) => {
    const plaintext = /\s-plaintext\s/.test(command.text);
    const env = {
      PATH: `${workDir}:${process.env.PATH}`,
      LEDGER: plaintext ? plain.ledger.address : secure.address,
      ADVANCES: `127.0.0.1:${plain.api.grpc.port}`,
      ...variables,
    };
    const { stdout } = await run('bash', ['-c', command.text], { cwd: workDir, env, maxBuffer: 64 << 20 }).catch(
      (error: { stderr?: string; message: string }) => {
        throw new Error(`${command.text}\nfailed: ${error.stderr || error.message}`);
      },
    );
    for (const { name, path } of command.captures) {
      const answer = JSON.parse(stdout.slice(0, stdout.indexOf('\n}\n') + 2)) as Record<string, unknown>;
      const value = path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], answer);
      if (typeof value !== 'string' || value === '') throw new Error(`${name}: no ${path} in the answer:\n${stdout}`);
      variables[name] = value;
    }
    if (command.expected) expect(firstMissingLine(stdout, command.expected.map(expand))).toBeNull();
  },
);

/** The first expected line that is not part of a line of `output` after the previous one's, or null. */
function firstMissingLine(output: string, expected: string[]): string | null {
  const lines = output.split('\n').map((line) => line.trim());
  let at = 0;
  for (const want of expected) {
    const found = lines.findIndex((line, index) => index >= at && line.includes(want));
    if (found < 0) return `${want}\n  (not found after line ${at} of:)\n${output}`;
    at = found + 1;
  }
  return null;
}

test('the manual covers the tasks of ops: every RPC of both services, health, list and describe', () => {
  const rpcs = [
    'alfabet.accounts.v1.AccountsService/CreateAccount',
    'alfabet.accounts.v1.AccountsService/GetAccount',
    'alfabet.accounts.v1.AccountsService/Transfer',
    'alfabet.accounts.v1.AccountsService/BankTransaction',
    'alfabet.accounts.v1.AccountsService/BatchTransfer',
    'alfabet.accounts.v1.AccountsService/GetTransaction',
    'alfabet.accounts.v1.AccountsService/ListTransactions',
    'alfabet.advances.v1.AdvancesService/RequestAdvance',
    'alfabet.advances.v1.AdvancesService/GetAdvance',
    'alfabet.advances.v1.AdvancesService/ListAdvances',
    'alfabet.advances.v1.AdvancesService/ListReconciliationFindings',
    'grpc.health.v1.Health/Check',
  ];
  const texts = commands.map((command) => command.text);
  const missing = rpcs.filter((rpc) => !texts.some((text) => text.endsWith(` ${rpc}`)));
  expect(missing).toEqual([]);
  for (const verb of [' list', ' describe ']) expect(texts.some((text) => text.includes(verb))).toBe(true);
  expect(texts.some((text) => text.includes('-cert ops.crt'))).toBe(true);
});
