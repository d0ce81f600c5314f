import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig, WATCH_DEFAULTS, type Config, type WatchConfig } from '../../src/config/index.js';
import type { EventData, IronEvent } from '../../src/core/events.js';
import { CLI_TEST_TIMEOUT_MS, cliInProcess } from '../helpers/cli.js';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, tempDir, type TestRuntime, until } from '../helpers/runtime.js';
import { toolsConfig } from '../tools/helpers.js';

// The watch against real python3 agents (test/fixtures/agents/watch_agent.py), the simulated
// provider, a real tool service, the real ledger and a real webhook.

const AGENT = 'test/fixtures/agents/watch_agent.py';
const sim = { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } };

let crm: FakeService;
let hook: FakeService;
beforeAll(async () => {
  [crm, hook] = await Promise.all([FakeService.start(), FakeService.start()]);
});
afterAll(async () => {
  await Promise.all([crm?.close(), hook?.close()]);
});

type Watch = { loops?: Partial<WatchConfig['loops']>; stalls?: Partial<WatchConfig['stalls']>; spikes?: Partial<WatchConfig['spikes']> };
const watchConfig = (w: Watch): WatchConfig => ({
  enabled: true,
  loops: { ...WATCH_DEFAULTS.loops, windowMs: 60_000, ...w.loops },
  stalls: { ...WATCH_DEFAULTS.stalls, ...w.stalls },
  spikes: { ...WATCH_DEFAULTS.spikes, ...w.spikes },
  gate: WATCH_DEFAULTS.gate,
});

function config(w: Watch, extra: Partial<Config> = {}): Partial<Config> {
  return { gateway: sim, tools: toolsConfig({ crm: { url: crm.url } }), watch: watchConfig(w), alerts: { webhookUrl: hook.url, email: null }, ...extra };
}

const start = (mode: string, rounds: number, w: Watch) => startTestRuntime({ config: config(w), agent: { script: AGENT, args: [mode, String(rounds)] } });

const eventsOf = <T extends keyof EventData>(t: TestRuntime, type: T, agentId = t.rt.agentId!) =>
  t.rt.state.lastEvents(10_000, agentId).filter((e) => e.type === type) as Array<IronEvent & { data: EventData[T] }>;
const ledger = (t: TestRuntime, agentId = t.rt.agentId!) =>
  sqliteOf(t.rt.state).prepare('SELECT id, cost_micros AS micros FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as Array<{ id: number; micros: number }>;
const toolRows = (t: TestRuntime, agentId = t.rt.agentId!) => sqliteOf(t.rt.state).prepare('SELECT id FROM tool_calls WHERE agent_id = ? ORDER BY id').all(agentId) as Array<{ id: number }>;
const usd = (rows: Array<{ micros: number }>) => rows.reduce((s, r) => s + r.micros, 0) / 1e6;
const post = (t: TestRuntime, path: string, body: unknown, token?: string) =>
  t.api(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...(token ? { token } : {}) });

