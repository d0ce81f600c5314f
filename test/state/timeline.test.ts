import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import type { TimelineItem, TimelineOverview, TimelinePage } from '../../src/agents/index.js';
import { TIMELINE_MARKS_MAX } from '../../src/state/runtime/timeline.store.js';

// GET /api/agents/:id/timeline and /timeline/overview against a real runtime: calls through the
// gateway (simulated provider), then a long run written through the stores as the gateway and
// the tool proxy write them, paged every way and compared with the rows themselves.
// (The statements' plans are checked in request-plans.test.ts.)

let t: TestRuntime;
let live: AgentToken;
let long: AgentToken;
// Two days ago, on a minute: the notable events written below (at the time they are written) come after the calls.
const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 86_400_000;
const CALLS = 900;
const TOOLS = 400;
const PROGRESS = 300;
const MARKS = 2_300; // past TIMELINE_MARKS_MAX: the overview thins them
const ids = { llm: [] as number[], tool: [] as number[], ev: [] as number[] };

const get = async <T>(path: string, token?: string): Promise<T> => {
  const r = await t.api(path, token ? { token } : {});
  expect(r.status, `${path}: ${r.status}`).toBe(200);
  return (await r.json()) as T;
};

beforeAll(async () => {
  t = await startTestRuntime();
  live = await agentToken(t, { budgetUsd: null });
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${live.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 8, stream: i === 2, messages: [{ role: 'user', content: `call ${i}` }] }),
    });
    expect(r.status).toBe(200);
    await r.text();
  }
  const progress = await t.api(`/api/agents/${live.agentId}/progress`, {
    method: 'POST',
    token: live.token,
    body: JSON.stringify({ done: 1, total: 3, unit: 'leads' }),
    headers: { 'content-type': 'application/json' },
  });
  expect(progress.status).toBeLessThan(300);

  // A long run: calls, tool calls, progress and notable events interleaved over a day, ties included.
  const { RequestsStore, ToolsStore } = await import('../../src/state/index.js');
  const requests = new RequestsStore(t.rt.state);
  const tools = new ToolsStore(t.rt.state);
  long = await agentToken(t, { budgetUsd: null });
  const state = t.rt.state;
  await state.writeSoon((tx) => {
    for (let i = 0; i < CALLS; i++) {
      ids.llm.push(
        requests.insert(tx, {
          ts: new Date(t0 + i * 90_000 + (i % 4 === 0 ? 0 : 17)).toISOString(),
          agentId: long.agentId,
          endpoint: 'chat',
          provider: 'openai',
          model: 'gpt-4o-mini',
          stream: i % 5 === 0,
          status: i % 25 === 0 ? 'error' : 'ok',
          httpStatus: i % 25 === 0 ? 502 : 200,
          promptTokens: 100,
          completionTokens: 20,
          costMicros: i % 25 === 0 ? 0 : 50 + (i % 7),
          reservedMicros: 900,
          usageSource: 'provider',
          latencyMs: 300 + (i % 9),
          firstByteMs: null,
          redactions: 0,
          error: null,
          attempts: 1,
          budgets: null,
        }),
      );
    }
  }, null);
  for (let i = 0; i < TOOLS; i++) {
    await tools.recordCall({
      ts: new Date(t0 + i * 200_000).toISOString(),
      agentId: long.agentId,
      service: 'crm',
      method: 'GET',
      path: `/leads/${i}`,
      // Every 40th failed upstream; every 40th from the 20th refused by the cage (no tier): a refusal, never an error.
      status: i % 40 === 0 ? 503 : i % 40 === 20 ? 403 : 200,
      tier: i % 40 === 0 ? 'failed' : i % 40 === 20 ? null : 'live',
      reason: i % 40 === 20 ? 'policy_denied' : 'ok',
      detail: null,
      upstreamStatus: 200,
      latencyMs: 12,
      upstreamMs: 10,
      bytes: 100,
      redactions: 0,
      fault: false,
    });
  }
});

afterAll(async () => {
  await t?.stop();
});

