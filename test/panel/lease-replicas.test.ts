import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetService } from '../../src/budget/index.js';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import type { BudgetTracker } from '../../src/domain/budget/index.js';
import { storeDb } from '../../src/state/runtime/manager.js';
import { events, llmRequests } from '../../src/state/schema.js';
import { cliInProcess, freePort, launchCli, type LaunchedCli } from '../helpers/cli.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { agentToken, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';

// Leases under replicas (panel processes behind one load balancer), on a real panel (PostgreSQL, HTTP), a second panel
// process on the same database, and real runtimes reporting to it: a lease call replayed out of
// order changes nothing on the ledger of leases; two calls of one runtime reaching two panel
// processes at once take turns; a runtime restarted with an empty state file spends no more than
// its old grant less what the panel knows it spent; a budget whose names no longer cover a runtime
// gets that runtime's unused grant back at once, for another runtime to lease.

let server: TestPostgres;
let t: TestPanel;
/** A network path to the panel that a test cuts (see relay). */
let cable: Relay;
const rt: Record<string, string> = {};
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startPostgres();
  cable = await relay(() => Number(new URL(t.url).port));
  // Leases renewed every second and a half (half of the TTL), so a runtime's report follows its calls
  // closely. The relay's address is one of the panel's names, as a load balancer's would be.
  t = await startTestPanel(server.url, { leaseTtlMs: 3_000, allowedHosts: [new URL(cable.url).host] });
  for (const [id, user] of [
    ['rt-replay', 'u-replay'],
    ['rt-legacy', 'u-legacy'],
    ['rt-race', 'u-race'],
    ['rt-floor', 'u-floor'],
    ['rt-ann', 'ann'],
    ['rt-bob', 'bob'],
  ] as const)
    rt[id] = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id, user } })).json()) as { token: string }).token;
}, 60_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await cable?.cut();
  await t?.close();
  await server?.destroy();
});

const call = async (path: string, o: { method?: string; token?: string | null; body?: unknown } = {}) => {
  const res = await t.api(path, { token: t.admin, ...o });
  return { status: res.status, body: (await res.json()) as any };
};
const budget = async (body: Record<string, unknown>) => expect((await call('/api/budgets', { body })).status).toBe(201);
/** POST /api/leases on a panel (this one unless told), as a runtime sends it. */
const lease = async (token: string, body: unknown, url = t.url) => {
  const res = await fetch(`${url}/api/leases`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};
const num = (rows: Array<Record<string, unknown>>) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])));
/** A runtime's lease row of a budget's one window, as PostgreSQL holds it. */
const row = async (runtime: string, budgetId: string) =>
  num(
    await server.rows(
      'SELECT granted_micros AS granted, spent_micros AS spent, used_micros AS used, held_micros AS held, wanted_micros AS wanted FROM budget_leases WHERE budget_id = $1 AND runtime_id = $2 AND window_start = 0',
      [budgetId, runtime],
    ),
  )[0] as { granted: number; spent: number; used: number; held: number; wanted: number } | undefined;
const order = async (runtime: string) => num(await server.rows('SELECT incarnation, seq FROM lease_order WHERE runtime_id = $1', [runtime]))[0];

