import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Hono } from 'hono';
import type { Principal } from '../../src/core/roles.js';
import { createLogger } from '../../src/core/logger.js';
import type { IronEvent } from '../../src/core/events.js';
import { TierMetrics, type Clock } from '../../src/domain/reliability/index.js';
import { PROVIDER_CLASSIFY, providerBreakers } from '../../src/gateway/index.js';
import { BreakerRegistry, breakerRoutes } from '../../src/reliability/index.js';
import { toErrorResponse, type AppEnv } from '../../src/server/index.js';
import { BreakerStore, StateManager } from '../../src/state/index.js';
import { tempDir } from '../helpers/runtime.js';
import { ManualClock } from './helpers.js';
import { closeSqlite, sqliteOf } from '../helpers/db.js';

// One registry owns every circuit breaker, a tool service's or an LLM provider's:
// restore, saving with each transition's event, the periodic and final saves, cooldowns, the
// admin reset and the views.

const open = { status: 503 };
const ok = { status: 200 };

interface Run {
  state: StateManager;
  registry: BreakerRegistry;
  clock: ManualClock;
  logs: () => string;
  events: (type: string) => any[];
  rows: () => Map<string, { snapshot: any; tiers: any }>;
  /** Close the registry and the database, as a shutdown does. */
  stop: () => Promise<void>;
}

let dir: { dir: string; cleanup: () => void } | undefined;
const running: Run[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  dir?.cleanup();
  dir = undefined;
});

/** A registry on the database in `dir` (the same file for every run of a test: a restart), on a hand-moved clock unless told. */
function start(clock: Clock = new ManualClock()): Run {
  dir ??= tempDir();
  const state = StateManager.open(join(dir.dir, 'state.db'));
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const registry = new BreakerRegistry({ state, logger: createLogger({ format: 'json', level: 'error', stream: out }), clock });
  let stopped = false;
  const run: Run = {
    state,
    registry,
    clock: clock instanceof ManualClock ? clock : new ManualClock(),
    logs: () => text,
    events: (type) => state.lastEvents(1000).filter((e) => e.type === type),
    rows: () => new Map(new BreakerStore(state).load().map((r) => [r.service, r])),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      registry.close();
      await state.close();
    },
  };
  running.push(run);
  return run;
}

/** `n` answers of `status` through `b`, judged by status like the gateway and the tools judge theirs. */
async function calls(b: ReturnType<BreakerRegistry['breaker']>, n: number, answer: { status: number }) {
  for (let i = 0; i < n; i++) {
    const a = b.acquire();
    if (a.allowed) b.recordOutcome(a.permit, answer);
  }
}

const toolSpec = (tiers = new TierMetrics(), cause: () => string | null = () => null) => ({
  options: { failureThreshold: 3, cooldownMs: 60_000 },
  extra: tiers,
  cause,
});

