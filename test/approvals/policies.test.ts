import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policiesSchema } from '../../src/config/policies.js';
import { policySet } from '../../src/config/policies.js';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { toolsSchema } from '../../src/config/tools.js';

// Tool policies and human approval through a real runtime. The tool service is a real
// HTTP server that counts what reaches it: nothing may reach it before a rule or a person lets
// the call go.

const policies = (rules: unknown) => policySet(policiesSchema.parse(rules));

let svc: FakeService;
let hook: FakeService;
let t: TestRuntime;
let a: AgentToken;
let researcher: AgentToken;

beforeAll(async () => {
  svc = await FakeService.start();
  hook = await FakeService.start();
  const tools = toolsSchema.parse({ crm: { url: svc.url }, email: { url: svc.url }, search: { url: svc.url } });
  t = await startTestRuntime({
    config: {
      alerts: { webhookUrl: `${hook.url}/slack`, email: null },
      tools,
      policies: policies([
        { name: 'crm-writes', match: { tool: 'crm.*', method: ['POST', 'PUT', 'DELETE'] }, action: 'approve', timeout: '20s' },
        { name: 'outside-mail', match: { tool: 'email.send', args: { to: { not_endswith: '@acme.example' } } }, action: 'approve', timeout: '2s', approvers: ['user:carol'] },
        { match: { agent: 'researcher', tool: 'crm.*' }, action: 'deny', reason: 'researchers only read' },
        { name: 'search-rate', match: { tool: 'search.*' }, rate: '3/min' },
      ]),
    },
  });
  a = await agentToken(t, { name: 'writer' });
  researcher = await agentToken(t, { name: 'researcher' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await svc?.close();
  await hook?.close();
});

const call = (token: string, path: string, init: RequestInit = {}) =>
  fetch(`${t.rt.url}/tools/${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

const pending = async (): Promise<any[]> => ((await (await t.api('/api/approvals?status=pending')).json()) as { approvals: any[] }).approvals;
const waitingFor = (tool: string) => until(async () => (await pending()).find((p) => p.tool === tool) ?? null);

describe('policies on the tool proxy', () => {
  it('lets a call no rule concerns through, and a GET the approve rule does not name', async () => {
    const before = svc.seen.length;
    expect((await call(a.token, 'crm/contacts/1')).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
  });

  it('holds a write until an admin approves it over REST: nothing reaches the service before', async () => {
    const before = svc.seen.length;
    const answer = call(a.token, 'crm/contacts', { method: 'POST', body: JSON.stringify({ name: 'Ada', email: 'ada@example.org' }) });
    const p = await waitingFor('contacts');
    expect(p).toMatchObject({ kind: 'http', service: 'crm', method: 'POST', rule: 'crm-writes', status: 'pending', agentName: 'writer' });
    // The approver sees the arguments redacted.
    expect(p.args).not.toContain('ada@example.org');
    expect(p.args).toContain('Ada');
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.seen.length).toBe(before);
    // The alert: who asks for what, and the link to the queue.
    const alert = await until(() => hook.seen.find((h) => h.body.includes(p.id) || h.body.includes('Approval needed')));
    expect(alert.body).toContain(`${t.rt.url}/#approvals`);
    expect(alert.body).toContain('crm POST /contacts');
    expect(alert.body).not.toContain('ada@example.org');
    const ok = await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', body: JSON.stringify({ reason: 'looks right' }) });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'approved', reason: 'looks right' });
    const r = await answer;
    expect(r.status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    // The second decision is refused and changes nothing.
    const again = await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).error.message).toMatch(/already approved/);
  });

  it('answers 403 approval_denied with the approver and reason when denied, and sends nothing', async () => {
    const before = svc.seen.length;
    const answer = call(a.token, 'crm/contacts/7', { method: 'DELETE' });
    const p = await waitingFor('contacts/7');
    expect((await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST', body: JSON.stringify({ reason: 'not this one' }) })).status).toBe(200);
    const r = await answer;
    expect(r.status).toBe(403);
    const body = (await r.json()) as any;
    expect(body.error.code).toBe('approval_denied');
    expect(body.error.message).toMatch(/denied by admin .*not this one/);
    expect(svc.seen.length).toBe(before);
    const row = await until(() => sqliteOf(t.rt.state).prepare("SELECT status, reason FROM tool_calls WHERE reason = 'approval_denied'").get());
    expect(row).toMatchObject({ status: 403 });
  });

  it('denies by a deny rule with its reason, before anything leaves', async () => {
    const before = svc.seen.length;
    const r = await call(researcher.token, 'crm/contacts/1');
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error).toMatchObject({ code: 'policy_denied', message: expect.stringMatching(/policies\[2\]: researchers only read/) });
    expect(svc.seen.length).toBe(before);
  });

  it('matches on arguments: mail inside the company passes, outside waits, and nobody deciding in time denies it', async () => {
    const before = svc.seen.length;
    expect((await call(a.token, 'email/send', { method: 'POST', body: JSON.stringify({ to: ['bob@acme.example', 'eve@ACME.example'] }) })).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    // One outside recipient is enough; an encoded path is the same tool.
    const t0 = Date.now();
    const r = await call(a.token, 'email/%73end', { method: 'POST', body: JSON.stringify({ to: ['bob@acme.example', 'mallory@evil.example'] }) });
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error.code).toBe('approval_expired');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(svc.seen.length).toBe(before + 1);
  });

  it('rates: past 3 a minute, 429 with Retry-After, and nothing sent', async () => {
    const before = svc.seen.length;
    for (let i = 0; i < 3; i++) expect((await call(a.token, `search/q?i=${i}`)).status).toBe(200);
    const r = await call(a.token, 'search/q?i=4');
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await r.json()) as any).error.code).toBe('rate_limited');
    expect(svc.seen.length).toBe(before + 3);
  });

  it('lets only the named approver decide: viewers, agents and other admins are refused; two racing get one decision', async () => {
    const viewer = ((await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'watcher' }) })).json()) as any).token;
    expect((await t.api('/api/users', { method: 'POST', body: JSON.stringify({ name: 'carol', role: 'viewer', password: 'correct horse battery' }) })).status).toBe(201);
    const carol = ((await (await t.api('/api/login', { method: 'POST', token: null, body: JSON.stringify({ name: 'carol', password: 'correct horse battery' }) })).json()) as any).token;
    const answer = call(a.token, 'email/send', { method: 'POST', body: JSON.stringify({ to: 'x@else.example' }) });
    const p = await waitingFor('send');
    expect(p.approversText).toBe('user carol');
    for (const token of [viewer, a.token, t.rt.adminToken]) {
      const r = await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', token });
      expect(r.status).toBe(403);
    }
    // The viewer sees the queue.
    expect((await t.api('/api/approvals?status=pending', { token: viewer })).status).toBe(200);
    const [x, y] = await Promise.all([t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', token: carol }), t.api(`/api/approvals/${p.id}/deny`, { method: 'POST', token: carol })]);
    expect([x.status, y.status].sort()).toEqual([200, 409]);
    const decided = ((await (await t.api(`/api/approvals/${p.id}`)).json()) as any).status;
    expect((await answer).status).toBe(decided === 'approved' ? 200 : 403);
    // Audited: the request and one decision, as events.
    const events = sqliteOf(t.rt.state).prepare("SELECT type, data FROM events WHERE type LIKE 'approval.%' AND data LIKE ?").all(`%${p.id}%`) as any[];
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.decided']);
    expect(JSON.parse(events[1].data)).toMatchObject({ by: 'viewer carol', status: decided });
  });

  it('a caller that hangs up while it waits withdraws its approval; nothing is sent', async () => {
    const before = svc.seen.length;
    const ac = new AbortController();
    const answer = call(a.token, 'crm/contacts/9', { method: 'PUT', body: '{}', signal: ac.signal }).catch(() => null);
    const p = await waitingFor('contacts/9');
    ac.abort();
    await answer;
    const after = await until(async () => {
      const r = (await (await t.api(`/api/approvals/${p.id}`)).json()) as any;
      return r.status === 'withdrawn' ? r : null;
    });
    expect(after.status).toBe('withdrawn');
    expect(svc.seen.length).toBe(before);
  });

  it('the agent asks ahead; once approved, the one call it named goes through without waiting', async () => {
    const before = svc.seen.length;
    const ask = await fetch(`${t.rt.url}/api/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'crm', tool: '/deals', method: 'POST', args: { amount: 5000 }, note: 'closing the Acme deal' }),
    });
    expect(ask.status).toBe(201);
    const asked = (await ask.json()) as any;
    expect(asked).toMatchObject({ decision: 'approve', approval: { ahead: true, status: 'pending', note: 'closing the Acme deal' } });
    expect((await t.api(`/api/approvals/${asked.approval.id}/approve`, { method: 'POST' })).status).toBe(200);
    const polled = (await (await fetch(`${t.rt.url}/api/approvals/${asked.approval.id}?wait=1`, { headers: { authorization: `Bearer ${a.token}` } })).json()) as any;
    expect(polled.status).toBe('approved');
    expect((await call(a.token, 'crm/deals', { method: 'POST', body: JSON.stringify({ amount: 5000 }) })).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    // Used once: the same call again waits for a person.
    const again = call(a.token, 'crm/deals', { method: 'POST', body: JSON.stringify({ amount: 5000 }) });
    const p = await until(async () => (await pending()).find((x) => x.tool === 'deals' && !x.ahead) ?? null);
    await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST' });
    expect((await again).status).toBe(403);
  });

  it('bounds what one agent may have waiting: past 32, 429 and nothing is queued', async () => {
    const flood = await agentToken(t, { name: 'flood' });
    const ask = () =>
      fetch(`${t.rt.url}/api/approvals`, { method: 'POST', headers: { authorization: `Bearer ${flood.token}` }, body: JSON.stringify({ service: 'crm', tool: '/flood', method: 'POST', args: {} }) });
    for (let i = 0; i < 32; i++) expect((await ask()).status).toBe(201);
    const over = await ask();
    expect(over.status).toBe(429);
    expect(((await over.json()) as any).error).toMatchObject({ code: 'too_many_approvals' });
    expect((await pending()).filter((p) => p.agentId === flood.agentId)).toHaveLength(32);
    // Another agent is not held back by it.
    const mine = await fetch(`${t.rt.url}/api/approvals`, { method: 'POST', headers: { authorization: `Bearer ${a.token}` }, body: JSON.stringify({ service: 'crm', tool: '/mine', method: 'POST' }) });
    expect(mine.status).toBe(201);
    await t.api(`/api/approvals/${((await mine.json()) as any).approval.id}/deny`, { method: 'POST' });
  });

  it('refuses malformed requests with a precise 400 and unknown ids with 404', async () => {
    expect((await t.api('/api/approvals?status=open')).status).toBe(400);
    // Each parameter of the list checked, any other refused (`before=x` was read as no bound at all).
    for (const [query, message] of [
      ['before=x', 'before: must be an ISO time, e.g. 2026-11-29T10:00:00.000Z'],
      ['before=1e309', 'before: must be an ISO time, e.g. 2026-11-29T10:00:00.000Z'],
      ['limit=0', 'limit: must be a whole number from 1 to 1000'],
      ['limit=1e3', 'limit: must be a whole number from 1 to 1000'],
      ['zzz=1', "unknown field 'zzz'"],
    ]) {
      const r = await t.api(`/api/approvals?${query}`);
      expect({ query, status: r.status, message: ((await r.json()) as any).error.message }).toEqual({ query, status: 400, message });
    }
    expect((await t.api(`/api/approvals?before=${new Date().toISOString()}&limit=5&status=all`)).status).toBe(200);
    expect((await t.api('/api/approvals/apr_nope/approve', { method: 'POST' })).status).toBe(404);
    const bad = await fetch(`${t.rt.url}/api/approvals`, { method: 'POST', headers: { authorization: `Bearer ${a.token}` }, body: JSON.stringify({ service: 'crm', tool: 'x', method: 'FETCH' }) });
    expect(bad.status).toBe(400);
    // Asking ahead for a service or MCP server that is not configured: refused as its call would be (an approval that could never be used).
    for (const [body, message] of [
      [{ service: 'nope', tool: 'x', method: 'POST' }, "no tool service 'nope' is configured (tools.nope in the config file)"],
      [{ service: 'nope', tool: 't', mcp: true }, "no MCP server 'nope' is configured (mcp.nope in the config file)"],
    ] as const) {
      const r = await fetch(`${t.rt.url}/api/approvals`, { method: 'POST', headers: { authorization: `Bearer ${a.token}` }, body: JSON.stringify(body) });
      expect({ status: r.status, message: ((await r.json()) as any).error.message }).toEqual({ status: 404, message });
    }
    expect(((await bad.json()) as any).error.message).toMatch(/method/);
    const admin = await t.api('/api/approvals', { method: 'POST', body: JSON.stringify({ service: 'crm', tool: 'x' }) });
    expect(admin.status).toBe(403);
  });
});
