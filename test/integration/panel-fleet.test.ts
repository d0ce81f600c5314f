import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { cliInProcess, freePort, launchCli, type LaunchedCli } from '../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// Production mode end to end, as a team runs it: one `iron-cage panel` on a real PostgreSQL and
// three `iron-cage start` runtimes in their own processes, each supervising a real Python agent
// that keeps calling the gateway, each reporting to the panel. Mid-run the panel is killed with
// SIGKILL and comes back a few seconds later. Afterwards the panel holds exactly what each
// runtime's own SQLite holds: every ledger row once, to the micro-dollar, and the agents never
// waited on the panel (their calls go on being answered all through its outage).

const AGENT = join(ROOT, 'test/fixtures/agents/fleet_member.py');
const RUNTIMES = ['laptop-anna', 'laptop-ben', 'ci-runner'];

describe('a panel and three runtimes', () => {
  let server: TestPostgres;
  let port: number;
  let panel: LaunchedCli;
  const dir = tempDir('iron-cage-fleet-');
  const stopFile = join(dir.dir, 'stop');
  const runtimes: Array<{ id: string; db: string; proc: LaunchedCli }> = [];

  const startPanel = async () => {
    const p = launchCli(['panel', '--database', server.url, '--port', String(port), '--host', '127.0.0.1']);
    await until(() => /#login=/.test(p.out()), 30_000);
    return p;
  };

  const localLedger = (db: string) => {
    const sqlite = new Database(db, { readonly: true });
    try {
      return sqlite.prepare("SELECT count(*) AS n, coalesce(sum(cost_micros), 0) AS cost FROM llm_requests WHERE status != 'pending'").get() as { n: number; cost: number };
    } finally {
      sqlite.close();
    }
  };

  beforeAll(async () => {
    server = await startPostgres();
    port = await freePort();
    panel = await startPanel();
    for (const id of RUNTIMES) {
      // Set up with the command line in-process (cliInProcess: the same program, no cold start of Node;
      // test/panel/*.test.ts run it as processes).
      const added = await cliInProcess(['panel', 'runtime', 'add', id, '--database', server.url, '--json']);
      expect(added.code, added.stderr).toBe(0);
      const { token } = JSON.parse(added.stdout) as { token: string };
      const db = join(dir.dir, `${id}.db`);
      // --sandbox off: the test tells the agents to stop through a file outside their folder, which a sandboxed agent cannot see.
      const proc = launchCli(['start', AGENT, '--exit', '--sandbox', 'off', '--port', '0', '--budget', '5', '--db', db, '--panel', `http://127.0.0.1:${port}`], {
        IRON_CAGE_PANEL_TOKEN: token,
        FLEET_STOP_FILE: stopFile,
        // A call every 100 ms, not the agent's default 20: ~100 calls a runtime over the run, ~50
        // while the panel is down (~800 and ~250 at 20 ms); the same checks at 2/3 of the CPU.
        FLEET_PAUSE_MS: '100',
      });
      runtimes.push({ id, db, proc });
    }
    await until(() => runtimes.every((r) => r.proc.out().includes('first call done')), 60_000);
  }, 120_000);

  afterAll(async () => {
    writeFileSync(stopFile, '');
    for (const r of runtimes) r.proc.child.kill('SIGKILL');
    panel?.child.kill('SIGKILL');
    await server?.destroy();
    dir.cleanup();
  });

  it('shows the three runtimes and their agents live on the fleet page, in real Chromium', { timeout: 90_000 }, async () => {
    const link = /(http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(panel.out())![1]!;
    const browser = await launchBrowser();
    try {
      const page = await browser.open(link);
      const p = page.page;
      await p.getByTestId('fleet').waitFor({ timeout: 30_000 });
      const online = async (id: string) => (await p.locator(`[data-testid="fleet-runtime"][data-runtime="${id}"]`).getByTestId('runtime-state').innerText()).includes('Online');
      await until(async () => (await Promise.all(RUNTIMES.map(online))).every(Boolean), 30_000);
      await until(async () => (await p.getByTestId('fleet-agent').count()) === RUNTIMES.length, 30_000);
      for (const id of RUNTIMES) expect(await p.locator(`[data-testid="fleet-agent"][data-runtime="${id}"]`).count()).toBe(1);
      // Live: the agents keep spending, and the page follows without a reload.
      const spent = () => p.locator('[data-testid="fleet-agent"][data-runtime="laptop-anna"]').getByTestId('fleet-agent-spend').innerText();
      const first = await spent();
      await until(async () => (await spent()) !== first, 30_000);
      await page.screenshot('fleet-three-runtimes');
      expect(page.problems()).toEqual([]);
      await page.close();
    } finally {
      await browser.close();
    }
  });

  it('loses nothing and counts nothing twice when the panel is killed mid-run; the agents never wait on it', { timeout: 150_000 }, async () => {
    // Every runtime has reported something.
    await until(async () => (await server.rows('SELECT count(DISTINCT runtime_id)::int AS n FROM llm_requests'))[0].n === RUNTIMES.length, 30_000);

    // The panel dies; the runtimes' agents go on calling, their rows wait on their own disks.
    panel.child.kill('SIGKILL');
    await panel.exited;
    const down = Date.now();
    const before = runtimes.map((r) => localLedger(r.db).n);
    // The agents go on: calls answered while the panel is away, and each runtime says once that it is behind.
    await until(() => runtimes.every((r, i) => localLedger(r.db).n >= before[i]! + 20 && /panel .*unreachable/i.test(r.proc.out())), 30_000);
    // Down for 6 s at least, then each agent still finishes calls before the panel is back. An
    // agent calls one call at a time: one that waited on the panel would hold every later call until
    // the panel came back, so calls that end after a long outage prove none waits on it, however
    // slow the machine makes a call (the agent's slowest call once said that, and a loaded machine
    // made a call take 6.4 s of a 6 s outage without the panel being in the way).
    await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (Date.now() - down))));
    const late = runtimes.map((r) => localLedger(r.db).n);
    await until(() => runtimes.every((r, i) => localLedger(r.db).n >= late[i]! + 3), 30_000);

    // Back, on the same port and database: the runtimes catch up, in order.
    panel = await startPanel();
    await until(() => runtimes.every((r) => /caught up/i.test(r.proc.out())), 60_000);
    for (const r of runtimes) expect(r.proc.out().match(/unreachable/gi)).toHaveLength(1);

    // The agents end; each runtime sends what is left before it exits.
    writeFileSync(stopFile, '');
    for (const r of runtimes) expect(await r.proc.exited).toBe(0);

    for (const r of runtimes) {
      const local = localLedger(r.db);
      const [remote] = await server.rows('SELECT count(*)::int AS n, coalesce(sum(cost_micros), 0)::bigint AS cost FROM llm_requests WHERE runtime_id = $1', [r.id]);
      expect({ runtime: r.id, n: remote.n, cost: Number(remote.cost) }).toEqual({ runtime: r.id, n: local.n, cost: local.cost });
      const [rolled] = await server.rows('SELECT coalesce(sum(cost_micros), 0)::bigint AS cost, coalesce(sum(calls), 0)::int AS calls FROM spend_daily WHERE runtime_id = $1', [r.id]);
      expect({ cost: Number(rolled.cost), calls: rolled.calls }).toEqual({ cost: local.cost, calls: local.n });
      // The events too: every one, once, in the runtime's own order (the panel's copy of its log).
      const sqlite = new Database(r.db, { readonly: true });
      const mine = sqlite.prepare('SELECT seq, type, message FROM events ORDER BY seq').all() as Array<{ seq: number; type: string; message: string }>;
      sqlite.close();
      const theirs = (await server.rows('SELECT seq::int AS seq, type, message FROM events WHERE runtime_id = $1 ORDER BY seq', [r.id])) as typeof mine;
      expect(theirs.length).toBeGreaterThan(0);
      expect(theirs).toEqual(mine.slice(0, theirs.length));
      // What the runtime wrote after its last flush (its own "stopped" line) is the only thing still to send.
      expect(mine.length - theirs.length).toBeLessThanOrEqual(2);
    }
  });
});
