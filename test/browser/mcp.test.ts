import type { ChildProcess } from 'node:child_process';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { formatUsd } from '../../src/core/money.js';
import { inEveryThemeAndSize, launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { connectMcp, MCP_FIXTURE, startMcpFixture } from '../helpers/mcp.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// MCP in the runtime's dashboard, in real Chromium: the MCP panel lists each
// configured server with its transport, rules and breaker, and its tools' calls, errors,
// refusals and cost as an agent's real MCP client (the official SDK's) calls through the cage to
// a server built with the SDK's McpServer; the page follows each call live. A runtime with no
// MCP server shows no such panel.

let upstream: ChildProcess;
let t: TestRuntime;
let agent: AgentToken;
let browser: TestBrowser;
let admin: WatchedPage;

const live = (p: WatchedPage) => p.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
const server = (p: WatchedPage, name: string) => p.page.locator(`[data-testid=mcp-server][data-server="${name}"]`);
const figure = async (p: WatchedPage, name: string, testid: string) => (await server(p, name).getByTestId(testid).innerText()).trim();
/** Waits until the server's figure reads `want` (the page refetches at most every 2 s while calls come). */
const reads = (p: WatchedPage, name: string, testid: string, want: string) => until(async () => (await figure(p, name, testid)) === want, 20_000);

async function calls(fn: (c: Client) => Promise<void>): Promise<void> {
  const c = await connectMcp(t.rt.url, 'web', agent.token);
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  let url: string;
  ({ url, child: upstream } = await startMcpFixture('http'));
  const mcp = mcpSchema.parse({
    servers: {
      web: {
        url,
        headers: { Authorization: 'Bearer browser-upstream-key-5e6f7a8b' },
        tools: { deny: ['delete_*'] },
        cost_per_call_usd: 0.002,
        timeout_s: 1,
        breaker: { failure_threshold: 1, cooldown_s: 300 },
      },
      files: { command: process.execPath, args: [MCP_FIXTURE, 'stdio'], tools: { allow: ['echo'] } },
    },
  });
  t = await startTestRuntime({ config: { mcp } });
  agent = await agentToken(t, { name: 'mcp-browser-agent' });
  browser = await launchBrowser();
  admin = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 } });
  await live(admin);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  upstream?.kill();
});