/** Every key of the long run's timeline, walking `dir` from the newest page (before) or the oldest (after) with `limit`. */
async function walk(dir: 'before' | 'after', limit: number): Promise<TimelineItem[]> {
  const out: TimelineItem[] = [];
  let page = await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?${dir === 'before' ? '' : 'around=0&'}limit=${limit}`);
  for (let n = 0; n < 1000; n++) {
    if (dir === 'before') out.unshift(...page.items);
    else out.push(...page.items);
    const next = dir === 'before' ? page.before : page.after;
    if (next === null) return out;
    page = await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?${dir}=${next}&limit=${limit}`);
  }
  throw new Error('the walk did not end');
}

describe('the timeline of a live agent', () => {
  it("links a circuit's change to its own calls: an MCP server's to its tools/calls, a tool service's of the same name to its HTTP calls", async () => {
    const { ToolsStore } = await import('../../src/state/index.js');
    const tools = new ToolsStore(t.rt.state);
    const agent = await agentToken(t, { budgetUsd: null });
    const at = Date.now();
    const call = (ms: number, method: string) =>
      tools.recordCall({
        ts: new Date(at + ms).toISOString(),
        agentId: agent.agentId,
        service: 'github',
        method,
        path: method === 'tools/call' ? 'create_issue' : '/repos',
        status: 503,
        tier: 'failed',
        reason: 'unavailable',
        detail: null,
        upstreamStatus: 503,
        latencyMs: 12,
        upstreamMs: 10,
        bytes: 0,
        redactions: 0,
        fault: false,
      });
    const http = [await call(-30, 'GET'), await call(-20, 'GET')];
    const mcp = [await call(-25, 'tools/call'), await call(-10, 'tools/call')];
    const transition = (kind: 'tool' | 'mcp') =>
      t.rt.state.record({
        agentId: agent.agentId,
        type: 'breaker.transition',
        severity: 'warn',
        message: `Circuit github OPEN after 2 consecutive failures (unavailable); cooldown 30s`,
        data: {
          kind,
          service: 'github',
          from: 'CLOSED',
          to: 'OPEN',
          reason: 'consecutive_failures',
          consecutiveFailures: 2,
          failureRate: null,
          lastFailure: 'unavailable',
          cooldownMs: 30_000,
          retryAt: null,
          openCount: 1,
        },
      });
    const server = transition('mcp');
    const service = transition('tool');
    const page = await get<TimelinePage>(`/api/agents/${agent.agentId}/timeline?lanes=breaker`);
    const links = new Map(page.items.map((i) => [i.key, [...i.links].sort()]));
    expect(links.get(`ev:${server.seq}`)).toEqual(mcp.map((id) => `tool:${id}`).sort());
    expect(links.get(`ev:${service.seq}`)).toEqual(http.map((id) => `tool:${id}`).sort());
  });

  it('links a PII finding to its own call: of the model its ref names, the first written after it that redacted something', async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    const agent = await agentToken(t, { budgetUsd: null });
    const finding = t.rt.state.record({
      agentId: agent.agentId,
      type: 'pii.detected',
      severity: 'warn',
      message: 'PII redacted in an LLM answer',
      data: {
        location: 'llm.output',
        action: 'redacted',
        types: { EMAIL: 1 },
        severity: 'WARN',
        preview: '[EMAIL_REDACTED]',
        requestRef: 'chat:ft:gpt-4o-mini:acme:x1',
        counters: { piiLeaksBlocked: 1, piiWarned: 0, byType: { EMAIL: 1 } },
      },
    });
    const after = Date.parse(finding.ts);
    // Three calls end after it: another model's, one of its model that found nothing (it ran beside it), then its own.
    const row = (ms: number, model: string, redactions: number) => ({
      ts: new Date(after + ms).toISOString(),
      agentId: agent.agentId,
      endpoint: 'chat',
      provider: 'openai',
      model,
      stream: false,
      status: 'ok' as const,
      httpStatus: 200,
      promptTokens: 10,
      completionTokens: 5,
      costMicros: 10,
      reservedMicros: 100,
      usageSource: 'provider' as const,
      latencyMs: 50,
      firstByteMs: null,
      redactions,
      error: null,
      attempts: 1,
      budgets: null,
    });
    const [, , own] = (
      await t.rt.state.writeSoon(
        (tx) => [requests.insert(tx, row(1, 'gpt-4o', 1)), requests.insert(tx, row(2, 'ft:gpt-4o-mini:acme:x1', 0)), requests.insert(tx, row(3, 'ft:gpt-4o-mini:acme:x1', 1))],
        null,
      )
    ).result;
    const page = await get<TimelinePage>(`/api/agents/${agent.agentId}/timeline?lanes=pii`);
    expect(page.items.map((i) => [i.key, i.links])).toEqual([[`ev:${finding.seq}`, [`llm:${own}`]]]);

    // A stream's row is written as it begins, before what it finds: the finding lands on the
    // stream it came from, not on the next call of that model that also redacted something.
    const other = await agentToken(t, { budgetUsd: null });
    const streamed = (await t.rt.state.writeSoon((tx) => requests.insert(tx, { ...row(0, 'gpt-4o-mini', 1), agentId: other.agentId, stream: true, firstByteMs: 20, latencyMs: 5_000 }), null)).result;
    const mid = t.rt.state.record({
      agentId: other.agentId,
      type: 'pii.detected',
      severity: 'warn',
      message: 'PII redacted in a streamed answer',
      data: {
        location: 'llm.output',
        action: 'redacted',
        types: { PHONE: 1 },
        severity: 'WARN',
        preview: '[PHONE_REDACTED]',
        requestRef: 'chat:gpt-4o-mini',
        counters: { piiLeaksBlocked: 2, piiWarned: 0, byType: { PHONE: 1 } },
      },
    });
    await t.rt.state.writeSoon((tx) => requests.insert(tx, { ...row(Date.parse(mid.ts) - after + 4_000, 'gpt-4o-mini', 1), agentId: other.agentId }), null);
    const page2 = await get<TimelinePage>(`/api/agents/${other.agentId}/timeline?lanes=pii`);
    expect(page2.items.map((i) => [i.key, i.links])).toEqual([[`ev:${mid.seq}`, [`llm:${streamed}`]]]);
  });

  it('shows its calls as the ledger has them, its progress, and its totals', async () => {
    const page = await until(async () => {
      const p = await get<TimelinePage>(`/api/agents/${live.agentId}/timeline`);
      return p.items.filter((i) => i.lane === 'llm').length === 3 ? p : null;
    });
    const llm = page.items.filter((i) => i.lane === 'llm');
    expect(llm.map((i) => i.detail.model)).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini']);
    expect(llm.map((i) => i.detail.stream)).toEqual([false, false, true]);
    for (const i of llm) {
      expect(i.key).toMatch(/^llm:\d+$/);
      expect(i.status).toBe('ok');
      expect(i.costUsd).toBeGreaterThan(0);
      expect(i.durationMs).toBeGreaterThanOrEqual(0);
    }
    const progress = page.items.filter((i) => i.lane === 'progress');
    expect(progress).toHaveLength(1);
    expect(progress[0]!.detail).toMatchObject({ type: 'agent.progress', done: 1, total: 3, unit: 'leads' });
    expect(page.total).toEqual({ llm: 3, tool: 0, events: 1 });
    expect(page.before).toBeNull();
    expect(page.after).toBeNull();
    expect(page.last).not.toBeNull();
    // Nothing since the last item; then something is.
    expect((await get<TimelinePage>(`/api/agents/${live.agentId}/timeline?after=${page.last}`)).items).toEqual([]);
    await t.api(`/api/agents/${live.agentId}/progress`, {
      method: 'POST',
      token: live.token,
      body: JSON.stringify({ done: 2, total: 3, unit: 'leads' }),
      headers: { 'content-type': 'application/json' },
    });
    const since = await until(async () => {
      const p = await get<TimelinePage>(`/api/agents/${live.agentId}/timeline?after=${page.last}`);
      return p.items.length > 0 ? p : null;
    });
    expect(since.items.map((i) => i.detail.done)).toEqual([2]);
    // An agent token reads its own timeline, and learns nothing of another's.
    expect((await get<TimelinePage>(`/api/agents/${live.agentId}/timeline?lanes=llm`, live.token)).items).toHaveLength(3);
    expect((await t.api(`/api/agents/${long.agentId}/timeline`, { token: live.token })).status).toBe(404);
    expect((await t.api(`/api/agents/${long.agentId}/timeline/overview`, { token: live.token })).status).toBe(404);
  });
});

