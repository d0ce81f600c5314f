import type { ChildProcess } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { toolsSchema } from '../../src/config/tools.js';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { connectMcp, startMcpFixture } from '../helpers/mcp.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { raw } from '../tools/helpers.js';

// Hardening, fourth round, through a real runtime, real tool services and a real MCP server:
// (A) a rule's `args:` conditions read the body the proxy forwards as its upstream would (past
// 1 MB, behind a byte-order mark, compressed, in the query too), and a rule whose conditions
// cannot be read fails closed, saying why; (B) a path or an MCP tool name carrying PII reaches no
// event, approval, REST answer or refusal raw, while the rules match on the real names; (C) on
// the runtime, an API token named like a user is not that user.

const SSN = '123-45-6789';
const EVIL = 'mallory@evil.example';

let svc: FakeService;
let mcpUp: ChildProcess;
let t: TestRuntime;
let a: AgentToken;

beforeAll(async () => {
  let url: string;
  [svc, { url, child: mcpUp }] = await Promise.all([FakeService.start(), startMcpFixture('http')]);
  t = await startTestRuntime({
    config: {
      tools: toolsSchema.parse({ crm: { url: svc.url }, email: { url: svc.url } }),
      mcp: mcpSchema.parse({ servers: { web: { url } } }),
      policies: policySet(
        policiesSchema.parse({
          default: 'deny',
          rules: [
            { name: 'outside-mail', match: { tool: 'email.send', args: { to: { not_endswith: '@acme.example' } } }, action: 'deny', reason: 'mail stays inside' },
            { name: 'mail', match: { tool: 'email.send' }, action: 'allow' },
            { name: 'notify-inside', match: { tool: 'email.notify', args: { to: { endswith: '@acme.example' } } }, action: 'allow' },
            { name: 'big-deals', match: { tool: 'crm.deals', args: { amount: { gt: 1000 } } }, action: 'approve', timeout: '60s' },
            { name: 'no-export', match: { tool: 'crm.export/*' }, action: 'deny' },
            { name: 'crm-writes', match: { tool: 'crm.*', method: ['POST', 'PUT', 'DELETE'] }, action: 'approve', timeout: '60s', approvers: ['admin', 'user:carol'] },
            { name: 'crm-reads', match: { tool: 'crm.*' }, action: 'allow' },
            { name: 'no-secret-echo', match: { mcp: 'web.echo', args: { text: { contains: 'secret' } } }, action: 'deny' },
            { name: 'no-lookups', match: { mcp: 'web.lookup*' }, action: 'deny' },
            { name: 'web', match: { mcp: 'web.*' }, action: 'allow' },
          ],
        }),
      ),
    },
  });
  a = await agentToken(t, { name: 'writer' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await svc?.close();
  mcpUp?.kill();
});

/** A tool call sent as written (no client normalising the path or the body). */
const send = (path: string, body?: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST') =>
  raw(t.rt.url, method, `/tools/${path}`, { token: a.token, headers, ...(body === undefined ? {} : { body }) });
const events = (type: string) => t.rt.state.lastEvents(5000).filter((e) => e.type === type);
const pending = async (): Promise<any[]> => ((await (await t.api('/api/approvals?status=pending')).json()) as { approvals: any[] }).approvals;

describe('(A) policy arguments read as the upstream reads them', () => {
  it('a deny rule on `to` holds for the body padded past 1 MB, behind a byte-order mark, gzipped, or with `to` in the query', async () => {
    const before = svc.seen.length;
    const plain = JSON.stringify({ to: EVIL });
    const variants: Array<[string, string, string | Buffer, Record<string, string>]> = [
      ['plain', 'email/send', plain, { 'content-type': 'application/json' }],
      ['past 1 MB', 'email/send', JSON.stringify({ to: EVIL, pad: 'x'.repeat(1024 * 1024 + 10) }), { 'content-type': 'application/json' }],
      ['a byte-order mark', 'email/send', `\uFEFF${plain}`, { 'content-type': 'application/json' }],
      ['gzip', 'email/send', gzipSync(plain), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
      ['JSON as text/plain', 'email/send', plain, { 'content-type': 'text/plain' }],
      ['the query', `email/send?to=${encodeURIComponent(EVIL)}`, JSON.stringify({ to: 'bob@acme.example' }), { 'content-type': 'application/json' }],
    ];
    for (const [what, path, body, headers] of variants) {
      const r = await send(path, body, headers);
      expect(r.status, what).toBe(403);
      expect(r.json().error, what).toMatchObject({ code: 'policy_denied', message: expect.stringMatching(/policy rule outside-mail: mail stays inside/) });
    }
    expect(svc.seen.length).toBe(before);
    // Inside the company, it goes.
    expect((await send('email/send', JSON.stringify({ to: 'bob@acme.example' }))).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
  });

  it('a deny rule applies to a body it cannot read, and the refusal and its event say why', async () => {
    const before = svc.seen.length;
    const r = await send('email/send', Buffer.from('not gzip at all'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(r.status).toBe(403);
    expect(r.json().error.message).toMatch(/refused by policy rule outside-mail: mail stays inside; its arguments could not be read \(its gzip body does not decompress\)/);
    const bad = await send('email/send', '{"to": ', { 'content-type': 'application/json' });
    expect(bad.status).toBe(403);
    expect(bad.json().error.message).toMatch(/its arguments could not be read \(its JSON body does not parse/);
    expect(svc.seen.length).toBe(before);
    const said = await until(() => events('policy.decision').find((e) => e.message.includes('gzip body does not decompress')));
    expect(said.message).toMatch(/^email POST \/send refused by policy rule outside-mail: its arguments could not be read \(its gzip body does not decompress\)/);
    expect(said.data).toMatchObject({ rule: 'outside-mail', action: 'deny' });
  });

  it('an allow rule grants nothing it cannot read: the default decides, saying why', async () => {
    const before = svc.seen.length;
    expect((await send('email/notify', JSON.stringify({ to: 'bob@acme.example' }))).status).toBe(200);
    const r = await send('email/notify', Buffer.from([0xff, 0xfe, 0x00]), { 'content-type': 'application/json; charset=utf-8' });
    expect(r.status).toBe(403);
    expect(r.json().error.message).toMatch(/no policy rule allows it \(policies\.default: deny; the arguments could not be read: .*an allow rule that tests them allows nothing it cannot read\)/);
    expect(svc.seen.length).toBe(before + 1);
  });

  it('an approve rule holds a call it cannot read, and the approver is told why', async () => {
    const before = svc.seen.length;
    const answer = send('crm/deals', Buffer.from('{"amount": 5000'), { 'content-type': 'application/json' });
    const p = await until(async () => (await pending()).find((x) => x.tool === 'deals') ?? null);
    expect(p).toMatchObject({ rule: 'big-deals', args: expect.stringMatching(/^the arguments could not be read: its JSON body does not parse/) });
    expect((await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST' })).status).toBe(200);
    expect((await answer).status).toBe(403);
    expect(svc.seen.length).toBe(before);
  });

  it('reads an MCP call’s arguments as they are (JSON already)', async () => {
    const client = await connectMcp(t.rt.url, 'web', a.token);
    try {
      const ok = (await client.callTool({ name: 'echo', arguments: { text: 'hello' } })) as any;
      expect(ok.content[0].text).toContain('hello');
      await expect(client.callTool({ name: 'echo', arguments: { text: 'the secret plan' } })).rejects.toThrow(/refused by policy rule no-secret-echo/);
    } finally {
      await client.close();
    }
  });
});

describe('(B) one redacted view of a call wherever it is shown', () => {
  it('a path carrying an SSN: rules match it, and no event, approval, answer or refusal holds it raw', async () => {
    const viewer = ((await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'watcher' }) })).json()) as any).token;
    const before = svc.seen.length;
    // A deny rule on the real path.
    const refused = await send(`crm/export/${SSN}`, undefined, {}, 'GET');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/crm GET \/export\/\S+ is refused by policy rule no-export/);
    expect(refused.body).not.toContain(SSN);
    // An approve rule on the real path, decided over REST.
    const answer = send(`crm/contacts/${SSN}`, JSON.stringify({ note: 'call back' }));
    const p = await until(async () => (await pending()).find((x) => x.rule === 'crm-writes' && x.tool.startsWith('contacts/')) ?? null);
    const queue = await (await t.api('/api/approvals', { token: viewer })).text();
    expect(queue).toContain(p.id);
    expect(queue).not.toContain(SSN);
    expect((await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST', body: JSON.stringify({ reason: 'no' }) })).status).toBe(200);
    const denied = await answer;
    expect(denied.status).toBe(403);
    expect(denied.body).not.toContain(SSN);
    expect(svc.seen.length).toBe(before);
    await until(() => events('approval.decided').some((e) => (e.data as any).id === p.id));
    for (const type of ['policy.decision', 'approval.requested', 'approval.decided']) {
      const mine = events(type).filter((e) => JSON.stringify(e).includes('export/') || JSON.stringify(e).includes('contacts/'));
      expect(mine.length, type).toBeGreaterThan(0);
      for (const e of mine) expect(JSON.stringify(e), type).not.toContain(SSN);
    }
  });

  it('the agent asks ahead for that call: the grant is for the real call, which then goes through', async () => {
    const before = svc.seen.length;
    const ask = await fetch(`${t.rt.url}/api/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'crm', tool: `/contacts/${SSN}`, method: 'PUT', args: { note: 'ok' } }),
    });
    expect(ask.status).toBe(201);
    const asked = (await ask.json()) as any;
    expect(JSON.stringify(asked)).not.toContain(SSN);
    expect((await t.api(`/api/approvals/${asked.approval.id}/approve`, { method: 'POST' })).status).toBe(200);
    expect((await send(`crm/contacts/${SSN}`, JSON.stringify({ note: 'ok' }), { 'content-type': 'application/json' }, 'PUT')).status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    // A grant is for its own call only: another contact's waits.
    const other = send('crm/contacts/555', JSON.stringify({ note: 'ok' }), { 'content-type': 'application/json' }, 'PUT');
    const p = await until(async () => (await pending()).find((x) => x.tool === 'contacts/555') ?? null);
    await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST' });
    expect((await other).status).toBe(403);
  });

  it('an MCP tool name carrying an SSN is refused by the rule that names it, and shown redacted', async () => {
    const client = await connectMcp(t.rt.url, 'web', a.token);
    try {
      const err = await client.callTool({ name: `lookup ${SSN}`, arguments: {} }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/MCP web\.lookup \S+ is refused by policy rule no-lookups/);
      expect(err?.message).not.toContain(SSN);
    } finally {
      await client.close();
    }
    const e = await until(() => events('policy.decision').find((x) => x.data && (x.data as any).rule === 'no-lookups'));
    expect(JSON.stringify(e)).not.toContain(SSN);
    // The call's own record (its mcp.call event and tool_calls row) names the tool redacted too.
    const recorded = await until(() => events('mcp.call').find((x) => String((x.data as any).tool).startsWith('lookup')));
    expect((recorded.data as any).tool).toMatch(/^lookup \S+$/);
    expect(JSON.stringify(recorded)).not.toContain(SSN);
    const rows = await until(() => {
      const r = sqliteOf(t.rt.state).prepare("select path, detail from tool_calls where service = 'web' and path like 'lookup%'").all() as Array<{ path: string; detail: string }>;
      return r.length > 0 ? r : null;
    });
    expect(JSON.stringify(rows)).not.toContain(SSN);
  });
});

describe('(C) on the runtime, who decides as a user', () => {
  it('an API token named like the user a rule names is not that user; the user’s login is', async () => {
    expect((await t.api('/api/users', { method: 'POST', body: JSON.stringify({ name: 'carol', role: 'viewer', password: 'correct horse battery' }) })).status).toBe(201);
    const namesake = ((await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'carol' }) })).json()) as any).token;
    const carol = ((await (await t.api('/api/login', { method: 'POST', token: null, body: JSON.stringify({ name: 'carol', password: 'correct horse battery' }) })).json()) as any).token;
    const answer = send('crm/contacts/8', JSON.stringify({ note: 'x' }));
    const p = await until(async () => (await pending()).find((x) => x.tool === 'contacts/8') ?? null);
    const r = await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', token: namesake });
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error.message).toMatch(/viewer tokens are read-only/);
    expect((await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', token: carol })).status).toBe(200);
    expect((await answer).status).toBe(200);
  });
});