describe('the MCP panel', () => {
  it('lists each configured server, its transport, rules and closed breaker, before any call', async () => {
    await server(admin, 'web').waitFor({ timeout: 20_000 });
    expect(await admin.page.locator('[data-testid=mcp-server]').evaluateAll((els) => els.map((e) => e.getAttribute('data-server')))).toEqual(['web', 'files']);
    expect(await figure(admin, 'web', 'mcp-transport')).toBe('HTTP (auto)');
    expect(await figure(admin, 'files', 'mcp-transport')).toBe('stdio');
    expect(await figure(admin, 'web', 'mcp-breaker')).toBe('🟢 CLOSED');
    expect(await figure(admin, 'web', 'mcp-rules')).toBe('allow every tool · deny delete_*');
    expect(await figure(admin, 'files', 'mcp-rules')).toBe('allow echo');
    expect(await figure(admin, 'web', 'mcp-calls')).toBe('0');
    expect(await server(admin, 'web').getByTestId('mcp-no-tools').count()).toBe(1);
    // The header's name, never its value.
    const text = await admin.page.locator('.panel-mcp').innerText();
    expect(text).toContain('sends Authorization');
    expect(text).not.toContain('browser-upstream-key');
    expect(admin.problems()).toEqual([]);
  });

  it('follows the calls live: each tool with its calls, errors, refusals and cost', async () => {
    await calls(async (c) => {
      await c.callTool({ name: 'echo', arguments: { text: 'one' } });
      await c.callTool({ name: 'echo', arguments: { text: 'two' } });
      expect((await c.callTool({ name: 'fails', arguments: {} })).isError).toBe(true);
      await expect(c.callTool({ name: 'delete_repo', arguments: {} })).rejects.toThrow(/not allowed/);
    });
    await reads(admin, 'web', 'mcp-calls', '4');
    expect(await figure(admin, 'web', 'mcp-errors')).toBe('1');
    expect(await figure(admin, 'web', 'mcp-refusals')).toBe('1');
    // Money by the product's one rule: three calls charged $0.002 each, the refused one nothing.
    expect(await figure(admin, 'web', 'mcp-cost')).toBe(formatUsd(6_000));
    const rows = await server(admin, 'web')
      .getByTestId('mcp-tool')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ['delete_repo', '1', '0', '1', formatUsd(0)],
      ['echo', '2', '0', '0', formatUsd(4_000)],
      ['fails', '1', '1', '0', formatUsd(2_000)],
    ]);
    // The other server had none.
    expect(await figure(admin, 'files', 'mcp-calls')).toBe('0');
    await admin.screenshot('mcp-1440x900');
    expect(admin.problems()).toEqual([]);
  });

  it('shows the breaker a failure opened, counting down to its retry, with a pop-up and Reset for admins; at 390 px nothing scrolls sideways', async () => {
    await calls(async (c) => {
      await expect(c.callTool({ name: 'slow', arguments: { ms: 3_000 } })).rejects.toThrow(/did not answer within 1 s/);
    });
    await until(async () => (await server(admin, 'web').getAttribute('data-state')) === 'OPEN', 20_000);
    expect(await figure(admin, 'web', 'mcp-breaker')).toMatch(/^🔴 OPEN · retry in [45]m\d\ds$/);
    // The circuit's state comes with its event at once; the figures with the refetch after the call.
    await reads(admin, 'web', 'mcp-errors', '2');
    // One of the runtime's breakers: its transition is an event, said in a pop-up naming it as an MCP server.
    const toast = admin.page.locator('[data-testid=toast][data-kind=breaker]').filter({ hasText: 'Circuit OPEN: MCP server web' });
    await toast.waitFor({ timeout: 20_000 });
    expect(await toast.innerText()).toMatch(/1 consecutive failure[\s\S]*last: timeout[\s\S]*tools\/calls fail at once/);
    expect(await server(admin, 'web').getByTestId('mcp-breaker-reset').count()).toBe(1);
    expect(await server(admin, 'files').getByTestId('mcp-breaker-reset').count()).toBe(0);

    const phone = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 390, height: 844 } });
    try {
      await live(phone);
      await server(phone, 'web').getByTestId('mcp-tool').first().waitFor({ timeout: 20_000 });
      await inEveryThemeAndSize(phone, [{ width: 390, height: 844 }], async ({ theme, overflow }) => {
        expect(overflow, theme).toBeLessThanOrEqual(0);
        const boxes = await phone.page.$$eval('.panel-mcp, .panel-mcp [data-testid=mcp-server], .panel-mcp [data-testid=mcp-tool]', (els) =>
          els.map((e) => ({ wide: e.scrollWidth - e.clientWidth, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right })),
        );
        expect(boxes.length).toBeGreaterThan(3);
        for (const b of boxes) {
          expect(b.wide, theme).toBeLessThanOrEqual(0);
          expect(b.left, theme).toBeGreaterThanOrEqual(0);
          expect(b.right, theme).toBeLessThanOrEqual(390);
        }
      });
      await phone.page.locator('.panel-mcp').scrollIntoViewIfNeeded();
      await phone.screenshot('mcp-390x844');
      expect(phone.problems()).toEqual([]);
    } finally {
      await phone.close();
    }

    // The admin closes it: the card says CLOSED and the button goes; the next call reaches the server.
    await server(admin, 'web').getByTestId('mcp-breaker-reset').click();
    await until(async () => (await server(admin, 'web').getAttribute('data-state')) === 'CLOSED', 20_000);
    expect(await figure(admin, 'web', 'mcp-breaker')).toBe('🟢 CLOSED');
    expect(await server(admin, 'web').getByTestId('mcp-breaker-reset').count()).toBe(0);
    await calls(async (c) => {
      expect(JSON.stringify((await c.callTool({ name: 'echo', arguments: { text: 'after the reset' } })).content)).toContain('after the reset');
    });
    expect(admin.problems()).toEqual([]);
  });

  it('shows the tools an agent was offered, those no call used at zero, and how many the rules hid', async () => {
    await calls(async (c) => {
      expect((await c.listTools()).tools.map((x) => x.name)).toContain('contact');
      await c.callTool({ name: 'echo', arguments: { text: 'after the list' } });
    });
    await until(async () => (await server(admin, 'web').getByTestId('mcp-offered').count()) === 1, 20_000);
    expect(await figure(admin, 'web', 'mcp-offered')).toMatch(/^· offers \d+ tools, 1 more hidden by its rules$/);
    const contact = server(admin, 'web').locator('[data-testid=mcp-tool][data-tool=contact]');
    expect(await contact.locator('td').allInnerTexts()).toEqual(['contact', '0', '0', '0', formatUsd(0)]);
    expect(admin.problems()).toEqual([]);
  });

  it('is not on the page of a runtime with no MCP server', async () => {
    const plain = await startTestRuntime();
    const p = await browser.open('about:blank');
    try {
      const asked = p.page.waitForResponse((r) => r.url().endsWith('/api/mcp/servers'), { timeout: 20_000 });
      await p.page.goto(`${plain.rt.url}/#token=${plain.rt.adminToken}`);
      expect(await (await asked).json()).toEqual({ scope: 'all', servers: [] });
      await live(p);
      // Laid out with its answer in hand: the panels are there, the MCP one is not.
      await p.page.waitForSelector('.panel-secrets', { timeout: 20_000 });
      expect(await p.page.locator('.panel-mcp').count()).toBe(0);
      expect(p.problems()).toEqual([]);
    } finally {
      await p.close();
      await plain.stop();
    }
  });
});