describe('one registry for the breakers of tools and providers', () => {
  it('restores every kind OPEN after a restart, with one breaker.restored shape, and the tools their tier counters', async () => {
    const first = start();
    const tiers = new TierMetrics();
    const tool = first.registry.breaker('tool', 'linkedin', toolSpec(tiers));
    const provider = providerBreakers(first.registry)('openai');
    const mcp = first.registry.breaker('mcp', 'github', { options: { failureThreshold: 2, cooldownMs: 60_000 } });
    tiers.record('cache', 'hit');
    tiers.record('failed', 'miss');
    await calls(tool, 3, open);
    await calls(provider, 5, open);
    await calls(mcp, 2, open);
    await calls(tool, 1, open);
    expect([tool.state, provider.state, mcp.state]).toEqual(['OPEN', 'OPEN', 'OPEN']);
    await first.stop();

    const second = start(new ManualClock(first.clock.now() + 10_000));
    // Each kind's rows apart, as their owners ask for those the config no longer names.
    expect(second.registry.recorded('mcp')).toEqual([{ name: 'github', extra: {} }]);
    expect(second.registry.recorded('provider').map((b) => b.name)).toEqual(['openai']);
    expect(second.registry.recorded('tool').map((b) => b.name)).toEqual(['linkedin']);
    const restoredTiers = new TierMetrics();
    const tool2 = second.registry.breaker('tool', 'linkedin', toolSpec(restoredTiers));
    const provider2 = providerBreakers(second.registry)('openai');
    const mcp2 = second.registry.breaker('mcp', 'github', { options: { failureThreshold: 2, cooldownMs: 60_000 } });
    expect(mcp2.snapshot()).toMatchObject({ state: 'OPEN', counters: { failures: 2 } });
    expect(tool2.snapshot()).toMatchObject({ state: 'OPEN', counters: { failures: 3, rejected: 1 } });
    expect(provider2.snapshot()).toMatchObject({ state: 'OPEN', counters: { failures: 5 } });
    expect(restoredTiers.snapshot()).toEqual({ live: 0, cache: 1, placeholder: 0, failed: 1, cacheLookups: 2 });
    // The provider's options are the gateway's, whoever asks: a 429 is not its failure.
    expect(provider2.options.classify.failureStatuses).toEqual(PROVIDER_CLASSIFY.failureStatuses);

    const restored = second.events('breaker.restored');
    expect(restored.map((e) => [e.severity, e.message])).toEqual([
      ['warn', 'Circuit linkedin restored OPEN from the last run; probe in 50s'],
      ['warn', 'Circuit openai (LLM provider) restored OPEN from the last run; probe in 50s'],
      ['warn', 'Circuit github (MCP server) restored OPEN from the last run; probe in 50s'],
    ]);
    expect(restored.map((e) => e.data)).toEqual([
      { kind: 'tool', service: 'linkedin', state: 'OPEN', retryAt: expect.any(String), problems: [] },
      { kind: 'provider', service: 'openai', state: 'OPEN', retryAt: expect.any(String), problems: [] },
      { kind: 'mcp', service: 'github', state: 'OPEN', retryAt: expect.any(String), problems: [] },
    ]);
    expect(restored.every((e) => e.agentId === null)).toBe(true);
  });

  it('says so, and starts CLOSED, when a saved row cannot be trusted; a CLOSED one restores without a word', async () => {
    const first = start();
    first.registry.breaker('tool', 'crm', toolSpec());
    await calls(providerBreakers(first.registry)('anthropic'), 2, ok);
    await first.stop();
    const raw = sqliteOf({ path: join(dir!.dir, 'state.db') });
    raw.prepare(`UPDATE breakers SET snapshot = '{"version":7}' WHERE service = 'crm'`).run();
    closeSqlite(join(dir!.dir, 'state.db'));

    const second = start();
    expect(second.registry.breaker('tool', 'crm', toolSpec()).state).toBe('CLOSED');
    expect(providerBreakers(second.registry)('anthropic').snapshot().counters.successes).toBe(2);
    const restored = second.events('breaker.restored');
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatchObject({ severity: 'warn', data: { kind: 'tool', service: 'crm', state: 'CLOSED', retryAt: null } });
    expect(restored[0]!.message).toMatch(/^Circuit crm: the saved state could not be trusted \(.*unsupported snapshot version 7.*\); starting CLOSED$/);
  });

  it('saves each transition in the transaction of its event, one wording for both kinds, naming the agent whose call caused it', async () => {
    const r = start();
    let agent: string | null = 'lg-1';
    const tool = r.registry.breaker(
      'tool',
      'linkedin',
      toolSpec(new TierMetrics(), () => agent),
    );
    const provider = providerBreakers(r.registry)('openai');
    // What a listener of the event sees on disk: the event is broadcast after its commit.
    const onDisk: Array<[string, string]> = [];
    r.state.subscribe((e) => {
      if (e.type !== 'breaker.transition') return;
      const d = (e as IronEvent<'breaker.transition'>).data;
      onDisk.push([e.message, r.rows().get(d.kind === 'provider' ? `llm:${d.service}` : d.service)!.snapshot.state]);
    });
    await calls(tool, 3, { status: 429 });
    agent = null;
    await calls(provider, 5, { status: 502 });
    expect(onDisk).toEqual([
      ['Circuit linkedin OPEN after 3 consecutive failures (429); cooldown 60s', 'OPEN'],
      ['Circuit openai OPEN after 5 consecutive failures (502); cooldown 60s', 'OPEN'],
    ]);
    const events = r.events('breaker.transition');
    expect(events.map((e) => [e.agentId, e.severity, e.data.kind])).toEqual([
      ['lg-1', 'warn', 'tool'],
      [null, 'warn', 'provider'],
    ]);
  });

  it('saves moved counters without a transition (periodically, and at close) and never after close', async () => {
    const r = start();
    const tiers = new TierMetrics();
    const tool = r.registry.breaker('tool', 'search', toolSpec(tiers));
    const provider = providerBreakers(r.registry)('simulated');
    await calls(tool, 2, ok);
    await calls(provider, 1, ok);
    tiers.record('live', null);
    r.registry.saveChanged();
    expect(r.rows().get('search')).toMatchObject({ snapshot: { counters: { successes: 2 } }, tiers: { live: 1 } });
    expect(r.rows().get('llm:simulated')).toMatchObject({ snapshot: { counters: { successes: 1 } }, tiers: {} });

    await calls(provider, 4, ok);
    tiers.record('live', null);
    r.registry.close();
    expect(r.rows().get('search')!.tiers.live).toBe(2);
    expect(r.rows().get('llm:simulated')!.snapshot.counters.successes).toBe(5);
    // A call cut off by the shutdown says nothing about its upstream.
    await calls(provider, 5, open);
    expect(provider.state).toBe('OPEN');
    expect(r.rows().get('llm:simulated')!.snapshot.state).toBe('CLOSED');
    expect(r.events('breaker.transition')).toEqual([]);
  });

  it('keeps a tool service and a provider of the same name apart', async () => {
    const r = start();
    const tool = r.registry.breaker('tool', 'openai', toolSpec());
    const provider = providerBreakers(r.registry)('openai');
    expect(tool).not.toBe(provider);
    expect(providerBreakers(r.registry)('openai')).toBe(provider);
    await calls(tool, 3, open);
    expect([tool.state, provider.state]).toEqual(['OPEN', 'CLOSED']);
    expect(r.registry.view('provider', 'openai').state).toBe('CLOSED');
    expect([...r.rows().keys()].sort()).toEqual(['openai']);
    expect(() => r.registry.view('provider', 'nosuch')).toThrow("no LLM provider 'nosuch' has a circuit breaker");
    expect(() => r.registry.reset('tool', 'nosuch', 'admin ops')).toThrow("no tool service 'nosuch' is configured");
  });

  it('resets either kind with an event naming who asked, saved with it', async () => {
    const r = start();
    const tool = r.registry.breaker('tool', 'crm', toolSpec());
    const provider = providerBreakers(r.registry)('anthropic');
    await calls(tool, 3, open);
    await calls(provider, 5, open);
    r.registry.reset('tool', 'crm', 'admin dashboard');
    r.registry.reset('provider', 'anthropic', 'admin ops');
    // A second reset (a stale click) is refused and writes nothing: the failure count stays.
    expect(() => r.registry.reset('provider', 'anthropic', 'admin ops')).toThrow('circuit anthropic (LLM provider) is already CLOSED: nothing was reset');
    expect([tool.state, provider.state]).toEqual(['CLOSED', 'CLOSED']);
    expect(r.events('breaker.reset').map((e) => [e.severity, e.message, e.data])).toEqual([
      ['info', 'Circuit crm reset by admin dashboard (was OPEN)', { kind: 'tool', service: 'crm', from: 'OPEN', requestedBy: 'admin dashboard' }],
      ['info', 'Circuit anthropic (LLM provider) reset by admin ops (was OPEN)', { kind: 'provider', service: 'anthropic', from: 'OPEN', requestedBy: 'admin ops' }],
    ]);
    // The reset is its own event: no second "CLOSED by reset" transition.
    expect(r.events('breaker.transition').filter((e) => e.data.to === 'CLOSED')).toEqual([]);
    expect(r.rows().get('crm')!.snapshot).toMatchObject({ state: 'CLOSED', counters: { failures: 3 } });
    expect(r.rows().get('llm:anthropic')!.snapshot).toMatchObject({ state: 'CLOSED', counters: { failures: 5 } });
  });

  it('shows an elapsed cooldown as HALF_OPEN, a transition no agent caused', async () => {
    const r = start();
    const tool = r.registry.breaker(
      'tool',
      'linkedin',
      toolSpec(new TierMetrics(), () => 'lg-busy'),
    );
    const provider = providerBreakers(r.registry)('openai');
    await calls(tool, 3, open);
    await calls(provider, 5, open);
    r.clock.advance(59_999);
    expect(r.registry.view('tool', 'linkedin')).toMatchObject({ state: 'OPEN', retryAfterMs: 1 });
    r.clock.advance(1);
    expect(r.registry.rows('tool')).toEqual([expect.objectContaining({ service: 'linkedin', state: 'HALF_OPEN', retryAfterMs: 0, failures: 3, openCount: 1 })]);
    expect(r.registry.rows('provider')).toEqual([expect.objectContaining({ provider: 'openai', state: 'HALF_OPEN', failures: 5, blocked: 0 })]);
    const half = r.events('breaker.transition').filter((e) => e.data.to === 'HALF_OPEN');
    expect(half.map((e) => [e.agentId, e.message])).toEqual([
      [null, 'Circuit linkedin HALF_OPEN after 60s cooldown; letting one probe through'],
      [null, 'Circuit openai HALF_OPEN after 60s cooldown; letting one probe through'],
    ]);
  });

  it('turns OPEN into HALF_OPEN when the cooldown ends with nobody calling, for a provider too', async () => {
    const r = start({ now: () => Date.now() });
    const b = r.registry.breaker('provider', 'openai', { options: { failureThreshold: 1, cooldownMs: 50 } });
    const halfOpen = new Promise<IronEvent<'breaker.transition'>>((resolve) =>
      r.state.subscribe((e) => {
        if (e.type === 'breaker.transition' && (e as IronEvent<'breaker.transition'>).data.to === 'HALF_OPEN') resolve(e as IronEvent<'breaker.transition'>);
      }),
    );
    await calls(b, 1, open);
    expect(b.state).toBe('OPEN');
    expect((await halfOpen).data).toMatchObject({ kind: 'provider', service: 'openai', from: 'OPEN', reason: 'cooldown_elapsed' });
    expect(r.rows().get('llm:openai')!.snapshot.state).toBe('HALF_OPEN');
  });
});

