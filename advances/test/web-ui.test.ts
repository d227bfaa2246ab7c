import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ledgerApi } from '../../accounts-manager/test/support/ledger-harness.js';
import type { AdvanceView } from '../src/domain/advance-types.js';
import { advancesApi, startAdvancesStack, type AdvancesStack } from './support/advances-harness.js';

/**
 * What ops see: headless Chromium (Debian's package, driven by playwright-core)
 * opens the Temporal Web UI of the dev server on an advance this test ran,
 * finds it by its search attributes, and sees its timers and payment
 * activities. Screenshots go to test-results/web-ui/ (gitignored).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'test-results', 'web-ui');

let stack: AdvancesStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startAdvancesStack({
    temporal: 'dev-server',
    env: { ADVANCE_PAYMENT_INTERVAL: '1s', ADVANCE_INSTALLMENTS: '3' },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

it('shows an advance workflow, its timers and its payment activities', async () => {
  const accountId = await ledgerApi(stack.ledger.client).fundedAccount(0n, 'Web UI borrower');
  const advance = await advancesApi(stack.client).requestAdvance({ accountId, amount: 30_000n });
  const handle = stack.temporal.client.workflow.getHandle(advance.workflowId);
  const view = (await handle.result()) as AdvanceView;
  expect(view.status).toBe('REPAID');
  const { runId } = await handle.describe();

  const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
  try {
    // Found by the search attribute ops filter on.
    const query = encodeURIComponent(`AdvanceAccountId="${accountId}"`);
    await page.goto(`${stack.temporal.uiUrl}/namespaces/default/workflows?query=${query}`);
    await page.getByText(advance.workflowId).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SCREENSHOTS, 'advances-by-account.png'), fullPage: true });

    // The workflow's history: the timers before each payment and the payment activities.
    await page.goto(`${stack.temporal.uiUrl}/namespaces/default/workflows/${advance.workflowId}/${runId}/history`);
    await page.getByText('advanceWorkflow').first().waitFor({ timeout: 30_000 });
    // The page fills in its events as they load: wait until all of them are shown (a loaded machine
    // has been seen rendering 2 of the 3 timers at first), then assert exactly what is there.
    const text = await bodyTextOnceShown(page, ['Timer Started', 'Timer Fired', 'collectPayment'], 3);
    // Three payments: each a timer, then the payment activity with its summary.
    expect(text.match(/Timer Started/g)).toHaveLength(3);
    expect(text.match(/Timer Fired/g)).toHaveLength(3);
    expect(text).toContain('disburseAdvance');
    expect(text.match(/collectPayment/g)).toHaveLength(3);
    for (const n of [1, 2, 3]) expect(text).toContain(`Payment ${n}: debit 100.00 from account ${accountId}`);
    await page.screenshot({ path: join(SCREENSHOTS, 'advance-workflow-history.png'), fullPage: true });
  } catch (error) {
    await page.screenshot({ path: join(SCREENSHOTS, 'failure.png'), fullPage: true }).catch(() => undefined);
    throw error;
  } finally {
    await page.close();
  }
}, 120_000);

/**
 * The page's text once each of `events` shows at least `times` times (or the last text read, after
 * 30 s). Polled from here, not with page.waitForFunction: the Web UI's Content-Security-Policy
 * forbids eval, and waitForFunction evaluates a string predicate with eval on every poll after the
 * first, so it failed whenever the page was not complete at the first look (seen on a loaded CI run).
 */
async function bodyTextOnceShown(page: Page, events: string[], times: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await page.locator('body').innerText();
    const shown = events.every((event) => text.split(event).length - 1 >= times);
    if (shown || Date.now() > deadline) return text;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