describe('the approvals lane', () => {
  /** Approvals written through the store as the desk writes them: asked for at `at`, decided `after` ms later (or not). */
  async function approvalsOf(
    agentId: string,
    rows: Array<{ at: number; after?: number; status?: 'approved' | 'denied' | 'expired' | 'withdrawn'; by?: string; reason?: string; kind?: 'http' | 'mcp' }>,
  ) {
    const { ApprovalsStore } = await import('../../src/state/index.js');
    const store = new ApprovalsStore(t.rt.state);
    const ids: string[] = [];
    for (const [i, r] of rows.entries()) {
      const id = `apr_tl${i}_${Math.random().toString(36).slice(2, 8)}`;
      const mcp = r.kind === 'mcp';
      store.insert(
        {
          id,
          agentId,
          kind: mcp ? 'mcp' : 'http',
          service: mcp ? 'github' : 'crm',
          tool: mcp ? 'create_pull_request' : 'contacts',
          method: mcp ? null : 'POST',
          args: '{"name":"Ada"}',
          fingerprint: `f${i}`,
          rule: 'crm-writes',
          approvers: JSON.stringify({ roles: ['admin'], users: [] }),
          ahead: false,
          note: null,
          requestedAt: new Date(r.at).toISOString(),
          expiresAt: new Date(r.at + 600_000).toISOString(),
        },
        { agentId, type: 'approval.requested', severity: 'warn', message: 'waiting', data: {} as never },
      );
      if (r.status)
        store.decide(id, { status: r.status, by: r.by ?? null, reason: r.reason ?? null, at: new Date(r.at + (r.after ?? 0)).toISOString() }, (row) => ({
          agentId,
          type: 'approval.decided',
          severity: 'info',
          message: 'decided',
          data: { id: row.id, status: r.status!, by: row.decidedBy, reason: row.reason, waitedMs: r.after ?? 0, service: row.service, tool: row.tool, rule: row.rule },
        }));
      ids.push(id);
    }
    return ids;
  }

  it('shows each approval as a span from its request to its decision (open while it waits), coloured by outcome, between the calls', async () => {
    const a = await agentToken(t, { budgetUsd: null });
    const base = Date.now() - 60_000;
    const [approved, denied, expired, withdrawn, waiting, mcp] = await approvalsOf(a.agentId, [
      { at: base, after: 1_500, status: 'approved', by: 'admin alice', reason: 'looks right' },
      { at: base + 2_000, after: 300, status: 'denied', by: 'user carol', reason: 'not this one' },
      { at: base + 3_000, after: 10_000, status: 'expired', reason: 'nobody decided within 10 s' },
      { at: base + 4_000, after: 200, status: 'withdrawn', reason: 'the caller stopped waiting' },
      { at: base + 5_000 },
      { at: base + 5_000, after: 50, status: 'approved', by: 'admin alice', kind: 'mcp' },
    ]);
    const page = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline`);
    const lane = page.items.filter((i) => i.lane === 'approval');
    expect(lane.map((i) => i.key)).toEqual([approved, denied, expired, withdrawn, waiting, mcp].map((id) => `approval:${id}`));
    expect(lane.map((i) => i.status)).toEqual(['ok', 'blocked', 'error', 'aborted', 'warn', 'ok']);
    expect(lane.map((i) => i.durationMs)).toEqual([1_500, 300, 10_000, 200, null, 50]);
    expect(lane.map((i) => i.startMs)).toEqual([base, base + 2_000, base + 3_000, base + 4_000, base + 5_000, base + 5_000]);
    expect(lane[0]!.title).toBe('crm POST /contacts: approved by admin alice after 2s (rule crm-writes): looks right');
    expect(lane[1]!.title).toBe('crm POST /contacts: denied by user carol after 0s (rule crm-writes): not this one');
    expect(lane[4]!.title).toBe('crm POST /contacts: waiting for a decision (rule crm-writes)');
    expect(lane[5]!.title).toMatch(/^MCP github\.create_pull_request: approved by admin alice/);
    expect(lane[1]!.detail).toMatchObject({
      id: denied,
      call: 'crm POST /contacts',
      rule: 'crm-writes',
      outcome: 'denied',
      by: 'user carol',
      reason: 'not this one',
      waitedMs: 300,
      args: '{"name":"Ada"}',
    });
    expect(lane[4]!.detail).toMatchObject({ outcome: 'pending', by: null, waitedMs: null });
    // Only the lane asked for; and the overview runs to the last decision.
    expect((await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?lanes=approval`)).items.map((i) => i.key)).toEqual(lane.map((i) => i.key));
    expect((await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?lanes=llm,tool`)).items).toEqual([]);
    const o = await get<TimelineOverview>(`/api/agents/${a.agentId}/timeline/overview`);
    expect([o.startMs, o.endMs]).toEqual([base, base + 5_050]);
    // Another agent's approvals are not this one's.
    expect((await get<TimelinePage>(`/api/agents/${live.agentId}/timeline?lanes=approval`)).items).toEqual([]);
  });

  it('pages approvals by cursor like any row, ties in one millisecond included, and takes what came since', async () => {
    const a = await agentToken(t, { budgetUsd: null });
    const base = Date.now() - 3_600_000;
    const ids = await approvalsOf(
      a.agentId,
      Array.from({ length: 23 }, (_, i) => ({ at: base + Math.floor(i / 3) * 1_000, after: 10, status: 'approved' as const, by: 'admin alice' })),
    );
    const keys = ids.map((id) => `approval:${id}`);
    const back: string[] = [];
    let page = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?limit=4`);
    for (let n = 0; n < 20; n++) {
      back.unshift(...page.items.map((i) => i.key));
      if (page.before === null) break;
      page = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?before=${page.before}&limit=4`);
    }
    expect(back).toEqual(keys);
    const forth: string[] = [];
    page = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?around=0&limit=5`);
    for (let n = 0; n < 20; n++) {
      forth.push(...page.items.map((i) => i.key));
      if (page.after === null) break;
      page = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?after=${page.after}&limit=5`);
    }
    expect(forth).toEqual(keys);
    const latest = await get<TimelinePage>(`/api/agents/${a.agentId}/timeline`);
    expect(latest.last).toMatch(/^\d+\.3\.\d+$/);
    const [more] = await approvalsOf(a.agentId, [{ at: Date.now() }]);
    expect((await get<TimelinePage>(`/api/agents/${a.agentId}/timeline?after=${latest.last}`)).items.map((i) => i.key)).toEqual([`approval:${more}`]);
  });
});

describe('a long run, paged', () => {
  beforeAll(async () => {
    // Progress reports and notable events between the calls (notable: more than an overview keeps).
    const state = t.rt.state;
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < PROGRESS; i++)
      writes.push(
        state.writeSoon(() => undefined, {
          agentId: long.agentId,
          type: 'agent.progress',
          severity: 'debug',
          message: `${i + 1} leads`,
          data: { done: i + 1, total: null, unit: 'leads', succeeded: null, failed: null },
        }),
      );
    writes.push(
      state.writeSoon(() => undefined, {
        agentId: long.agentId,
        type: 'watch.loop',
        severity: 'warn',
        message: 'crm GET /leads/7 repeated 3 times',
        data: {
          kind: 'tool',
          key: 'k',
          label: 'crm GET /leads/7',
          count: 3,
          windowMs: 300_000,
          firstTs: new Date(t0).toISOString(),
          requestIds: ids.llm.slice(0, 2),
          toolCallIds: [5, 6],
          spentUsd: 0.01,
          wastedUsd: 0.005,
          policy: 'warn',
        },
      }),
    );
    for (let i = 0; i < MARKS; i++)
      writes.push(state.writeSoon(() => undefined, { agentId: long.agentId, type: 'budget.changed', severity: 'info', message: `limit ${i}`, data: { limitUsd: i, previousUsd: null, by: 'test' } }));
    await Promise.all(writes);
  });

  it('walks the whole run earlier and later, each row once, in order, and answers around an instant', async () => {
    const all = 'llm,tool,progress,budget,watch,pii,lifecycle,breaker,approval';
    const everything = await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?limit=1&lanes=${all}`);
    const events = PROGRESS + 1 + MARKS;
    expect(everything.total).toEqual({ llm: CALLS, tool: TOOLS, events });
    const back = await walk('before', 97);
    const keys = back.map((i) => i.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k.startsWith('llm:')).map((k) => Number(k.slice(4)))).toEqual(ids.llm);
    expect(keys.filter((k) => k.startsWith('tool:'))).toHaveLength(TOOLS);
    expect(keys.filter((k) => k.startsWith('ev:'))).toHaveLength(events);
    const forth = await walk('after', 250);
    expect(forth.map((i) => i.key).sort()).toEqual([...keys].sort());
    // Calls by their start: the row's time less its latency.
    const first = back.find((i) => i.key === `llm:${ids.llm[1]}`)!;
    expect(first.startMs).toBe(t0 + 90_000 + 17 - 301);
    expect(first.durationMs).toBe(301);
    // Around an instant: half before it, half from it on.
    const at = t0 + 450 * 90_000;
    const around = await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?around=${at}&limit=40&lanes=llm`);
    expect(around.items.map((i) => i.key)).toEqual(ids.llm.slice(430, 470).map((id) => `llm:${id}`));
    expect(around.before).not.toBeNull();
    expect(around.after).not.toBeNull();
    // Lanes: only what was asked.
    const tools = await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?lanes=tool&limit=1000`);
    expect(tools.items.every((i) => i.lane === 'tool')).toBe(true);
    expect(tools.items).toHaveLength(TOOLS);
    expect(tools.items.filter((i) => i.status === 'error')).toHaveLength(TOOLS / 40);
    const loop = (await get<TimelinePage>(`/api/agents/${long.agentId}/timeline?lanes=watch`)).items;
    expect(loop).toHaveLength(1);
    expect(loop[0]!.links).toEqual([`llm:${ids.llm[0]}`, `llm:${ids.llm[1]}`, 'tool:5', 'tool:6']);
  });

  it('summarises the run in at most 240 buckets from the rollup, and at most 500 marks', async () => {
    const o = await get<TimelineOverview>(`/api/agents/${long.agentId}/timeline/overview`);
    expect(o.buckets.length).toBeLessThanOrEqual(240);
    expect(o.bucketMs % 60_000).toBe(0);
    expect(o.buckets.reduce((a, b) => a + b.llm, 0)).toBe(CALLS);
    expect(o.buckets.reduce((a, b) => a + b.tool, 0)).toBe(TOOLS);
    const cost = Array.from({ length: CALLS }, (_, i) => (i % 25 === 0 ? 0 : 50 + (i % 7))).reduce((a, b) => a + b, 0);
    expect(Math.round(o.buckets.reduce((a, b) => a + b.costUsd, 0) * 1e6)).toBe(cost);
    expect(o.buckets.reduce((a, b) => a + b.errors, 0)).toBe(CALLS / 25 + TOOLS / 40);
    // Each bucket holds the calls of its time.
    const third = o.buckets[3]!;
    expect(third.llm).toBe(Array.from({ length: CALLS }, (_, i) => t0 + i * 90_000).filter((ms) => ms >= third.startMs && ms < third.startMs + o.bucketMs).length);
    expect(o.startMs).toBe(t0);
    // The marks were written within a moment at the run's end, over 22 hours: thinned by time,
    // the bunch (a pixel of the strip) shows as its first mark, the loop.
    expect(o.marks.length).toBeLessThanOrEqual(TIMELINE_MARKS_MAX);
    expect(o.marks.length).toBeGreaterThan(0);
    expect(o.marks[0]).toMatchObject({ lane: 'watch', severity: 'warn', title: 'crm GET /leads/7 repeated 3 times' });
    expect(new Set(o.marks.map((m) => m.key)).size).toBe(o.marks.length);
    expect(o.marks.every((m, i) => i === 0 || m.ms >= o.marks[i - 1]!.ms)).toBe(true);
    expect(o.total.llm).toBe(CALLS);
  });

  it('refuses a bad query with a precise 400', async () => {
    const bad: Array<[string, RegExp]> = [
      ['limit=0', /limit/],
      ['limit=1001', /limit/],
      ['limit=abc', /limit/],
      ['before=xyz', /before/],
      ['after=1.5.3', /after/],
      ['after=1.4.3', /after/],
      ['before=1.0.1&after=1.0.1', /at most one/],
      ['around=-4', /around/],
      ['lanes=llm,nope', /lanes/],
      ['lanes=', /lanes/],
      ['cursor=1', /cursor/],
    ];
    for (const [q, msg] of bad) {
      const r = await t.api(`/api/agents/${long.agentId}/timeline?${q}`);
      expect(r.status, q).toBe(400);
      expect(JSON.stringify(await r.json()), q).toMatch(msg);
    }
    expect((await t.api(`/api/agents/${long.agentId}/timeline/overview?x=1`)).status).toBe(400);
    expect((await t.api('/api/agents/nobody/timeline')).status).toBe(404);
    expect((await t.api('/api/agents/nobody/timeline/overview')).status).toBe(404);
  });
});
