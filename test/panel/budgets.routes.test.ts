import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { cli, cliInProcess } from '../helpers/cli.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// Central budgets on a running control panel (real PostgreSQL, real HTTP): /api/budgets for
// admins and viewers, POST /api/leases for runtime tokens only, precise 400s, 404, 409, the
// sweep reclaiming a silent runtime's lease (said once, in the log and on the feed), and the
// command line straight to the database.

let server: TestPostgres;
let t: TestPanel;
let viewer: string;
const rt: Record<string, string> = {};

beforeAll(async () => {
  server = await startPostgres();
  // Short leases: a silent runtime's lease is reclaimed within a second.
  t = await startTestPanel(server.url, { leaseTtlMs: 300, leaseReclaimAfterMs: 200 });
  for (const [id, user] of [
    ['rt-a', 'ann'],
    ['rt-b', null],
  ] as const)
    rt[id] = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id, user } })).json()) as { token: string }).token;
  await t.api('/api/users', { token: t.admin, body: { name: 'vic', role: 'viewer', password: 'a long viewer password' } });
  viewer = ((await (await t.api('/api/login', { body: { name: 'vic', password: 'a long viewer password' } })).json()) as { token: string }).token;
}, 60_000);
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

const call = async (path: string, o: { method?: string; token?: string | null; body?: unknown; raw?: string } = {}) => {
  const res = await t.api(path, { token: t.admin, ...o });
  return { status: res.status, body: (await res.json()) as any };
};
const lease = (token: string, budgets: unknown[]) => call('/api/leases', { token, body: { budgets } });

