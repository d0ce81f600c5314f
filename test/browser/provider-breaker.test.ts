import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// An LLM provider's circuit on the runtime's dashboard, in real Chromium: while it is not CLOSED
// it is a row of the Performance panel's breakers (its state, its cooldown, what its calls do
// meanwhile, Reset for an admin), never hidden behind the tool services'. A closed one is the
// normal case and takes no room. Before, only its pop-up said it, and nothing could reset it.

const upstream = useFakeLlm();
let t: TestRuntime;
let agent: AgentToken;
let browser: TestBrowser;
let page: WatchedPage;

const row = () => page.page.locator('[data-testid=provider-breaker][data-provider=openai]');

beforeAll(async () => {
  const g = DEFAULTS.gateway;
  t = await startTestRuntime({
    config: { gateway: { ...g, providers: { ...g.providers, openai: { baseUrl: upstream.openaiUrl, apiKey: 'sk-upstream', timeoutMs: 5000 } }, retry: { attempts: 1, baseMs: 1, maxMs: 1 } } },
  });
  agent = await agentToken(t, { budgetUsd: 10 });
  browser = await launchBrowser();
  page = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 } });
  await page.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

const chat = () =>
  fetch(`${t.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
  });

describe("an LLM provider's circuit on the dashboard", () => {
  it('is a row while OPEN, with its cooldown and Reset; gone once an admin closes it', async () => {
    // Closed (a call went through): nothing about it in the breakers.
    expect((await chat()).status).toBe(200);
    await page.page.getByText('No external services configured (config: tools).').waitFor({ timeout: 20_000 });
    expect(await row().count()).toBe(0);

    upstream.answer({ status: 503 });
    for (let i = 0; i < 5; i++) expect((await chat()).status).toBe(503);
    // Its state comes with the transition's event at once, its figures with the refetch after it.
    await until(
      async () =>
        (await row()
          .getAttribute('data-state')
          .catch(() => null)) === 'OPEN' && (await row().innerText()).includes('http_503'),
      20_000,
    );
    const text = await row().innerText();
    expect(text).toMatch(/openai \(LLM provider\)/);
    expect(text).toMatch(/🔴 OPEN · retry in (\dm)?\d+s/);
    expect(text).toContain('http_503');
    expect(text).toContain('the next model in model_fallbacks, else refused');

    // Refused at once while open: the count of calls it kept from the provider moves.
    expect((await chat()).status).toBe(503);
    await until(async () => (await row().locator('.cell-blocked').innerText()).trim() === '1', 20_000);

    await row().getByTestId('provider-breaker-reset').click();
    await until(async () => (await row().count()) === 0, 20_000);
    upstream.reset();
    expect((await chat()).status).toBe(200);
    const reset = t.rt.state.lastEvents(1000).filter((e) => e.type === 'breaker.reset');
    expect(reset.at(-1)).toMatchObject({ data: { kind: 'provider', service: 'openai', from: 'OPEN' } });
    expect(page.problems()).toEqual([]);
  });
});