describe('loops', () => {
  it('a tool loop (the same GET, its query in another order) is flagged at the count, with the money spent since its first call, and alerted', async () => {
    const t = await start('tool', 4, {});
    try {
      await t.rt.agentDone;
      const [loop, ...more] = eventsOf(t, 'watch.loop');
      expect(more).toEqual([]);
      const llm = ledger(t);
      const tools = toolRows(t);
      expect(llm).toHaveLength(4);
      // Said at the third sighting: the LLM calls after the first tool call (rounds 2 and 3) are what the loop cost.
      expect(loop!.severity).toBe('warn');
      expect(loop!.data).toMatchObject({
        kind: 'tool',
        label: 'crm GET /leads/42',
        count: 3,
        windowMs: 60_000,
        policy: 'warn',
        toolCallIds: tools.slice(0, 3).map((r) => r.id),
        requestIds: [llm[1]!.id, llm[2]!.id],
      });
      expect(loop!.data.wastedUsd).toBeCloseTo(usd(llm.slice(1, 3)), 9);
      expect(loop!.data.spentUsd).toBeCloseTo(usd(llm.slice(1, 3)), 9);
      expect(loop!.data.wastedUsd).toBeGreaterThan(0);
      // The watch view: the same loop, now four times, its fourth round's call counted too.
      const view = await (await t.api(`/api/agents/${t.rt.agentId}/watch`)).json();
      expect(view.loops).toHaveLength(1);
      expect(view.loops[0]).toMatchObject({ kind: 'tool', key: loop!.data.key, count: 4, seq: loop!.seq, toolCallIds: tools.map((r) => r.id) });
      expect(view.loops[0].wastedUsd).toBeCloseTo(usd(llm.slice(1)), 9);
      expect(view.config.loops).toMatchObject({ count: 3, windowMs: 60_000, policy: 'warn' });
      expect(view.paused).toBeNull();
      // The alert went to the webhook.
      const sent = await until(() => hook.seen.find((s) => s.body.includes('Loop detected') && s.body.includes(t.rt.agentId!)));
      expect(JSON.parse(sent.body).text).toContain('crm GET /leads/42');
    } finally {
      await t.stop();
    }
  }, 30_000);

  it('a prompt loop: the same prompt to the same model; the repeats are the waste', async () => {
    const t = await start('prompt', 3, {});
    try {
      await t.rt.agentDone;
      const loops = eventsOf(t, 'watch.loop');
      expect(loops).toHaveLength(1);
      const llm = ledger(t);
      expect(loops[0]!.data).toMatchObject({ kind: 'prompt', label: 'gpt-4o-mini: "Find the company of lead 42"', count: 3, requestIds: llm.map((r) => r.id), toolCallIds: [] });
      expect(loops[0]!.data.wastedUsd).toBeCloseTo(usd(llm.slice(1)), 9);
      expect(loops[0]!.data.spentUsd).toBeCloseTo(usd(llm), 9);
    } finally {
      await t.stop();
    }
  }, 30_000);

  it("a function-call loop, read from the request's history (each call id once, arguments normalised); a call with no arguments is none", async () => {
    const t = await start('function', 3, {});
    try {
      await t.rt.agentDone;
      const loops = eventsOf(t, 'watch.loop');
      expect(loops.map((e) => e.data.kind)).toEqual(['function']);
      const llm = ledger(t);
      expect(loops[0]!.data).toMatchObject({ label: 'lookup_company({"country":"DE","name":"Acme"})', count: 3, requestIds: llm.map((r) => r.id) });
      expect(loops[0]!.data.wastedUsd).toBeCloseTo(usd(llm.slice(1)), 9);
    } finally {
      await t.stop();
    }
  }, 30_000);

  it('policy pause: the agent spends nothing more until an admin resumes it, then goes on', async () => {
    const t = await start('tool', 5, { loops: { policy: 'pause' } });
    try {
      const id = t.rt.agentId!;
      // Its next call waits at the gate.
      const status = await until(async () => {
        const s = await (await t.api(`/api/agents/${id}/status`)).json();
        return s.paused?.held === 1 ? s : null;
      });
      const [loop] = eventsOf(t, 'watch.loop');
      expect(loop!.severity).toBe('critical');
      expect(status.paused).toMatchObject({ by: 'watch', cause: 'loop', held: 1 });
      expect(eventsOf(t, 'agent.paused')[0]!.data).toMatchObject({ by: 'watch', cause: 'loop', causeSeq: loop!.seq });
      // Held, not reserved or recorded: the ledger stops at the three calls before the pause.
      expect(ledger(t)).toHaveLength(3);
      expect(t.rt.state.getAgent(id)!.budget?.reservedUsd ?? 0).toBe(0);
      const resumed = await post(t, `/api/agents/${id}/resume`, {});
      expect(resumed.status).toBe(200);
      expect((await resumed.json()).paused).toBeNull();
      expect(eventsOf(t, 'agent.resumed')[0]!.data).toMatchObject({ held: 1 });
      await t.rt.agentDone;
      expect(ledger(t)).toHaveLength(5);
      expect(toolRows(t)).toHaveLength(5);
    } finally {
      await t.stop();
    }
  }, 30_000);

  it('policy stop: the supervisor stops the agent', async () => {
    const t = await start('tool', 50, { loops: { policy: 'stop' } });
    try {
      const outcome = await t.rt.agentDone;
      expect(outcome!.status).toBe('stopped');
      expect(eventsOf(t, 'watch.loop')[0]!.data.policy).toBe('stop');
      expect(toolRows(t).length).toBeLessThan(50);
    } finally {
      await t.stop();
    }
  }, 30_000);
});

