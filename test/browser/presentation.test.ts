import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// Issue 46, class 4, on the page: nothing a presenter would have to explain away. The demo at a
// brisk pace (0.12 s a lead), watched at 1440×900: the event log keeps following through resizes
// and a theme switch, its "Jump to latest" covers no row, the approved budget's button is drawn
// as decided, and once the run has ended its pop-ups go and no figure says "not monitored".

const CLI = join(ROOT, 'dist/cli.js');
const work = tempDir('iron-cage-presentation-');
let browser: TestBrowser;
let demo: ChildProcess | undefined;
let page: WatchedPage | undefined;

beforeAll(async () => {
  browser = await launchBrowser();
}, 30_000);

afterAll(async () => {
  await page?.close();
  if (demo && demo.exitCode === null) demo.kill('SIGKILL');
  await browser?.close();
  work.cleanup();
});

/** How far the log is from its bottom, and whether it says it follows. */
const logState = (p: WatchedPage) =>
  p.page.evaluate(() => {
    const el = document.querySelector<HTMLElement>('[data-testid=event-log]')!;
    return { distance: el.scrollHeight - el.scrollTop - el.clientHeight, following: el.dataset.following, rows: el.children.length };
  });

describe('the demo as a presenter shows it', () => {
  it('follows the log through resizes and a theme switch, draws a decided button as decided, and clears its pop-ups after the run', async () => {
    let out = '';
    demo = spawn(process.execPath, [CLI, 'demo', '--pace', '0.12', '--port', '0', '--sandbox', 'off', '--db', join(work.dir, 'demo.db'), '--stay'], {
      cwd: work.dir,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    demo.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(out)?.[1], 30_000);
    // The login link is printed once; no provider the demo does not call is warned about.
    expect(out.match(/#login=/g)).toHaveLength(1);
    expect(out).not.toMatch(/SIMULATED/);

    page = await browser.open('about:blank', { viewport: { width: 1440, height: 900 } });
    await page.page.goto(url);
    await page.page.waitForSelector('[data-testid=conn][data-state=live]');
    // One line for this viewer in the log (the session), not the link's too.
    await page.page.getByTestId('event-row').filter({ hasText: 'Dashboard opened from' }).first().waitFor();
    expect(
      await page.page
        .getByTestId('event-row')
        .filter({ hasText: /login link .* made/ })
        .count(),
    ).toBe(0);

    // Resizes and a theme switch while rows arrive: still at the bottom, still following.
    const sizes = [
      { width: 1000, height: 800 },
      { width: 1920, height: 1080 },
      { width: 390, height: 844 },
      { width: 1440, height: 900 },
    ];
    for (const size of sizes) {
      await page.page.setViewportSize(size);
      await page.page.waitForTimeout(400);
      const s = await logState(page);
      expect(s.following, `at ${size.width}×${size.height}`).toBe('true');
      expect(s.distance, `at ${size.width}×${size.height}`).toBeLessThan(24);
    }
    await page.page.getByTestId('theme-toggle').click();
    await page.page.waitForTimeout(400);
    expect(await logState(page)).toMatchObject({ following: 'true' });
    expect((await logState(page)).distance).toBeLessThan(24);

    // The reader scrolls up: it stops following, and "Jump to latest" sits under the rows, over none of them.
    const log = page.page.getByTestId('event-log');
    // At 1440×900 the log's middle sits near the viewport's bottom edge; a few pixels more above
    // it (a wider figure, a banner) put the pointer outside the page, where it moves nothing.
    await log.scrollIntoViewIfNeeded();
    const box = (await log.boundingBox())!;
    await page.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.page.mouse.wheel(0, -600);
    const jump = page.page.getByTestId('jump-latest');
    await jump.waitFor();
    const j = (await jump.boundingBox())!;
    const l = (await log.boundingBox())!;
    expect(j.y, 'Jump to latest is below the list, not over its rows').toBeGreaterThanOrEqual(l.y + l.height - 1);
    await jump.click();
    await page.page.mouse.move(0, 0);
    await until(async () => (await logState(page!)).following === 'true' && (await logState(page!)).distance < 24, 5000);

    // The approval: the pop-up's Approve is drawn as decided, not in its accent colour.
    await until(() => /Budget set to/.test(out), 90_000);
    const approve = page.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase]');
    await page.page.waitForSelector('[data-testid=toast][data-kind=budget] [data-testid=approve-increase][data-available=false]', { timeout: 10_000 });
    expect(await approve.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgba(0, 0, 0, 0)');

    // The end: the pop-ups say the run ended and go; nothing asks to follow a running agent.
    await page.page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 90_000 });
    await until(async () => (await page!.page.getByTestId('toast').count()) === 0, 15_000);
    expect(await page.page.getByTestId('agent-picker').locator('option').first().innerText()).toBe('The latest run');
    const text = await page.page.locator('body').innerText();
    expect(text).not.toMatch(/not monitored|vs Baseline|Cache hit rate/);
    await until(async () => (await page!.page.getByTestId('cost-baseline').innerText()).includes('vs all on gpt-4-32k'), 10_000);
    expect(page.problems()).toEqual([]);

    demo.kill('SIGINT');
    const code = await new Promise<number | null>((r) => (demo!.exitCode !== null ? r(demo!.exitCode) : demo!.once('exit', (c) => r(c))));
    expect(code).toBe(0);
  }, 180_000);
});
