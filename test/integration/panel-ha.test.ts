import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { cliInProcess, freePort, launchCli, type LaunchedCli } from '../helpers/cli.js';
import { haproxyAbsent, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';
import { formatUsd } from '../../src/core/money.js';

// The panel as a service that cannot fall over. A real PostgreSQL, three `iron-cage
// panel` replicas in their own processes behind a real HAProxy (health checks on /readyz), and
// five `iron-cage start` runtimes, each supervising a real Python agent that calls the gateway
// until one central budget refuses it, all reporting and leasing through the balancer. Mid-run:
// replica a is killed with SIGKILL and comes back; then replica b; then all three are rolled one
// by one (SIGTERM, a drain, a start: a rolling upgrade). A viewer in real Chromium watches the
// fleet page on replica c's own address while the batches land on the others. Afterwards: the
// budget was never passed, on the panel's ledger or the runtimes' (to the micro-dollar); every
// row is on the panel once; a lease call replayed out of order changes nothing; the page shows
// what the database holds.

const AGENT = join(ROOT, 'test/fixtures/agents/budget_member.py');
const RUNTIMES = ['r1', 'r2', 'r3', 'r4', 'r5'];
const REPLICAS = ['a', 'b', 'c'] as const;
type ReplicaName = (typeof REPLICAS)[number];
const LIMIT_USD = 0.6;
const LIMIT_MICROS = LIMIT_USD * 1_000_000;

describe.skipIf(haproxyAbsent())('three panel replicas behind HAProxy, five runtimes under one central budget', () => {
  let pgServer: TestPostgres;
  let lb: TestHaproxy;
  let lbPort: number;
  let browser: TestBrowser | null = null;
  const dir = tempDir('iron-cage-ha-');
  const stopFile = join(dir.dir, 'stop');
  const panelConfig = join(dir.dir, 'panel.yaml');
  const replicas = new Map<ReplicaName, { port: number; proc: LaunchedCli }>();
  const runtimes: Array<{ id: string; db: string; proc: LaunchedCli; token: string }> = [];

  const startReplica = async (port: number): Promise<LaunchedCli> => {
    const p = launchCli(['panel', '--database', pgServer.url, '--port', String(port), '--host', '127.0.0.1', '--lease-ttl', '5s', '--drain-grace', '1500ms', '--config', panelConfig]);
    // Its own start line naming the port first, not only an answer there: freePort's port is free
    // again until the replica binds it, and another file's server may take it meanwhile (then this
    // one exits on EADDRINUSE, the other answers /readyz, and the balancer finds it gone later).
    await until(() => {
      if (p.child.exitCode !== null) throw new Error(`replica on port ${port} exited ${p.child.exitCode}: ${p.out()}`);
      return p.out().includes(`control panel at http://127.0.0.1:${port}/`);
    }, 30_000);
    await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 30_000);
    return p;
  };
  const serverUp = (name: ReplicaName) => lb.waitFor((s) => s.find((x) => x.name === name)?.status === 'UP', 10_000);

  const localTeam = (db: string) => {
    const sqlite = new Database(db, { readonly: true });
    try {
      return sqlite.prepare("SELECT count(*) AS n, coalesce(sum(cost_micros), 0) AS cost FROM llm_requests WHERE budgets LIKE '%\"team@%' AND status != 'pending'").get() as {
        n: number;
        cost: number;
      };
    } finally {
      sqlite.close();
    }
  };
  const localAll = (db: string) => {
    const sqlite = new Database(db, { readonly: true });
    try {
      return sqlite.prepare("SELECT count(*) AS n, coalesce(sum(cost_micros), 0) AS cost FROM llm_requests WHERE status != 'pending'").get() as { n: number; cost: number };
    } finally {
      sqlite.close();
    }
  };
  const spent = async () => Number((await pgServer.rows("SELECT coalesce(sum(spent_micros), 0)::bigint AS s FROM budget_leases WHERE budget_id = 'team'").catch(() => [{ s: 0 }]))[0].s);

  beforeAll(async () => {
    pgServer = await startPostgres({ settings: { max_connections: '200' } });
    lbPort = await freePort();
    // The replicas answer the balancer's name (the page and the runtimes reach them through it).
    writeFileSync(panelConfig, `allowed_hosts: ["127.0.0.1:${lbPort}"]\n`);
    for (const name of REPLICAS) {
      // a port another file's server took between freePort and the replica's listen: another port
      for (let tries = 1; ; tries++) {
        const port = await freePort();
        const proc = await startReplica(port).catch((e: Error) => {
          if (tries < 3 && /already in use/.test(e.message)) return null;
          throw e;
        });
        if (proc) {
          replicas.set(name, { port, proc });
          break;
        }
      }
    }
    lb = await startHaproxy({ port: lbPort, backends: REPLICAS.map((name) => ({ port: replicas.get(name)!.port, name })), checkPath: '/readyz', balance: 'roundrobin' });
    await lb.waitUp().catch((e: Error) => {
      // Which replica the balancer cannot reach, and what each said.
      throw new Error(`${e.message}\n${[...replicas].map(([n, r]) => `replica ${n} (port ${r.port}, exit ${r.proc.child.exitCode}):\n${r.proc.out()}`).join('\n')}`);
    });
    // Set up with the command line in-process (cliInProcess: the same program, no cold start of Node;
    // test/panel/*.test.ts run it as processes).
    const budget = await cliInProcess(['panel', 'budget', 'set', 'team', '--database', pgServer.url, '--fleet', '--limit', String(LIMIT_USD)]);
    expect(budget.code, budget.stderr).toBe(0);
    for (const id of RUNTIMES) {
      const added = await cliInProcess(['panel', 'runtime', 'add', id, '--database', pgServer.url, '--json']);
      expect(added.code, added.stderr).toBe(0);
      const { token } = JSON.parse(added.stdout) as { token: string };
      const db = join(dir.dir, `${id}.db`);
      // --sandbox off: the agents stop on a file outside their folder, which a sandboxed agent cannot see.
      const proc = launchCli(['start', AGENT, '--exit', '--sandbox', 'off', '--port', '0', '--budget', '50', '--db', db, '--panel', lb.url], {
        IRON_CAGE_PANEL_TOKEN: token,
        BUDGET_STOP_FILE: stopFile,
        // A call every 250 ms at gpt-4's price (~$0.004 a call): the budget is spent at about the
        // pace of a call every 40 ms at gpt-4o's, so the chaos lands at the same points of the run,
        // in a sixth of the calls (~260 where there were ~1,700: the runtimes', the panel's and
        // the database's CPU went with them). A call still costs under 1% of the limit, so the
        // runtimes' last refusals leave less than 5% of it unspent.
        BUDGET_PAUSE_MS: '250',
        BUDGET_MODEL: 'gpt-4',
      });
      runtimes.push({ id, db, proc, token });
    }
    await until(() => runtimes.every((r) => r.proc.out().includes('first call done')), 90_000);
  }, 180_000);

  afterAll(async () => {
    writeFileSync(stopFile, '');
    await browser?.close();
    for (const r of runtimes) r.proc.child.kill('SIGKILL');
    for (const r of replicas.values()) r.proc.child.kill('SIGKILL');
    await lb?.stop();
    await pgServer?.destroy();
    dir.cleanup();
  });

  it('never passes the budget, loses no row and counts none twice, while replicas are killed and rolled; a viewer on one replica keeps up', { timeout: 300_000 }, async () => {
    // The viewer: Chromium on replica c's own address (its login link), the batches landing on all three.
    const c = replicas.get('c')!;
    const link = /#login=(\S+)/.exec(c.proc.out())![1]!;
    browser = await launchBrowser();
    const page: WatchedPage = await browser.open(`http://127.0.0.1:${c.port}/#login=${link}`);
    await page.page.getByTestId('fleet').waitFor({ timeout: 30_000 });

    // A replica killed (kill -9) once the run has spent `share` of the budget, back after 2 s.
    const killAndRestart = async (name: ReplicaName, share: number) => {
      await until(async () => (await spent()) >= LIMIT_MICROS * share, 120_000, 200);
      const r = replicas.get(name)!;
      r.proc.child.kill('SIGKILL');
      await r.proc.exited;
      await new Promise((done) => setTimeout(done, 2_000));
      r.proc = await startReplica(r.port);
      await serverUp(name);
    };
    // 1. Replica a dies mid-run and comes back; 2. then replica b, once a is back.
    await killAndRestart('a', 0.15);
    await killAndRestart('b', 0.3);
    // 3. A rolling upgrade: each replica in turn drains on SIGTERM, exits 0 and starts again.
    await until(async () => (await spent()) >= LIMIT_MICROS * 0.45, 120_000, 200);
    for (const name of REPLICAS) {
      const r = replicas.get(name)!;
      r.proc.child.kill('SIGTERM');
      // Not ready at once: the balancer takes it out while it still serves.
      await lb.waitFor((s) => s.find((x) => x.name === name)?.status.startsWith('DOWN') === true, 10_000);
      expect(await r.proc.exited).toBe(0);
      expect(r.proc.out()).toMatch(/draining: \/readyz says 503/);
      r.proc = await startReplica(r.port);
      await serverUp(name);
    }

    // The agents spend the rest of the budget and are refused (402), then their runtimes end.
    await until(() => runtimes.every((r) => /budget member done/.test(r.proc.out())), 180_000, 250);
    for (const r of runtimes) expect(await r.proc.exited).toBe(0);
    for (const r of runtimes) expect(r.proc.out()).toMatch(/refused by the budget/);

    // Every replica served the runtimes (the balancer spread them).
    for (const s of await lb.servers()) expect(s.requests, s.name).toBeGreaterThan(0);

    // 1. Within the limit, to the micro-dollar: the panel's ledger and the runtimes' own files.
    const [panelTeam] = await pgServer.rows("SELECT count(*)::int AS n, coalesce(sum(cost_micros), 0)::bigint AS cost FROM llm_requests WHERE budgets LIKE '%\"team@%'");
    const localCost = runtimes.reduce((s, r) => s + localTeam(r.db).cost, 0);
    expect(Number(panelTeam.cost)).toBeLessThanOrEqual(LIMIT_MICROS);
    expect(localCost).toBeLessThanOrEqual(LIMIT_MICROS);
    expect(Number(panelTeam.cost)).toBe(localCost);
    // The budget, not the chaos, ended the run.
    expect(localCost).toBeGreaterThan(LIMIT_MICROS * 0.95);
    // 2. Every row on the panel once: what each runtime's own file holds.
    for (const r of runtimes) {
      const local = localAll(r.db);
      const [remote] = await pgServer.rows('SELECT count(*)::int AS n, coalesce(sum(cost_micros), 0)::bigint AS cost FROM llm_requests WHERE runtime_id = $1', [r.id]);
      expect({ runtime: r.id, n: remote.n, cost: Number(remote.cost) }).toEqual({ runtime: r.id, n: local.n, cost: local.cost });
    }
    // 3. The budget's figures are its rows; nothing is leased any more (each runtime gave its lease back as it stopped).
    const [lease] = await pgServer.rows(
      "SELECT coalesce(sum(spent_micros), 0)::bigint AS spent, coalesce(sum(greatest(granted_micros - spent_micros, 0)), 0)::bigint AS leased FROM budget_leases WHERE budget_id = 'team'",
    );
    expect(Number(lease.spent)).toBe(Number(panelTeam.cost));
    expect(Number(lease.leased)).toBe(0);

    // 5. A lease call replayed out of order (a retry that lost its race, through whichever replica) changes nothing.
    const r1 = runtimes[0]!;
    const [order] = await pgServer.rows('SELECT incarnation::bigint AS inc, seq::bigint AS seq FROM lease_order WHERE runtime_id = $1', [r1.id]);
    expect(Number(order.seq)).toBeGreaterThan(1);
    const leasesOf = () => pgServer.rows('SELECT * FROM budget_leases WHERE runtime_id = $1 ORDER BY budget_id, window_start', [r1.id]);
    const coverageOf = () => pgServer.rows('SELECT * FROM budget_coverage WHERE runtime_id = $1 ORDER BY budget_id, window_start', [r1.id]);
    const before = { leases: await leasesOf(), coverage: await coverageOf() };
    const window = Number(before.leases[0].window_start);
    for (const replay of [
      { incarnation: Number(order.inc), seq: Number(order.seq) - 1 },
      { incarnation: Number(order.inc) - 1, seq: Number(order.seq) + 100 },
    ]) {
      const r = await fetch(`${lb.url}/api/leases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${r1.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...replay, budgets: [{ budget: 'team', window, want: LIMIT_MICROS, used: 0, held: 0, waiting: 3, need: 100_000, rate: 1_000_000 }] }),
      });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ stale: true });
    }
    expect({ leases: await leasesOf(), coverage: await coverageOf() }).toEqual(before);
    const [after] = await pgServer.rows('SELECT incarnation::bigint AS inc, seq::bigint AS seq FROM lease_order WHERE runtime_id = $1', [r1.id]);
    expect(after).toEqual(order);

    // 4. The viewer kept up: each agent's spend on the page (on replica c, through its restart) is the database's.
    const agents = await pgServer.rows('SELECT runtime_id, agent_id, sum(cost_micros)::bigint AS cost FROM llm_requests GROUP BY runtime_id, agent_id');
    await until(
      async () => {
        for (const row of agents) {
          const cell = page.page.locator(`[data-testid="fleet-agent"][data-runtime="${row.runtime_id}"][data-id="${row.agent_id}"]`).getByTestId('fleet-agent-spend');
          if ((await cell.count()) === 0 || !(await cell.innerText()).startsWith(formatUsd(Number(row.cost)))) return null;
        }
        return true;
      },
      20_000,
      250,
    );
    await page.screenshot('fleet-after-replicas');
    expect(page.problems().filter((p) => !/WebSocket|ERR_CONNECTION_(REFUSED|RESET)|ERR_EMPTY_RESPONSE|Failed to load resource/.test(p))).toEqual([]);
  });
});