describe('stalls and spikes', () => {
  it('a stall: no progress, call or event for after_s', async () => {
    const t = await start('stall', 1, { stalls: { afterMs: 400 } });
    try {
      const id = t.rt.agentId!;
      // The idle stretch after its progress report (on a loaded machine the interpreter's start
      // may already be one, said before it: a stall too, re-armed by the report).
      const afterReport = () => eventsOf(t, 'watch.stall').filter((e) => e.data.lastProgress !== null);
      const stall = await until(() => afterReport()[0]);
      expect(stall.severity).toBe('warn');
      expect(stall.data.idleMs).toBeGreaterThanOrEqual(400);
      const view = await (await t.api(`/api/agents/${id}/watch`)).json();
      expect(view.stall).toMatchObject({ stalled: true });
      expect(view.stall.idleMs).toBeGreaterThanOrEqual(400);
      // Said once for the stretch, however long it lasts.
      expect(afterReport()).toHaveLength(1);
    } finally {
      await t.stop();
    }
  }, 30_000);

  it('no stall while an LLM call is in flight: a slow answer is the agent working', async () => {
    const slow = { ...sim, providers: { ...sim.providers, simulated: { latencyMs: 2_500, chunkDelayMs: 0, failures: [] } } };
    const t = await startTestRuntime({ config: config({ stalls: { afterMs: 400 } }, { gateway: slow }), agent: { script: AGENT, args: ['slow', '1'] } });
    try {
      await t.rt.agentDone;
      const [call] = sqliteOf(t.rt.state).prepare('SELECT ts, latency_ms AS latency FROM llm_requests WHERE agent_id = ?').all(t.rt.agentId!) as Array<{ ts: string; latency: number }>;
      const end = Date.parse(call!.ts);
      const start = end - call!.latency;
      expect(call!.latency).toBeGreaterThanOrEqual(2_500);
      // A loaded machine may leave the agent idle past after_s before its call or after it (a stall
      // then is right); never while the call runs, which outlasts after_s six times over.
      const during = eventsOf(t, 'watch.stall').filter((e) => Date.parse(e.ts) > start && Date.parse(e.ts) < end);
      expect(during).toEqual([]);
    } finally {
      await t.stop();
    }
  }, 30_000);

  it('a spend spike: the rate of the last window against its own baseline', async () => {
    const t = await start('spike', 5, { spikes: { windowMs: 1000, baselineMs: 2000, minUsd: 0.01, factor: 5 } });
    try {
      await t.rt.agentDone;
      const [spike] = eventsOf(t, 'watch.spike');
      expect(spike).toBeDefined();
      expect(spike!.data.factor).toBeGreaterThanOrEqual(5);
      expect(spike!.data.rateUsdPerMin).toBeGreaterThan(spike!.data.baselineUsdPerMin * 5);
      const rows = ledger(t);
      // The window's calls are the burst's (the expensive ones), and they add up to its spend.
      const byId = new Map(rows.map((r) => [r.id, r.micros]));
      expect(spike!.data.spentUsd).toBeCloseTo(spike!.data.requestIds.reduce((s: number, id: number) => s + byId.get(id)!, 0) / 1e6, 9);
      expect(spike!.data.spentUsd).toBeGreaterThanOrEqual(0.01);
      const view = await (await t.api(`/api/agents/${t.rt.agentId}/watch`)).json();
      expect(view.spike).toMatchObject({ seq: spike!.seq, factor: spike!.data.factor });
    } finally {
      await t.stop();
    }
  }, 30_000);
});

