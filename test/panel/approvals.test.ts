import pg from 'pg';
import { generateApiToken } from '../../src/auth/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { toolsSchema } from '../../src/config/tools.js';
import type { FleetApproval, FleetApprovalsResponse, RuntimeApprovalsResponse } from '../../src/panel/index.js';
import { FakeService } from '../helpers/http.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// A panel approver for a runtime's call. A real runtime holds its agent's tool call for
// a person and reports it to a real control panel (PostgreSQL); the call shows in the panel's
// queue, a panel user with the right decides it there, and the runtime reads the decision back
// and applies it with its own approval desk, which has the last word. The tool service counts:
// nothing reaches it before the decision.

const RUNTIME = 'rt-approvals';
const PASSWORD = 'a long enough password';

let pgServer: TestPostgres;
let panel: TestPanel;
let svc: FakeService;
let t: TestRuntime;
let writer: AgentToken;
let runtimeToken: string;
const as: Record<'bob' | 'vera' | 'carol', string> = { bob: '', vera: '', carol: '' };

beforeAll(async () => {
  [pgServer, svc] = await Promise.all([startPostgres(), FakeService.start()]);
  panel = await startTestPanel(pgServer.url);
  const added = await panel.api('/api/runtimes', { token: panel.admin, body: { id: RUNTIME } });
  expect(added.status).toBe(201);
  runtimeToken = ((await added.json()) as { token: string }).token;
  // bob an admin, vera a viewer, carol a viewer a rule names as its approver.
  for (const [name, role] of [
    ['bob', 'admin'],
    ['vera', 'viewer'],
    ['carol', 'viewer'],
  ] as const) {
    expect((await panel.api('/api/users', { token: panel.admin, body: { name, role, password: PASSWORD } })).status).toBe(201);
    as[name] = ((await (await panel.api('/api/login', { body: { name, password: PASSWORD } })).json()) as { token: string }).token;
  }
  t = await startTestRuntime({
    config: {
      tools: toolsSchema.parse({ crm: { url: svc.url }, email: { url: svc.url } }),
      policies: policySet(
        policiesSchema.parse([
          { name: 'crm-writes', match: { tool: 'crm.*', method: ['POST', 'PUT', 'DELETE'] }, action: 'approve', timeout: '60s' },
          { name: 'mail-by-carol', match: { tool: 'email.send' }, action: 'approve', timeout: '60s', approvers: ['user:carol'] },
        ]),
      ),
      panel: { url: panel.url, token: runtimeToken, ca: null },
    },
  });
  writer = await agentToken(t, { name: 'writer' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await panel?.close();
  await Promise.all([pgServer?.destroy(), svc?.close()]);
});

const call = (path: string, init: RequestInit = {}) => fetch(`${t.rt.url}/tools/${path}`, { ...init, headers: { authorization: `Bearer ${writer.token}`, 'content-type': 'application/json' } });
const queue = async (token = as.vera) => {
  const r = await panel.api('/api/approvals', { token });
  expect(r.status).toBe(200);
  return (await r.json()) as FleetApprovalsResponse;
};
/** The held call's approval, once its event has landed on the panel. */
const held = (tool: string) => until(async () => (await queue()).pending.find((a) => a.tool === tool && a.panel === null) ?? null);
const decide = (a: FleetApproval, decision: 'approve' | 'deny', token: string, reason?: string) =>
  panel.api(`/api/approvals/${a.runtime}/${a.id}/${decision}`, { token, body: reason === undefined ? {} : { reason } });
const outcome = (id: string) => until(async () => (await queue()).decided.find((a) => a.id === id) ?? null);

describe('a panel approver for a runtime’s call', () => {
  it('queues the held call on the panel; a viewer and the runtime token are refused; the admin approves and the call goes through once', async () => {
    const before = svc.seen.length;
    const answer = call('crm/contacts', { method: 'POST', body: JSON.stringify({ name: 'Ada' }) });
    const a = await held('contacts');
    expect(a).toMatchObject({ runtime: RUNTIME, agentName: 'writer', agentId: writer.agentId, kind: 'http', service: 'crm', method: 'POST', rule: 'crm-writes', status: 'pending' });
    expect(a.approvers).toEqual({ roles: ['admin'], users: [] });
    expect(a.args).toContain('Ada');
    expect(Date.parse(a.expiresAt)).toBeGreaterThan(Date.now());

    const viewer = await decide(a, 'approve', as.vera);
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as any).error.message).toMatch(/may be decided by admins \(rule crm-writes\); panel viewer vera is not among them/);
    expect((await decide(a, 'approve', runtimeToken)).status).toBe(403);
    expect((await panel.api('/api/approvals', { token: runtimeToken })).status).toBe(403);
    expect((await decide({ ...a, id: 'apr_nosuch' }, 'approve', as.bob)).status).toBe(404);
    expect(svc.seen.length).toBe(before);

    const ok = await decide(a, 'approve', as.bob, 'ship it');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: a.id, status: 'pending', panel: { decision: 'approve', by: 'panel admin bob', reason: 'ship it' } });
    const r = await answer;
    expect(r.status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);

    // One panel decision: the second is refused, naming who took the first.
    const again = await decide(a, 'deny', panel.admin);
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).error).toMatchObject({ code: 'stale', message: expect.stringMatching(/already approved on the panel by panel admin bob/) });

    // The runtime applied it as the panel user, and its event closes the approval on the panel.
    const local = (await (await t.api(`/api/approvals/${a.id}`)).json()) as any;
    expect(local).toMatchObject({ status: 'approved', decidedBy: 'panel admin bob', reason: 'ship it' });
    expect(await outcome(a.id)).toMatchObject({ status: 'approved', decidedBy: 'panel admin bob', reason: 'ship it', panel: { by: 'panel admin bob' } });
    expect((await queue()).pending.some((x) => x.id === a.id)).toBe(false);

    // What the runtime reads: nothing left to apply (the approval is closed), its cursor past the decision.
    const read = await fetch(`${panel.url}/api/runtime/approvals?after=0`, { headers: { authorization: `Bearer ${runtimeToken}` } });
    expect(read.status).toBe(200);
    const body = (await read.json()) as RuntimeApprovalsResponse;
    expect(body.decisions).toEqual([]);
    expect(body.cursor).toBeGreaterThan(0);
    expect((await fetch(`${panel.url}/api/runtime/approvals`, { headers: { authorization: `Bearer ${as.bob}` } })).status).toBe(403);

    // The decision is an audit row the database refuses to rewrite.
    const [row] = await pgServer.rows('SELECT decision, decided_by, reason, user_name FROM approval_decisions WHERE approval_id = $1', [a.id]);
    expect(row).toEqual({ decision: 'approve', decided_by: 'panel admin bob', reason: 'ship it', user_name: 'bob' });
    await expect(pgServer.rows("UPDATE approval_decisions SET reason = 'rewritten'")).rejects.toThrow(/approval decisions are append-only/);
    await expect(pgServer.rows('DELETE FROM approval_decisions')).rejects.toThrow(/append-only/);
    expect(panel.log.join('')).toContain(`Approval ${a.id} of runtime ${RUNTIME} (writer: POST crm.contacts, rule crm-writes) approved on the panel by panel admin bob: ship it`);
  });

  it('denies from the panel: the agent gets 403 approval_denied with the panel user’s reason, and nothing is sent', async () => {
    const before = svc.seen.length;
    const answer = call('crm/contacts/7', { method: 'DELETE' });
    const a = await held('contacts/7');
    expect((await decide(a, 'deny', as.bob, 'not this one')).status).toBe(200);
    const r = await answer;
    expect(r.status).toBe(403);
    const body = (await r.json()) as any;
    expect(body.error.code).toBe('approval_denied');
    expect(body.error.message).toMatch(/denied by panel admin bob.*not this one/);
    expect(svc.seen.length).toBe(before);
    expect(await outcome(a.id)).toMatchObject({ status: 'denied', decidedBy: 'panel admin bob', reason: 'not this one' });
  });

  it('lets the user a rule names decide on the panel, and not an admin the rule does not name', async () => {
    const before = svc.seen.length;
    const answer = call('email/send', { method: 'POST', body: JSON.stringify({ to: 'team@acme.example', subject: 'hello' }) });
    const a = await held('send');
    expect(a.approvers).toEqual({ roles: [], users: ['carol'] });
    const admin = await decide(a, 'approve', as.bob);
    expect(admin.status).toBe(403);
    expect(((await admin.json()) as any).error.message).toMatch(/may be decided by user carol \(rule mail-by-carol\); panel admin bob is not among them/);
    expect((await decide(a, 'approve', as.vera)).status).toBe(403);
    expect((await decide(a, 'approve', as.carol, 'fine by me')).status).toBe(200);
    expect((await answer).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    expect(await outcome(a.id)).toMatchObject({ status: 'approved', decidedBy: 'panel viewer carol' });
  });

  it('takes no token named like the user a rule names for that user: only their own login is them', async () => {
    // A viewer API token called carol (a row as `token create` writes one) and a viewer JWT signed by the panel, called carol too.
    const { token: apiToken, hash } = generateApiToken();
    await pgServer.rows("INSERT INTO api_tokens (id, name, role, hash, created_at, kind) VALUES ('tok-carol', 'carol', 'viewer', $1, $2, 'api')", [hash, new Date().toISOString()]);
    const jwt = await panel.panel.tokens.issue({ role: 'viewer', name: 'carol' });
    const before = svc.seen.length;
    const answer = call('email/send', { method: 'POST', body: JSON.stringify({ to: 'team@acme.example', subject: 'again' }) });
    const a = await held('send');
    for (const token of [apiToken, jwt]) {
      const r = await decide(a, 'approve', token);
      expect(r.status).toBe(403);
      expect(((await r.json()) as any).error.message).toMatch(/viewer sessions are read-only; approval \S+ may be decided by user carol \(rule mail-by-carol\); panel viewer carol is not among them/);
    }
    expect(svc.seen.length).toBe(before);
    expect((await decide(a, 'deny', as.carol, 'not today')).status).toBe(200);
    expect((await answer).status).toBe(403);
    const [row] = await pgServer.rows('SELECT decided_by, user_name FROM approval_decisions WHERE approval_id = $1', [a.id]);
    expect(row).toEqual({ decided_by: 'panel viewer carol', user_name: 'carol' });
  });

  it('keeps the runtime’s own decision when it decided first, says once that the panel’s was not applied, and the panel shows the runtime’s outcome', async () => {
    const before = svc.seen.length;
    const answer = call('crm/contacts/9', { method: 'PUT', body: JSON.stringify({ name: 'Bea' }) });
    const a = await held('contacts/9');
    // Batches of this runtime wait while its row is locked: the panel cannot hear of the local decision yet.
    const lock = new pg.Client(pgServer.url);
    await lock.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM runtimes WHERE id = $1 FOR UPDATE', [RUNTIME]);
      const here = await t.api(`/api/approvals/${a.id}/deny`, { method: 'POST', body: JSON.stringify({ reason: 'decided here' }) });
      expect(here.status).toBe(200);
      expect((await answer).status).toBe(403);
      const there = await decide(a, 'approve', as.bob, 'too late');
      expect(there.status).toBe(200);
      const said = `The control panel's decision on approval ${a.id} (approve by panel admin bob) was not applied: approval ${a.id} was already denied by admin`;
      await until(() => t.log().includes(said));
      await lock.query('ROLLBACK');
      const done = await outcome(a.id);
      expect(done).toMatchObject({ status: 'denied', reason: 'decided here', panel: { decision: 'approve', by: 'panel admin bob' } });
      expect(done.decidedBy).toMatch(/^admin /);
      // The refused decision is passed over, never tried again.
      expect(t.log().split(said).length - 1).toBe(1);
      // A second panel decision is refused as ever.
      expect((await decide(a, 'deny', panel.admin)).status).toBe(409);
    } finally {
      await lock.end();
    }
    expect(svc.seen.length).toBe(before);
    expect((await t.api(`/api/approvals/${a.id}`).then((r) => r.json())) as any).toMatchObject({ status: 'denied', reason: 'decided here' });
  });
});