describe('/api/budgets', () => {
  it('creates, reads, changes and deletes a budget; viewers read; runtime tokens are refused', async () => {
    const made = await call('/api/budgets', { body: { id: 'sales', scope: 'team', users: ['ann'], agents: ['lead-gen'], period: 'month', limitUsd: 5 } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ id: 'sales', scope: 'team', period: 'month', limitMicros: 5_000_000, spentMicros: 0, unleasedMicros: 5_000_000, state: 'ok', runwaySeconds: null, leases: [] });
    expect((await call('/api/budgets', { body: { id: 'sales', scope: 'fleet', limitUsd: 1 } })).status).toBe(409);
    const list = await call('/api/budgets', { token: viewer });
    expect(list.status).toBe(200);
    expect(list.body.budgets.map((b: { id: string }) => b.id)).toEqual(['sales']);
    expect((await call('/api/budgets/sales', { token: viewer })).body.users).toEqual(['ann']);
    expect((await call('/api/budgets', { token: viewer, body: { id: 'x', scope: 'fleet', limitUsd: 1 } })).status).toBe(403);
    const refused = await call('/api/budgets', { token: rt['rt-a'] });
    expect(refused).toMatchObject({
      status: 403,
      body: {
        error: {
          message:
            'a runtime token may only send telemetry (/api/telemetry), take budget leases (/api/leases), read the secrets in its scope (GET /api/runtime/secrets) and the panel decisions on its approvals (GET /api/runtime/approvals)',
        },
      },
    });
    const changed = await call('/api/budgets/sales', { method: 'PATCH', body: { limitUsd: 7.5, agents: [] } });
    expect(changed.body).toMatchObject({ limitMicros: 7_500_000, agents: [], users: ['ann'] });
    expect(t.log.join('')).toContain('budget sales changed by');
    expect((await call('/api/budgets/sales', { method: 'DELETE' })).body).toEqual({ id: 'sales', deleted: true });
    expect((await call('/api/budgets/sales', { method: 'DELETE' })).status).toBe(404);
    expect((await call('/api/budgets/sales')).body.error.message).toBe("no budget 'sales'");
  });

  it('answers a precise 400 for each malformed body', async () => {
    const cases: Array<[unknown, string]> = [
      [{ id: 'Bad Id', scope: 'fleet', limitUsd: 1 }, 'id: a budget id is 1-63 of a-z, 0-9'],
      [{ id: 'a', scope: 'planet', limitUsd: 1 }, 'scope: must be one of "agent", "user", "team", "fleet"'],
      [{ id: 'a', scope: 'fleet', limitUsd: 0 }, 'limitUsd: must be more than $0'],
      [{ id: 'a', scope: 'fleet', limitUsd: 1, period: 'week' }, 'period: must be one of "none", "day", "month"'],
      [{ id: 'a', scope: 'fleet', limitUsd: 1, extra: 1 }, "unknown field 'extra'"],
      [{ id: 'a', scope: 'agent', agents: ['x', 'y'], limitUsd: 1 }, 'a budget of scope agent names exactly one agent (agents: ["name"]); agents names 2'],
      [{ id: 'a', scope: 'user', limitUsd: 1 }, 'a budget of scope user names exactly one user (users: ["name"]); users names none'],
      [{ id: 'a', scope: 'team', limitUsd: 1 }, 'a budget of scope team names at least one agent or user'],
      [{ id: 'a', scope: 'fleet', users: ['ann'], limitUsd: 1 }, 'a budget of scope fleet covers every runtime: it names no agents or users'],
      [{ id: 'a', scope: 'team', agents: ['x', 'x'], limitUsd: 1 }, "agents: 'x' is named twice"],
    ];
    for (const [body, message] of cases) {
      const r = await call('/api/budgets', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toContain(message);
    }
    await call('/api/budgets', { body: { id: 'ops', scope: 'fleet', limitUsd: 1 } });
    expect((await call('/api/budgets/ops', { method: 'PATCH', body: {} })).body.error.message).toBe('name what to change: limitUsd, agents, users or period');
    expect((await call('/api/budgets/ops', { method: 'PATCH', body: { users: ['ann'] } })).body.error.message).toBe('a budget of scope fleet covers every runtime: it names no agents or users');
    expect((await call('/api/budgets/nope', { method: 'PATCH', body: { limitUsd: 2 } })).status).toBe(404);
    await call('/api/budgets/ops', { method: 'DELETE' });
  });
});

describe('POST /api/leases', () => {
  it('grants a runtime headroom of the budgets covering it, counts its tagged rows, refuses a limit below them (409)', async () => {
    await call('/api/budgets', { body: { id: 'fleet-cap', scope: 'fleet', limitUsd: 2 } });
    await call('/api/budgets', { body: { id: 'ann-only', scope: 'user', users: ['ann'], limitUsd: 1 } });
    const a = await lease(rt['rt-a']!, [{ budget: 'fleet-cap', window: 0, want: 1_500_000, rate: 60_000 }]);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ now: expect.any(Number), renewInMs: 150 });
    expect(a.body.budgets).toEqual([
      expect.objectContaining({ budget: 'ann-only', covers: 'all', granted: 0, limit: 1_000_000 }),
      expect.objectContaining({ budget: 'fleet-cap', scope: 'fleet', period: 'none', window: 0, covers: 'all', granted: 1_500_000, unleased: 500_000, left: 2_000_000, contended: false, state: 'ok' }),
    ]);
    // rt-b has no user: only the fleet budget covers it, with what is left.
    const b = await lease(rt['rt-b']!, [
      { budget: 'fleet-cap', window: 0, want: 1_000_000 },
      { budget: 'ann-only', window: 0, want: 5 },
    ]);
    expect(b.body.budgets.map((g: { budget: string; granted: number }) => [g.budget, g.granted])).toEqual([['fleet-cap', 500_000]]);
    // Its rows land tagged: spent is theirs.
    const batch = batchOf('rt-b', 1, { n: 3, costMicros: 400_000 });
    const sent = await t.api('/api/telemetry', { token: rt['rt-b'], body: { ...batch, llmRequests: batch.llmRequests!.map((r) => ({ ...(r as object), budgets: '["fleet-cap@0"]' })) } });
    expect(sent.status).toBe(200);
    const v = (await call('/api/budgets/fleet-cap')).body;
    expect(v).toMatchObject({ spentMicros: 1_200_000, percentUsed: 60, state: 'ok' });
    expect(v.leases.map((l: { runtime: string; spentMicros: number; online: boolean }) => [l.runtime, l.spentMicros])).toEqual([
      ['rt-a', 0],
      ['rt-b', 1_200_000],
    ]);
    // Every runtime is told of an agent budget (its names could cover any runtime's agents); one
    // whose agents it does not cover asks for nothing and is not listed: no $0.00 lease rows.
    await call('/api/budgets', { body: { id: 'researcher', scope: 'agent', agents: ['researcher'], limitUsd: 1 } });
    for (const id of ['rt-a', 'rt-b']) expect((await lease(rt[id]!, [{ budget: 'researcher', window: 0, want: 0 }])).status).toBe(200);
    expect((await lease(rt['rt-a']!, [{ budget: 'researcher', window: 0, want: 200_000, rate: 60_000 }])).status).toBe(200);
    expect((await call('/api/budgets/researcher')).body.leases.map((l: { runtime: string; grantedMicros: number }) => [l.runtime, l.grantedMicros])).toEqual([['rt-a', 200_000]]);
    const low = await call('/api/budgets/fleet-cap', { method: 'PATCH', body: { limitUsd: 1 } });
    expect(low).toMatchObject({ status: 409, body: { error: { message: "budget 'fleet-cap' has already spent $1.20 in this window: its limit cannot go below that (asked $1.00)" } } });
  });

  it('is for runtime tokens only, and answers a precise 400 for each malformed ask', async () => {
    expect((await lease(t.admin, [])).body.error.message).toBe('budget leases are taken with a runtime token (POST /api/runtimes makes one)');
    expect((await call('/api/leases', { token: null, body: { budgets: [] } })).status).toBe(401);
    const cases: Array<[unknown, string]> = [
      [{}, 'budgets: expected array'],
      [{ budgets: [{ budget: 'x', window: 0 }] }, 'budgets.0.want: expected number'],
      [{ budgets: [{ budget: 'x', window: 0, want: -1 }] }, 'budgets.0.want: must be 0 or more'],
      [{ budgets: [{ budget: 'x', window: 1.5, want: 1 }] }, 'budgets.0.window: must be a whole number'],
      [{ budgets: [{ budget: 'x', window: 0, want: 1, extra: 1 }] }, "unknown field 'budgets.0.extra'"],
      [
        {
          budgets: [
            { budget: 'x', window: 0, want: 1 },
            { budget: 'x', window: 0, want: 2 },
          ],
        },
        'budgets.1: budget x window 0 is asked for twice',
      ],
    ];
    for (const [body, message] of cases) {
      const r = await call('/api/leases', { token: rt['rt-a'], body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toBe(message);
    }
    // An unknown or deleted budget is no error: it is simply not in the answer.
    const r = await lease(rt['rt-a']!, [{ budget: 'never-made', window: 0, want: 1 }]);
    expect(r.status).toBe(200);
    expect(r.body.budgets.map((g: { budget: string }) => g.budget)).not.toContain('never-made');
    const big = await t.api('/api/leases', { token: rt['rt-a'], raw: JSON.stringify({ budgets: [], pad: 'x'.repeat(70_000) }) });
    expect(big.status).toBe(413);
  });

  it('reclaims a silent runtime’s lease by the sweep, said once in the log and on the feed', async () => {
    await call('/api/budgets', { body: { id: 'silent', scope: 'fleet', limitUsd: 1 } });
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws?token=${t.admin}`);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (m) => frames.push(JSON.parse(String(m))));
    try {
      await until(() => frames.find((f) => f.kind === 'hello'));
      await lease(rt['rt-b']!, [{ budget: 'silent', window: 0, want: 800_000, used: 100_000, held: 50_000 }]);
      const frame = await until(() => frames.find((f) => f.kind === 'budget' && f.change === 'reclaimed' && f.budget === 'silent'), 10_000);
      expect(frame).toMatchObject({ runtime: 'rt-b', window: 0, message: expect.stringContaining('$0.65 of its grant returned to the budget (granted $0.80 → $0.15') });
      const v = (await call('/api/budgets/silent')).body;
      expect(v.leases).toEqual([expect.objectContaining({ runtime: 'rt-b', grantedMicros: 150_000, online: false })]);
      expect(v.unleasedMicros).toBe(850_000);
      // Two more sweeps pass: said once.
      await t.panel.service.budgets.sweep();
      await t.panel.service.budgets.sweep();
      expect(t.log.filter((l) => l.includes('budget silent: runtime rt-b went silent')).length).toBe(1);
      expect(frames.filter((f) => f.kind === 'budget' && f.change === 'reclaimed' && f.budget === 'silent')).toHaveLength(1);
    } finally {
      ws.close();
    }
  });
});

describe('iron-cage panel budget', () => {
  it('sets, lists and removes budgets in the database, and refuses bad flags with exit 2', async () => {
    const db = await server.createDatabase('cli');
    // The first as a process of its own; the others in-process (cliInProcess: the same program, no cold start of Node for each).
    const set = await cli(['panel', 'budget', 'set', 'team-x', '--limit', '$250', '--period', 'day', '--team', '--agents', 'a,b', '--users', 'u1', '--database', db]);
    expect(set.stderr).toBe('');
    expect(set.stdout).toBe("Budget 'team-x' set: $250.00 a day on the team of agents a, b and users u1; $0.00 spent in this window.\n");
    const [list, bad] = await Promise.all([
      cliInProcess(['panel', 'budget', 'list', '--json', '--database', db]),
      Promise.all([
        cliInProcess(['panel', 'budget', 'set', 'y', '--limit', '5', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--fleet', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--fleet', '--limit', 'lots', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--fleet', '--agent', 'z', '--limit', '5', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--team', '--limit', '5', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--fleet', '--limit', '5', '--period', 'week', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'Y!', '--fleet', '--limit', '5', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'team-x', '--fleet', '--database', db]),
        cliInProcess(['panel', 'budget', 'rm', 'nope', '--database', db]),
        cliInProcess(['panel', 'budget', 'set', 'y', '--agent', 'bell\u0007', '--limit', '5', '--database', db]),
      ]),
    ]);
    expect(JSON.parse(list.stdout).budgets).toEqual([expect.objectContaining({ id: 'team-x', scope: 'team', agents: ['a', 'b'], users: ['u1'], period: 'day', limitMicros: 250_000_000 })]);
    expect(bad.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(bad.map((r) => r.stderr.replace(/^iron-cage: /, '').trim())).toEqual([
      'panel budget set: a new budget needs its scope: --fleet, --agent NAME, --user NAME or --team --agents a,b --users u1,u2',
      'panel budget set: a new budget needs --limit (dollars: 500, $500)',
      'panel budget set: --limit: "lots" is not an amount in dollars (try 50, 50.00 or $50; at most 6 decimal places)',
      'panel budget set: give one of --fleet, --agent, --user, --team (got --fleet, --agent)',
      'panel budget set: --team needs --agents a,b and/or --users u1,u2',
      'panel budget set: --period: must be one of none, day, month (got "week")',
      'panel budget set: \'Y!\' is not a budget id: 1-63 of a-z, 0-9, ".", "_", "-", starting with a letter or digit',
      "panel budget set: budget 'team-x' has scope team; remove it first (panel budget rm team-x) to give it scope fleet",
      "panel budget rm: no budget 'nope'",
      'panel budget set: agents: "bell\\u0007" is not a name: 1-100 characters, no control characters',
    ]);
    const change = await cliInProcess(['panel', 'budget', 'set', 'team-x', '--limit', '300', '--database', db]);
    expect(change.stdout).toContain("Budget 'team-x' changed: $300.00 a day");
    expect((await cliInProcess(['panel', 'budget', 'rm', 'team-x', '--database', db])).code).toBe(0);
    expect((await cliInProcess(['panel', 'budget', 'list', '--database', db])).stdout).toBe('No central budgets (iron-cage panel budget set ID --limit 500 --fleet).\n');
  }, 60_000);
});