const chatConfig = (url: string, token: string, chunkDelayMs: number): Partial<Config> => ({
  gateway: {
    ...DEFAULTS.gateway,
    budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, waitMs: 3_000 },
    providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 20, chunkDelayMs, failures: [] } },
  },
  panel: { url, token, ca: null },
});
/** A runtime reporting to `url` (its state file in `dir`, kept at stop, when given; its provider streaming a chunk every `chunkDelayMs`). */
async function runtime(url: string, token: string, o: { dir?: string; chunkDelayMs?: number } = {}): Promise<TestRuntime> {
  const r = await startTestRuntime({ config: chatConfig(url, token, o.chunkDelayMs ?? 0), ...(o.dir ? { dir: o.dir } : {}) });
  let stopped = false;
  cleanups.push(async () => !stopped && (await r.stop()));
  return {
    ...r,
    stop: async () => {
      stopped = true;
      await r.stop();
    },
  };
}
/** One chat completion as an agent's SDK sends it (streamed when told): its status and body. */
async function chat(r: TestRuntime, token: string, stream = false): Promise<{ status: number; body: string }> {
  const res = await fetch(`${r.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 40, stream }),
  });
  return { status: res.status, body: await res.text() };
}
const trackerOf = (r: TestRuntime): BudgetTracker => (r.rt.services.find((s) => s.name === 'budget') as BudgetService).budgets.tracker;
const ledgerRows = (r: TestRuntime) => storeDb(r.rt.state).orm.select().from(llmRequests).all();
const spentOn = (r: TestRuntime, key: string) =>
  ledgerRows(r)
    .filter((x) => x.status !== 'pending' && x.budgets !== null && (JSON.parse(x.budgets) as string[]).includes(key))
    .reduce((s, x) => s + x.costMicros, 0);

interface Relay {
  url: string;
  cut: () => Promise<void>;
}

/**
 * A TCP relay to the panel (at the port `target` names when a connection comes) that the test can
 * cut: the runtime behind it then loses the panel at once, as a machine pulled from the network
 * does, so its last give-back never arrives.
 */
async function relay(target: () => number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = connect(target(), '127.0.0.1');
    for (const s of [c, up]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        c.destroy();
        up.destroy();
      });
    }
    c.pipe(up).pipe(c);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let cut = false;
  const close = async () => {
    if (cut) return;
    cut = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return { url, cut: close };
}

describe('the order of a runtime’s lease calls', () => {
  it('answers a replayed older call stale and writes nothing: no grant, lease row, coverage row or pair', async () => {
    await budget({ id: 'replay', scope: 'user', users: ['u-replay'], limitUsd: 1 });
    const tok = rt['rt-replay']!;
    const I = Date.now();
    const first = await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'replay', window: 0, want: 300_000 }] });
    expect(first.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ budget: 'replay', granted: 300_000, floor: 0 })] });
    expect(first.body.applied).toBeUndefined();
    const second = await lease(tok, { incarnation: I, seq: 2, budgets: [{ budget: 'replay', window: 0, want: 500_000, used: 100_000, held: 20_000 }] });
    expect(second.body.budgets).toEqual([expect.objectContaining({ budget: 'replay', granted: 500_000, floor: 100_000 })]);
    // A budget made since: a replay must not record it as told to this runtime.
    await budget({ id: 'replay-new', scope: 'user', users: ['u-replay'], limitUsd: 1 });
    const ledger = async () => ({
      leases: await server.rows("SELECT * FROM budget_leases WHERE budget_id LIKE 'replay%' ORDER BY budget_id, window_start, runtime_id"),
      coverage: await server.rows("SELECT * FROM budget_coverage WHERE runtime_id = 'rt-replay' ORDER BY budget_id"),
      order: await order('rt-replay'),
    });
    const before = await ledger();
    expect(before.coverage.map((c) => c.budget_id)).toEqual(['replay']);

    // Call 1 again, as a retry that lost its race or a replica that answered late sends it: it would give everything back.
    const replay = await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'replay', window: 0, want: 0 }] });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 2 } });
    // The answer is the state as it stands, computed read-only.
    expect(replay.body.budgets).toEqual([
      expect.objectContaining({ budget: 'replay', granted: 500_000, floor: 100_000, unleased: 500_000 }),
      expect.objectContaining({ budget: 'replay-new', granted: 0, floor: 0 }),
    ]);
    // The same number again, and a call of an earlier process: stale too.
    for (const o of [
      { incarnation: I, seq: 2 },
      { incarnation: I - 1, seq: 99 },
    ])
      expect((await lease(tok, { ...o, budgets: [{ budget: 'replay', window: 0, want: 900_000 }] })).body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 2 } });
    expect(await ledger()).toEqual(before);

    // The next number is applied: it gives back, and is told of the new budget.
    const third = await lease(tok, { incarnation: I, seq: 3, budgets: [{ budget: 'replay', window: 0, want: 0, used: 100_000 }] });
    expect(third.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ budget: 'replay', granted: 100_000 }), expect.objectContaining({ budget: 'replay-new' })] });
    expect((await ledger()).coverage.map((c) => c.budget_id)).toEqual(['replay', 'replay-new']);
    expect(await order('rt-replay')).toEqual({ incarnation: I, seq: 3 });
    // An older runtime's call, with no order, is taken as it comes, and leaves the pair as it is.
    const unordered = await lease(tok, { budgets: [{ budget: 'replay', window: 0, want: 150_000, used: 100_000 }] });
    expect(unordered.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 150_000 }), expect.anything()] });
    expect(await order('rt-replay')).toEqual({ incarnation: I, seq: 3 });
  });

  it('refuses an order given by halves or out of range with a 400 naming the field', async () => {
    const I = Date.now();
    const both = "a lease call is ordered by both (the runtime process's start, epoch ms, and the call's number in it)";
    const cases: Array<[unknown, string]> = [
      [{ incarnation: I, budgets: [] }, `seq: required with incarnation: ${both}`],
      [{ seq: 4, budgets: [] }, `incarnation: required with seq: ${both}`],
      [{ incarnation: I, seq: 0, budgets: [] }, 'seq: must be 1 or more'],
      [{ incarnation: 0, seq: 1, budgets: [] }, 'incarnation: must be 1 or more'],
      [{ incarnation: 1.5, seq: 1, budgets: [] }, 'incarnation: must be a whole number'],
      [{ incarnation: String(I), seq: 1, budgets: [] }, 'incarnation: expected number'],
      [{ incarnation: I, seq: 2 ** 53, budgets: [] }, `seq: must be at most ${Number.MAX_SAFE_INTEGER}`],
    ];
    for (const [body, message] of cases) {
      const r = await lease(rt['rt-replay']!, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toBe(message);
    }
  });

  it('two calls of one runtime reaching two panel processes at once take turns: the higher number wins, a lower one served second is stale', async () => {
    await budget({ id: 'race', scope: 'user', users: ['u-race'], limitUsd: 10 });
    // A second panel process on the same database (the built command line, as a replica runs).
    const port = await freePort();
    const other: LaunchedCli = launchCli(['panel', '--database', server.url, '--port', String(port), '--host', '127.0.0.1', '--lease-ttl', '3s']);
    cleanups.push(async () => {
      other.child.kill('SIGKILL');
      await other.exited;
    });
    await until(() => /#login=/.test(other.out()), 40_000);
    const B = `http://127.0.0.1:${port}`;
    const tok = rt['rt-race']!;
    const I = Date.now();
    expect((await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'race', window: 0, want: 50_000 }] }, B)).body.budgets[0].granted).toBe(50_000);

    // The test holds the runtime's lease turn (its row of lease_order, which its calls lock first),
    // so both calls are in their transactions, waiting, before either goes on; then lets go. Each
    // waits at that row (the statement naming it), first come first served.
    const holder = new pg.Client(server.url);
    await holder.connect();
    cleanups.push(() => holder.end());
    const waiting = async () =>
      (await server.rows<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%lease_order%'"))[0]!.n;
    type Sent = [url: string, o: { incarnation: number; seq: number }, want: number];
    const race = async (...calls: [Sent, Sent]) => {
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM lease_order WHERE runtime_id = 'rt-race' FOR UPDATE");
      const answers: Array<Promise<{ status: number; body: any }>> = [];
      for (const [url, o, want] of calls) {
        answers.push(lease(tok, { ...o, budgets: [{ budget: 'race', window: 0, want }] }, url));
        const n = answers.length;
        await until(async () => (await waiting()) === n, 15_000);
      }
      await holder.query('COMMIT');
      const [first, second] = await Promise.all(answers);
      return [first!, second!] as const;
    };

    // Call 11 (panel A) is first in line, call 10 (panel B) second: 11 is applied, 10 is stale and
    // reads what 11 wrote.
    const [a11, b10] = await race([t.url, { incarnation: I, seq: 11 }, 111_000], [B, { incarnation: I, seq: 10 }, 222_000]);
    expect(a11.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 111_000 })] });
    expect(b10.body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 11 }, budgets: [expect.objectContaining({ granted: 111_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 111_000, wanted: 111_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I, seq: 11 });

    // The lower number first (panel B), the higher second (panel A): both are applied, in order.
    const [b12, a13] = await race([B, { incarnation: I, seq: 12 }, 333_000], [t.url, { incarnation: I, seq: 13 }, 40_000]);
    expect(b12.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 333_000 })] });
    expect(a13.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 40_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 40_000, wanted: 40_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I, seq: 13 });

    // A new process of the runtime (a later start) first: the old process's late call is stale.
    const [a1, b14] = await race([t.url, { incarnation: I + 1_000, seq: 1 }, 70_000], [B, { incarnation: I, seq: 14 }, 999_000]);
    expect(a1.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 70_000 })] });
    expect(b14.body).toMatchObject({ stale: true, applied: { incarnation: I + 1_000, seq: 1 }, budgets: [expect.objectContaining({ granted: 70_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 70_000, wanted: 70_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I + 1_000, seq: 1 });

    // And as they come, nobody holding anything: 20 pairs, each two numbers fired at once at the
    // two panels (which panel gets the higher one alternates). Whatever the order they run in, the
    // higher one is applied last: the pair and the lease row are its, and the lower one is either
    // applied before it or answered stale with what the higher one wrote.
    const J = I + 2_000;
    for (let n = 1; n <= 40; n += 2) {
      const want = (seq: number) => 10_000 + seq * 1_000;
      const [lo, hi] = n % 4 === 1 ? [t.url, B] : [B, t.url];
      const [low, high] = await Promise.all([
        lease(tok, { incarnation: J, seq: n, budgets: [{ budget: 'race', window: 0, want: want(n) }] }, lo),
        lease(tok, { incarnation: J, seq: n + 1, budgets: [{ budget: 'race', window: 0, want: want(n + 1) }] }, hi),
      ]);
      expect(high.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: want(n + 1) })] });
      if (low.body.stale) expect(low.body.budgets[0].granted).toBe(want(n + 1));
      else expect(low.body.budgets[0].granted).toBe(want(n));
      expect(await order('rt-race')).toEqual({ incarnation: J, seq: n + 1 });
      expect(await row('rt-race', 'race')).toMatchObject({ granted: want(n + 1), wanted: want(n + 1) });
    }
  }, 90_000);
});