describe('/api/breakers', () => {
  const principal = (role: Principal['role']): Principal => ({ role, name: 'ops', agentId: role === 'agent' ? 'lg-1' : null, jti: 'x' });

  function app(r: Run, role: Principal['role'] = 'admin') {
    const a = new Hono<AppEnv>();
    a.onError((err, c) => {
      const { status, body } = toErrorResponse(err);
      return c.json(body, status as 400);
    });
    a.use('*', async (c, next) => {
      c.set('principal', principal(role));
      await next();
    });
    breakerRoutes(r.registry)(a);
    return a;
  }

  it('lists the tool services with their owner details and totals, the providers and the MCP servers; one of each; resets each for admins only', async () => {
    const r = start();
    r.registry.breaker('tool', 'linkedin', toolSpec());
    r.registry.describe('tool', {
      rows: (names) => new Map(names.map((n) => [n, { url: `https://${n}.example` }])),
      summary: () => ({ calls: 3 }),
    });
    const provider = providerBreakers(r.registry)('openai');
    await calls(provider, 5, open);
    // An MCP server may share a tool service's name: its row is its own.
    r.registry.breaker('mcp', 'linkedin', { options: { failureThreshold: 2, cooldownMs: 30_000 } });
    await calls(r.registry.breaker('mcp', 'linkedin'), 2, open);

    const list = await (await app(r, 'viewer').request('/api/breakers')).json();
    expect(list).toEqual({
      services: [expect.objectContaining({ service: 'linkedin', url: 'https://linkedin.example', state: 'CLOSED', calls: 0 })],
      totals: { calls: 3 },
      providers: [
        {
          provider: 'openai',
          state: 'OPEN',
          calls: 5,
          successes: 0,
          failures: 5,
          blocked: 0,
          retryAfterMs: 60_000,
          consecutiveFailures: 5,
          openCount: 1,
          openedAt: expect.any(String),
          lastFailure: 'http_503',
          lastFailureAt: expect.any(String),
          lastSuccessAt: null,
        },
      ],
      mcp: [expect.objectContaining({ server: 'linkedin', state: 'OPEN', calls: 2, failures: 2, retryAfterMs: 30_000 })],
    });
    expect(await (await app(r).request('/api/breakers/linkedin')).json()).toMatchObject({ service: 'linkedin', url: 'https://linkedin.example', state: 'CLOSED' });
    expect(await (await app(r).request('/api/breakers/mcp/linkedin')).json()).toMatchObject({ server: 'linkedin', state: 'OPEN' });
    expect(await (await app(r).request('/api/breakers/mcp/nosuch')).json()).toMatchObject({ error: { message: "no MCP server 'nosuch' is configured" } });
    expect(await (await app(r).request('/api/breakers/providers/openai')).json()).toMatchObject({ provider: 'openai', state: 'OPEN' });
    expect((await app(r).request('/api/breakers/providers/nosuch')).status).toBe(404);

    for (const role of ['viewer', 'agent'] as const) expect((await app(r, role).request('/api/breakers/providers/openai/reset', { method: 'POST' })).status).toBe(403);
    expect((await app(r).request('/api/breakers/providers/nosuch/reset', { method: 'POST', body: 'not json' })).status).toBe(404);
    expect((await app(r).request('/api/breakers/providers/openai/reset', { method: 'POST', body: 'not json' })).status).toBe(400);
    const reset = await app(r).request('/api/breakers/providers/openai/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toMatchObject({ provider: 'openai', state: 'CLOSED', failures: 5 });
    expect(r.events('breaker.reset').at(-1)!.message).toBe('Circuit openai (LLM provider) reset by admin ops (was OPEN)');

    expect((await app(r, 'viewer').request('/api/breakers/mcp/linkedin/reset', { method: 'POST' })).status).toBe(403);
    const mcp = await app(r).request('/api/breakers/mcp/linkedin/reset', { method: 'POST' });
    expect(await mcp.json()).toMatchObject({ server: 'linkedin', state: 'CLOSED', failures: 2 });
    expect(r.events('breaker.reset').at(-1)).toMatchObject({ message: 'Circuit linkedin (MCP server) reset by admin ops (was OPEN)', data: { kind: 'mcp', service: 'linkedin' } });
    expect((await app(r).request('/api/breakers/mcp/linkedin/reset', { method: 'POST' })).status).toBe(409);
    // The tool service of the same name was never touched.
    expect(r.registry.view('tool', 'linkedin').state).toBe('CLOSED');
  });
});
