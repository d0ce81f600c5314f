import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { chooseSandbox } from '../../src/sandbox/index.js';
import { join } from 'node:path';
import { DASHBOARD_CSP } from '../../src/server/static.js';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { ROOT, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';

// The dashboard in real Chromium against a real iron-cage running a real Python agent: it loads
// clean (no console error, failed request, CSP violation or page error), and the harness that
// says so does catch a CSP violation when there is one.

const HELLO = join(ROOT, 'demo/hello_agent.py');

let browser: TestBrowser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => browser?.close());

let t: TestRuntime | undefined;
let p: WatchedPage | undefined;
afterEach(async () => {
  await p?.close();
  await t?.stop();
  p = undefined;
  t = undefined;
});

describe('the dashboard in Chromium', () => {
  it('loads with the admin token in the fragment and stays clean while an agent runs to completion', async () => {
    // Sandboxed where the machine allows it (CI installs bubblewrap and Perl): the Agent panel says what it may touch.
    const sandbox = chooseSandbox({ sandbox: SANDBOX_DEFAULTS, port: 0 });
    t = await startTestRuntime({ agent: { script: HELLO }, config: { budgetMicros: 50_000_000 }, env: { HELLO_DELAY: '0.05' }, sandbox });
    p = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { motion: true });
    const main = await p.page.request.get(`${t.rt.url}/`);
    expect(main.headers()['content-security-policy']).toBe(DASHBOARD_CSP);
    // The app has rendered something into its mount point.
    await p.page.locator('#app > *').first().waitFor();
    expect(await t.rt.agentDone).toEqual({ status: 'completed', exitCode: 0 });
    // Whatever the page asks for after the agent's last events has been answered.
    await p.page.waitForLoadState('networkidle');
    const confined = p.page.getByTestId('agent-sandbox');
    if (sandbox.on) {
      await expect.poll(() => confined.getAttribute('data-sandboxed')).toBe('true');
      expect(await confined.locator('summary').innerText()).toMatch(/Sandboxed: writes only \S+, reaches only the cage; 4,096 MB memory, 512 processes/);
    } else {
      expect(await confined.innerText()).toContain('Not sandboxed: runs with your rights');
    }
    await p.screenshot('smoke-1280x720');
    expect(p.problems()).toEqual([]);
  }, 60_000);

  it('the harness catches what it must: a CSP violation (the inline script is refused), a console error, a failed request, a page error', async () => {
    t = await startTestRuntime();
    p = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { motion: true });
    await p.page.locator('#app > *').first().waitFor();
    expect(p.cspViolations).toEqual([]);

    await p.page.evaluate(`(() => {
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.head.appendChild(s);
    })()`);
    await until(() => p!.cspViolations.some((v) => v.startsWith('script-src')));
    expect(await p.page.evaluate('window.inlineRan === true')).toBe(false);

    await p.page.evaluate(`(() => {
      console.error('boom from the page');
      void fetch('/assets/main-MISSING.js');
      setTimeout(() => { throw new Error('kaboom'); });
    })()`);
    await until(() => p!.consoleErrors.some((m) => m.includes('boom from the page')));
    await until(() => p!.failedRequests.some((m) => m === `GET ${t!.rt.url}/assets/main-MISSING.js → 404`));
    await until(() => p!.pageErrors.some((m) => m.includes('kaboom')));
    for (const kind of ['[csp]', '[console]', '[request]', '[page]'])
      expect(
        p.problems().some((m) => m.startsWith(kind)),
        kind,
      ).toBe(true);
  }, 60_000);
});

describe('without Chromium', () => {
  it('fails with how to install it instead of skipping', async () => {
    const before = process.env.CHROMIUM_PATH;
    process.env.CHROMIUM_PATH = join(ROOT, 'no-such-chromium');
    try {
      await expect(launchBrowser()).rejects.toThrow(/Chromium not found at .*no-such-chromium.*apt-get update && apt-get install -y chromium/);
    } finally {
      if (before === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = before;
    }
  });
});