describe('what the panel knows a runtime spent', () => {
  it('a runtime restarted with an empty state file spends no more than its old grant less what the panel knows it spent and held, to the micro-dollar', async () => {
    const LIMIT = 5_000;
    await budget({ id: 'floor', scope: 'user', users: ['u-floor'], limitUsd: LIMIT / 1_000_000 });
    const tok = rt['rt-floor']!;
    const { dir, cleanup } = tempDir();
    cleanups.push(async () => cleanup());
    // Its provider streams slowly: streams are still in flight when it goes.
    const first = await runtime(cable.url, tok, { dir, chunkDelayMs: 1_000 });
    const a = await agentToken(first, { budgetUsd: null, name: 'worker' });
    const burst = await Promise.all(Array.from({ length: 6 }, () => chat(first, a.token)));
    expect(
      burst.map((r) => r.status),
      burst.map((r) => r.body).join('\n'),
    ).toEqual([200, 200, 200, 200, 200, 200]);
    // Its lease grows with its spend rate until it holds the whole budget.
    await until(async () => (await row('rt-floor', 'floor'))?.granted === LIMIT, 20_000);
    // Three streams begin, and a lease call tells the panel what they hold.
    const inFlight = Promise.allSettled(Array.from({ length: 3 }, () => chat(first, a.token, true)));
    await until(async () => {
      const r = await row('rt-floor', 'floor');
      const s = trackerOf(first).central('central:floor@0');
      return r && s && r.held > 0 && r.held === s.reservedMicros && r.used === s.spentMicros;
    }, 10_000);
    // Pulled from the network and stopped: its calls end (the provider charges them), its last
    // report and give-back never reach the panel, and its state file is lost.
    await cable.cut();
    await first.stop();
    // Its agents' connections close with it; what those calls cost is in its file.
    await inFlight;
    const crashed = (await row('rt-floor', 'floor'))!;
    expect(crashed).toMatchObject({ granted: LIMIT });
    // What its file held, as a restart of it would count it: a stream cut off at its reservation.
    const file = new Database(`${dir}/iron_state.db`, { readonly: true });
    const held = file.prepare(`SELECT coalesce(sum(CASE status WHEN 'pending' THEN reserved_micros ELSE cost_micros END), 0) AS c FROM llm_requests WHERE budgets LIKE '%"floor@0"%'`);
    const spentFirst = (held.get() as { c: number }).c;
    file.close();
    rmSync(dir, { recursive: true, force: true });
    // It spent more than it last reported: the streams in flight then count.
    expect(spentFirst).toBeGreaterThan(crashed.used);
    expect(spentFirst).toBeLessThanOrEqual(crashed.used + crashed.held);

    // The same runtime again, with an empty state file: it counts from what the panel knows it spent and held.
    const counted = Math.max(crashed.spent, crashed.used) + crashed.held;
    const second = await runtime(t.url, tok);
    const account = await until(() => trackerOf(second).central('central:floor@0'), 15_000);
    expect(account.spentMicros).toBe(counted);
    const b = await agentToken(second, { budgetUsd: null, name: 'worker' });
    let refused: { status: number; body: string } | null = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      const r = await chat(second, b.token);
      if (r.status !== 200) refused = r;
    }
    expect(refused?.status).toBe(402);
    expect(JSON.parse(refused!.body).error.message).toMatch(/user budget floor \(\$0\.005\d*\) would be exceeded/);
    const again = spentOn(second, 'floor@0');
    const worst = Math.max(...ledgerRows(second).map((x) => x.reservedMicros ?? 0));
    // Its old grant, less what the panel knew: not a micro-dollar more, and it was stopped only there.
    expect(again).toBeLessThanOrEqual(LIMIT - counted);
    expect(again).toBeGreaterThan(LIMIT - counted - worst);
    // So the budget was not overspent, counting what the lost file held.
    expect(spentFirst + again).toBeLessThanOrEqual(LIMIT);
    // Said on the runtime (a budget.lease event) and once in the panel's log.
    const said = storeDb(second.rt.state)
      .orm.select()
      .from(events)
      .all()
      .filter((e) => e.type === 'budget.lease' && e.message.includes('the panel counts'));
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toContain('this runtime has no rows of the window');
    const lines = t.log.join('').split('\n');
    expect(lines.filter((l) => l.includes('budget floor: runtime rt-floor runs a new process'))).toHaveLength(1);
    // The panel's figure for it never went down: what it reports now starts from there.
    await until(async () => (await row('rt-floor', 'floor'))!.used === counted + again, 10_000);
  }, 90_000);

  it('counts an older runtime’s report below what it knew as what it knew: the grant never rests on less, said once', async () => {
    await budget({ id: 'legacy', scope: 'user', users: ['u-legacy'], limitUsd: 1 });
    const tok = rt['rt-legacy']!;
    // An older runtime (no order): it spent 150k of 200k, then comes back having lost its rows.
    expect((await lease(tok, { budgets: [{ budget: 'legacy', window: 0, want: 200_000, used: 150_000 }] })).body.budgets[0]).toMatchObject({ granted: 200_000, floor: 150_000 });
    for (let i = 0; i < 2; i++) {
      const back = await lease(tok, { budgets: [{ budget: 'legacy', window: 0, want: 0, used: 0 }] });
      // Its return stops at what the panel knows it spent, not at what it says.
      expect(back.body.budgets[0]).toMatchObject({ budget: 'legacy', granted: 150_000, floor: 150_000 });
      expect(await row('rt-legacy', 'legacy')).toMatchObject({ granted: 150_000, used: 150_000 });
    }
    const lines = t.log
      .join('')
      .split('\n')
      .filter((l) => l.includes('runtime rt-legacy reported $0.00 spent'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('counted as $0.15');
  });
});

describe('a budget that stops covering a runtime', () => {
  it('takes its unused grant back at once when its names change, for another runtime to lease at once; the runtime stops using it', async () => {
    const LIMIT = 1_000_000;
    await budget({ id: 'team-x', scope: 'team', users: ['ann'], limitUsd: 1 });
    const ann = await runtime(t.url, rt['rt-ann']!);
    const a = await agentToken(ann, { budgetUsd: null, name: 'writer' });
    for (let i = 0; i < 3; i++) expect((await chat(ann, a.token)).status).toBe(200);
    const spent = spentOn(ann, 'team-x@0');
    await until(async () => {
      const r = await row('rt-ann', 'team-x');
      return r && r.used === spent && r.held === 0 && r.granted > spent;
    }, 10_000);
    const bob = rt['rt-bob']!;
    expect((await lease(bob, { budgets: [] })).body.budgets.map((g: { budget: string }) => g.budget)).not.toContain('team-x');

    // The admin gives the budget to bob: ann's runtime's unused grant comes back in the same request.
    const changed = await call('/api/budgets/team-x', { method: 'PATCH', body: { users: ['bob'] } });
    expect(changed.status).toBe(200);
    const after = (await row('rt-ann', 'team-x'))!;
    expect(after.granted).toBe(Math.max(after.spent, after.used + after.held));
    expect(after.granted).toBeLessThan(LIMIT / 10);
    expect(changed.body.leases).toEqual([expect.objectContaining({ runtime: 'rt-ann', grantedMicros: after.granted })]);
    expect(t.log.join('')).toMatch(/budget team-x no longer covers runtime rt-ann: \$\S+ of its grant in its one window \(no period\) returned to the budget as its names changed/);
    // Bob's runtime leases all the rest at once: nothing lost, nothing counted twice.
    const got = await lease(bob, { incarnation: Date.now(), seq: 1, budgets: [{ budget: 'team-x', window: 0, want: LIMIT }] });
    expect(got.body.budgets).toEqual([expect.objectContaining({ budget: 'team-x', granted: LIMIT - Math.max(after.granted, after.spent), unleased: 0 })]);

    // Ann's runtime hears at its next lease call: its agent's calls no longer name the budget.
    await until(() => trackerOf(ann).linksOf(a.agentId).length === 0, 10_000);
    expect((await chat(ann, a.token)).status).toBe(200);
    expect(ledgerRows(ann).at(-1)!.budgets).toBeNull();
    // It says what it spent there one last time and drops the account; the panel holds exactly that.
    await until(() => trackerOf(ann).central('central:team-x@0') === null, 10_000);
    expect(await row('rt-ann', 'team-x')).toMatchObject({ granted: spent, used: spent, held: 0 });
  }, 60_000);

  it('changed on the command line (straight to the database), takes it back at the runtime’s next lease call', async () => {
    await budget({ id: 'team-y', scope: 'team', users: ['ann'], limitUsd: 1 });
    const ann = await runtime(t.url, rt['rt-ann']!);
    const a = await agentToken(ann, { budgetUsd: null, name: 'writer' });
    for (let i = 0; i < 3; i++) expect((await chat(ann, a.token)).status).toBe(200);
    const spent = spentOn(ann, 'team-y@0');
    expect(spent).toBeGreaterThan(0);
    await until(async () => {
      const r = await row('rt-ann', 'team-y');
      return r && r.used === spent && r.held === 0 && r.granted > spent;
    }, 10_000);
    // Set up with the command line in-process (cliInProcess: the same program, no cold start of Node;
    // test/panel/*.test.ts run it as processes).
    const set = await cliInProcess(['panel', 'budget', 'set', 'team-y', '--team', '--users', 'bob', '--database', server.url]);
    expect(set.stderr).toBe('');
    // No panel heard that change; the runtime's next lease call (within a second) brings its grant down.
    await until(async () => (await row('rt-ann', 'team-y'))!.granted === spent, 10_000);
    expect(t.log.join('')).toMatch(/budget team-y no longer covers runtime rt-ann: \$\S+ of its grant in its one window \(no period\) returned to the budget at its lease call/);
    expect((await call('/api/budgets/team-y')).body).toMatchObject({ unleasedMicros: 1_000_000 - spent });
  }, 60_000);
});
