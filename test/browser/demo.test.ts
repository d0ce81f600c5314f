import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';
import { money } from '../../web/format.js';
import { loadScenario } from '../../src/demo/scenario.js';

// The conference demo seen in Chromium, as a prospect would: `iron-cage demo` at a brisk pace
// (0.25 s a lead: the page is open seconds before lead 34), its pop-ups in the scenario's order,
// and the final figures on the page matching the demo's own results.

const CLI = join(ROOT, 'dist/cli.js');
const work = tempDir('iron-cage-demo-browser-');
let browser: TestBrowser;
let demo: ChildProcess | undefined;
let page: WatchedPage | undefined;

/** Records every pop-up as it appears, before the page's own scripts run. */
const RECORD_TOASTS = `
window.__toasts = [];
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.dataset && n.dataset.testid === 'toast') window.__toasts.push(n.dataset.kind + ': ' + n.innerText.split('\\n')[0]);
  }
}).observe(document, { childList: true, subtree: true });`;

beforeAll(async () => {
  browser = await launchBrowser();
}, 30_000);

afterAll(async () => {
  await page?.close();
  if (demo && demo.exitCode === null) demo.kill('SIGKILL');
  await browser?.close();
  work.cleanup();
});

describe('iron-cage demo in Chromium', () => {
  it('shows the pop-ups in order (breaker, PII, budget) and the final results on the page', async () => {
    let out = '';
    demo = spawn(process.execPath, [CLI, 'demo', '--pace', '0.25', '--port', '0', '--db', join(work.dir, 'demo.db'), '--stay'], {
      cwd: work.dir,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    demo.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(out)?.[1], 30_000);

    page = await browser.open('about:blank', { viewport: { width: 1920, height: 1080 } });
    await page.context.addInitScript(RECORD_TOASTS);
    await page.page.goto(url);
    await page.page.waitForSelector('[data-testid=conn][data-state=live]');
    const leadsSeen = Number(/^(\d+) \//.exec(await page.page.getByTestId('agent-progress').innerText())?.[1] ?? 0);
    expect(leadsSeen, 'the page was open before the first trigger').toBeLessThan(34);

    await page.page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 90_000 });
    const toasts: string[] = await page.page.evaluate(() => (window as any).__toasts);
    const first = (prefix: string) => toasts.findIndex((t) => t.startsWith(prefix));
    const [breaker, pii, budget] = [first('breaker: '), first('pii: '), first('budget: ')];
    expect(toasts[breaker], toasts.join('\n')).toMatch(/Circuit OPEN: linkedin/);
    expect(toasts[pii]).toMatch(/PII redacted: 1 EMAIL/);
    expect(toasts[budget]).toMatch(/Budget 9\d% used/);
    expect(breaker).toBeGreaterThanOrEqual(0);
    expect(pii).toBeGreaterThan(breaker);
    expect(budget).toBeGreaterThan(pii);

    // The final figures: the page shows what the demo's results say.
    const results = await until(() => {
      try {
        return JSON.parse(readFileSync(join(work.dir, 'demo.db.files/results.json'), 'utf8'));
      } catch {
        return null;
      }
    }, 30_000);
    const text = (id: string) => page!.page.getByTestId(id).first().innerText();
    await until(async () => (await text('cost-spent')) === money(results.totalCostUsd));
    expect(await text('agent-progress')).toBe('100 / 100 leads (100%)');
    expect(await text('agent-success')).toBe(`100% (${results.succeeded}/${results.leadsProcessed})`);
    const byModel = await text('cost-by-model');
    for (const m of results.costByModel) expect(byModel).toContain(m.model);
    await until(async () => (await text('cost-baseline')).includes(`${money(results.baseline.savedUsd)} saved`));
    expect(await text('pii-blocked')).toBe(String(results.piiBlocked));
    // The poisoned lead: the Protection panel counts it with its last finding, and the e-mails the
    // policy refused after it as unauthorized actions.
    expect(await text('injection')).toBe(String(results.injection.detected));
    expect(await text('injection-latest')).toMatch(/Prompt injection detected, .* in a tool answer \(.*hidden-html/);
    expect(await text('unauthorized')).toBe(String(results.injection.outreach.refused));
    await until(async () => (await page!.page.locator('[data-testid=breaker][data-service=linkedin]').innerText()).includes(`${money(results.breaker.savedUsd)} saved`));
    // The CEO's address the model wrote at the PII lead is nowhere in the page, only its redaction.
    const scenario = loadScenario(join(ROOT, 'demo/scenario.yaml'));
    const address = /[\w.+-]+@[\w.-]+\.\w+/.exec(scenario.triggers.pii.text)![0];
    expect(await page.page.content()).not.toContain(address);
    expect(await page.page.content()).toContain('[EMAIL_REDACTED]');
    await page.screenshot('demo-final-1920x1080');
    expect(page.problems()).toEqual([]);

    demo.kill('SIGINT');
    const code = await new Promise<number | null>((r) => (demo!.exitCode !== null ? r(demo!.exitCode) : demo!.once('exit', (c) => r(c))));
    expect(code).toBe(0);
  }, 180_000);
});