describe('pause and resume by hand', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: config({}) });
  });
  afterAll(() => t?.stop());

  const llm = (token: string, signal?: AbortSignal) =>
    fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      signal,
    });
  const held = (id: string) => until(async () => ((await (await t.api(`/api/agents/${id}/status`)).json()).paused?.held ?? 0) as number);

  it('holds LLM and tool calls at the gate; one whose client gave up leaves no row; resume lets the rest go', async () => {
    const a = await agentToken(t);
    // A reason is one line people read: its control characters (a terminal escape) are spaces.
    const paused = await post(t, `/api/agents/${a.agentId}/pause`, { reason: ' checking\u001b[31m the\nleads ' });
    expect(paused.status).toBe(200);
    expect((await paused.json()).paused).toMatchObject({ by: 'admin runtime', reason: 'checking [31m the leads', cause: 'manual', held: 0 });
    // A call whose client gives up at the gate: nothing reserved, sent or recorded.
    const gone = new AbortController();
    const abandoned = llm(a.token, gone.signal).catch((e: Error) => e.name);
    expect(await held(a.agentId)).toBe(1);
    gone.abort();
    expect(await abandoned).toBe('AbortError');
    await until(async () => ((await (await t.api(`/api/agents/${a.agentId}/status`)).json()).paused.held === 0 ? true : null));
    // Two that wait: an LLM call and a tool call.
    const waiting = [llm(a.token), fetch(`${t.rt.url}/tools/crm/leads/1`, { headers: { authorization: `Bearer ${a.token}` } })];
    await until(async () => ((await (await t.api(`/api/agents/${a.agentId}/status`)).json()).paused.held === 2 ? true : null));
    expect(ledger(t, a.agentId)).toHaveLength(0);
    expect(toolRows(t, a.agentId)).toHaveLength(0);
    const resumed = await post(t, `/api/agents/${a.agentId}/resume`, '');
    expect(resumed.status).toBe(200);
    expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200]);
    expect(ledger(t, a.agentId)).toHaveLength(1);
    expect(toolRows(t, a.agentId)).toHaveLength(1);
    expect(eventsOf(t, 'agent.resumed', a.agentId)[0]!.data).toMatchObject({ by: 'admin runtime', held: 2 });
  });

  it('refuses what makes no sense: precise 4xx, and only admins', async () => {
    const a = await agentToken(t);
    const viewer = ((await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'v' }) })).json()) as { token: string }).token;
    const cases: Array<[string, unknown, number, RegExp, string?]> = [
      [`/api/agents/${a.agentId}/pause`, { reason: 5 }, 400, /reason/],
      [`/api/agents/${a.agentId}/pause`, { why: 'x' }, 400, /why/],
      [`/api/agents/${a.agentId}/pause`, { reason: '' }, 400, /reason: must not be empty/],
      [`/api/agents/${a.agentId}/pause`, { reason: '\u0000\u0007 ' }, 400, /reason: must not be empty/],
      [`/api/agents/${a.agentId}/pause`, '{nope', 400, /not valid JSON/],
      [`/api/agents/${a.agentId}/resume`, {}, 409, /is not paused/],
      [`/api/agents/${a.agentId}/resume`, { x: 1 }, 400, /x/],
      ['/api/agents/nobody/pause', {}, 404, /no agent nobody/],
      ['/api/agents/nobody/resume', {}, 404, /no agent nobody/],
      [`/api/agents/${a.agentId}/pause`, {}, 403, /admin/, viewer],
      [`/api/agents/${a.agentId}/resume`, {}, 403, /admin/, viewer],
      [`/api/agents/${a.agentId}/pause`, {}, 403, /admin/, a.token],
    ];
    for (const [path, body, status, message, token] of cases) {
      const r = await post(t, path, body, token);
      expect([path, r.status]).toEqual([path, status]);
      expect(JSON.stringify(await r.json())).toMatch(message);
    }
    expect((await post(t, `/api/agents/${a.agentId}/pause`, {})).status).toBe(200);
    const again = await post(t, `/api/agents/${a.agentId}/pause`, {});
    expect(again.status).toBe(409);
    expect((await again.json()).error.message).toMatch(/already paused/);
    // Viewers read the watch; another agent's token learns nothing of it.
    expect((await t.api(`/api/agents/${a.agentId}/watch`, { token: viewer })).status).toBe(200);
    expect((await t.api(`/api/agents/${a.agentId}/watch`, { token: (await agentToken(t)).token })).status).toBe(404);
    expect((await post(t, `/api/agents/${a.agentId}/resume`, {})).status).toBe(200);
  });
});

