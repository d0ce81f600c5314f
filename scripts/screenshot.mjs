// The README's screenshot (web/screenshot.png): the end of `iron-cage demo` in headless Chromium,
// 1440×900 in the dark theme unless told. Run after `npm run build`:
//   node scripts/screenshot.mjs [width] [height] [dark|light] [out.png]
// Emoji need a colour emoji font on the machine (Debian: fonts-noto-color-emoji).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [width = '1440', height = '900', theme = 'dark', out = join(root, 'web/screenshot.png')] = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), 'iron-cage-shot-'));
const demo = spawn(process.execPath, [join(root, 'dist/cli.js'), 'demo', '--pace', '0.25', '--port', '0', '--db', join(work, 'demo.db'), '--stay'], {
  cwd: work,
  env: { ...process.env, NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let log = '';
demo.stdout.on('data', (c) => (log += c));
demo.stderr.on('data', (c) => (log += c));

async function until(f, ms = 150_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out; the demo said:\n${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: process.getuid?.() !== 0,
  args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
});
try {
  const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(log)?.[1], 30_000);
  const context = await browser.newContext({ viewport: { width: Number(width), height: Number(height) } });
  await context.addInitScript((t) => localStorage.setItem('iron-cage-theme', t), theme);
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 150_000 });
  // The last figures in: the final cost report says what the demo's results say.
  const results = await until(() => {
    try {
      return JSON.parse(readFileSync(join(work, 'demo.db.files/results.json'), 'utf8'));
    } catch {
      return null;
    }
  });
  const saved = `$${results.baseline.savedUsd.toFixed(2)} saved`;
  await until(async () => String(await page.getByTestId('cost-baseline').textContent()).includes(saved));
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: out });
  console.log(`${out}: ${width}×${height}, ${theme}`);
} finally {
  await browser.close();
  demo.kill('SIGINT');
  await new Promise((r) => (demo.exitCode !== null ? r() : demo.once('exit', r)));
  rmSync(work, { recursive: true, force: true });
}