describe('paused survives a restart', () => {
  it('a restarted iron-cage shows the agent paused and holds its calls', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await startTestRuntime({ dir, config: config({}) });
      const a = await agentToken(first);
      expect((await post(first, `/api/agents/${a.agentId}/pause`, { reason: 'overnight' })).status).toBe(200);
      await first.rt.shutdown('restart');
      const t = await startTestRuntime({ dir, config: config({}) });
      try {
        const status = await (await t.api(`/api/agents/${a.agentId}/status`)).json();
        expect(status.paused).toMatchObject({ reason: 'overnight', cause: 'manual', held: 0 });
        const call = fetch(`${t.rt.url}/tools/crm/leads/1`, { headers: { authorization: `Bearer ${a.token}` } });
        await until(async () => ((await (await t.api(`/api/agents/${a.agentId}/status`)).json()).paused.held === 1 ? true : null));
        expect((await post(t, `/api/agents/${a.agentId}/resume`, {})).status).toBe(200);
        expect((await call).status).toBe(200);
      } finally {
        await t.stop();
      }
    } finally {
      cleanup();
    }
  }, 30_000);
});

describe('config', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);
  const load = (yaml: string) => {
    const file = join(dir, 'w.yaml');
    writeFileSync(file, yaml);
    return loadConfig({ configPath: file, env: {}, cwd: dir });
  };
  const failure = (yaml: string): string => {
    try {
      load(yaml);
    } catch (e) {
      return (e as Error).message.replace(/^config \S+: /, '');
    }
    return 'no error';
  };

  it('defaults, and seconds read as milliseconds', () => {
    expect(load('port: 1\n').watch).toEqual(WATCH_DEFAULTS);
    const c = load('watch:\n  loops: { count: 4, prompt_count: 5, window_s: 0.5, policy: pause }\n  stalls: { enabled: false }\n  spikes: { factor: 3, min_usd: 0.5 }\n').watch;
    expect(c.loops).toEqual({ enabled: true, count: 4, promptCount: 5, windowMs: 500, policy: 'pause' });
    expect(c.stalls.enabled).toBe(false);
    expect(c.spikes).toMatchObject({ factor: 3, minUsd: 0.5, windowMs: 60_000 });
    expect(WATCH_DEFAULTS.gate).toEqual({ maxHeldPerAgent: 32, maxHeld: 256, maxHeldBytes: 64 * 1024 * 1024, holdMs: 300_000 });
    expect(load('watch:\n  gate: { max_held_per_agent: 4, max_held: 9, max_held_mb: 0.5, hold_s: 1.5 }\n').watch.gate).toEqual({
      maxHeldPerAgent: 4,
      maxHeld: 9,
      maxHeldBytes: 512 * 1024,
      holdMs: 1500,
    });
  });

  it('refuses bad values naming the key', () => {
    expect(failure('watch:\n  loops: { count: 1 }\n')).toBe('watch.loops.count: must be 2 or more');
    expect(failure('watch:\n  loops: { policy: kill }\n')).toMatch(/^watch\.loops\.policy: /);
    expect(failure('watch:\n  stalls: { after_s: 0 }\n')).toBe('watch.stalls.after_s: must be at least 0.1');
    expect(failure('watch:\n  spikes: { factor: 1 }\n')).toBe('watch.spikes.factor: must be at least 1.5');
    expect(failure('watch:\n  spikes: { min_usd: -1 }\n')).toBe('watch.spikes.min_usd: must be 0 or more');
    expect(failure('watch:\n  loops: { windw_s: 3 }\n')).toBe("unknown key 'watch.loops.windw_s'");
    expect(failure('watch:\n  gate: { max_held_per_agent: 0 }\n')).toBe('watch.gate.max_held_per_agent: must be 1 or more');
    expect(failure('watch:\n  gate: { max_held: 2.5 }\n')).toBe('watch.gate.max_held: must be a whole number');
    expect(failure('watch:\n  gate: { max_held_mb: 0 }\n')).toBe('watch.gate.max_held_mb: must be at least 0.01');
    expect(failure('watch:\n  gate: { hold_s: 0 }\n')).toBe('watch.gate.hold_s: must be at least 0.1');
  });

  it('iron-cage start refuses a bad watch: key with exit 2, naming it, before starting anything', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'watch:\n  spikes: { window_s: 0 }\n');
    // Refused before anything starts: in-process (cliInProcess, the same program without a cold start of Node).
    const r = await cliInProcess(['start', 'agent.py', '--config', 'bad.yaml', '--db', join(dir, 's.db')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml: watch\.spikes\.window_s: must be at least 0\.1/);
  });
});
