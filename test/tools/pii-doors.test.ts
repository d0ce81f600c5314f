import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { FIXTURES, startTestRuntime, tempDir, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { recordedPath, redactHeaders } from '../../src/tools/index.js';
import { eventsOf, raw, withTools } from './helpers.js';
import { FakeService, type Reply } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';

// The tool proxy's doors besides JSON and text bodies: other content types, response headers,
// the path kept in the call's row; and the agent's own SDK events.

const MAIL = 'jane.doe@acme-widgets.com';
const BINARY = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), Buffer.from(`owner ${MAIL}`), Buffer.from([0x00, 0xff])]);

const answers: Record<string, Reply> = {
  '/yaml': { status: 200, headers: { 'content-type': 'application/yaml' }, body: `name: Jane Doe\nemail: ${MAIL}\n` },
  '/octet': { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: `export;${MAIL};CTO\n` },
  '/untyped': { status: 200, body: `contact: ${MAIL}` },
  '/latin': { status: 200, headers: { 'content-type': 'text/plain; charset=iso-8859-1' }, body: Buffer.from(`Café owner: ${MAIL}`, 'latin1') },
  '/binary': { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: BINARY },
  '/headers': {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-owner': MAIL, link: `<https://crm.example/people?owner=${MAIL}>; rel="self"`, etag: '"v1-5551234567"' },
    body: '{"ok":true}',
  },
};

let up: FakeService;
beforeAll(async () => {
  up = await FakeService.start();
  up.reply = (req): Reply => {
    const path = req.url.split('?')[0]!;
    if (path.startsWith('/people/')) return { status: 200, headers: { 'content-type': 'text/plain', 'x-owner': 'frank@example.org' }, body: 'owner frank@example.org' };
    return answers[path] ?? { status: 404, body: 'no such thing' };
  };
});
afterAll(async () => up?.close());

describe('tool answers in any content type', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }) });
  });
  afterAll(async () => t?.stop());
  const get = (path: string) => raw(t.rt.url, 'GET', `/tools/crm${path}`, { token: t.rt.adminToken });

  it('scans YAML, octet-stream holding text and untyped bodies; leaves binary and Latin-1 bytes as they came', async () => {
    expect((await get('/yaml')).body).toBe('name: Jane Doe\nemail: [EMAIL_REDACTED]\n');
    expect((await get('/octet')).body).toBe('export;[EMAIL_REDACTED];CTO\n');
    const untyped = await get('/untyped');
    expect(untyped.body).toBe('contact: [EMAIL_REDACTED]');
    expect(Number(untyped.headers['content-length'])).toBe(Buffer.byteLength(untyped.body));
    // Read back as Latin-1: the é is still one byte 0xE9, not a mangled replacement character.
    const bytes = async (path: string) => Buffer.from(await (await fetch(`${t.rt.url}/tools/crm${path}`, { headers: { authorization: `Bearer ${t.rt.adminToken}` } })).arrayBuffer());
    const latin = await bytes('/latin');
    expect(latin.equals(Buffer.from('Café owner: [EMAIL_REDACTED]', 'latin1'))).toBe(true);
    expect((await bytes('/binary')).equals(BINARY)).toBe(true);

    const audit = sqliteOf(t.rt.state).prepare("SELECT request_ref AS ref, type FROM pii_audit WHERE location = 'tool.response' ORDER BY id").all();
    expect(audit).toEqual([1, 2, 3, 4].map(() => ({ ref: 'tool:crm', type: 'EMAIL' })));
    const calls = await (await t.api('/api/tools/calls?service=crm&limit=100')).json();
    // Newest first.
    expect(calls.calls.map((c: any) => [c.path, c.redactions])).toEqual([
      ['/binary', 0],
      ['/latin', 1],
      ['/untyped', 1],
      ['/octet', 1],
      ['/yaml', 1],
    ]);
  });

  it('redacts the response headers the agent gets, audited; structural ones are left alone', async () => {
    const r = await get('/headers');
    expect(r.status).toBe(200);
    expect(r.headers['x-owner']).toBe('[EMAIL_REDACTED]');
    expect(r.headers.link).toBe('<https://crm.example/people?owner=[EMAIL_REDACTED]>; rel="self"');
    expect(r.headers.etag).toBe('"v1-5551234567"');
    expect(JSON.stringify(r.headers)).not.toContain(MAIL);
    const audit = sqliteOf(t.rt.state).prepare("SELECT request_ref AS ref FROM pii_audit WHERE request_ref LIKE '%header%' ORDER BY id").all();
    expect(audit).toEqual([{ ref: 'tool:crm header x-owner' }, { ref: 'tool:crm header link' }]);
    const detected = eventsOf(t, 'pii.detected').filter((e) => e.data.requestRef?.includes('header'));
    expect(detected).toHaveLength(2);
    expect(JSON.stringify(detected)).not.toContain(MAIL);
  });

  it("keeps the call's path redacted, while the service gets the request as written", async () => {
    const before = up.seen.length;
    const r = await get('/people/jane.doe%40acme-widgets.com/notes?cc=erin@example.org&page=2&tel=%2B14155550134');
    expect(r.status).toBe(200);
    expect(up.since(before).map((s) => s.url)).toEqual(['/people/jane.doe%40acme-widgets.com/notes?cc=erin@example.org&page=2&tel=%2B14155550134']);
    // The row is written before the agent has its answer.
    const [row] = sqliteOf(t.rt.state).prepare("SELECT path FROM tool_calls WHERE path LIKE '/people/%'").all() as { path: string }[];
    expect(row!.path).toBe('/people/[EMAIL_REDACTED]/notes');
    // Only the answer's findings are audited: the path is the agent's own request, kept redacted, not a protection event.
    const refs = sqliteOf(t.rt.state).prepare("SELECT DISTINCT request_ref AS ref FROM pii_audit WHERE request_ref LIKE 'tool:crm%' ORDER BY ref").all();
    expect(refs).toEqual([{ ref: 'tool:crm' }, { ref: 'tool:crm header link' }, { ref: 'tool:crm header x-owner' }]);
  });
});

describe('the header and path redactors on their own', () => {
  it('rewrite only values with findings and keep arrays as arrays', () => {
    const h = { 'x-a': 'plain', 'x-list': ['ok', `to ${MAIL}`], date: 'Sun, 22 Nov 2026 22:00:00 GMT' };
    const r = redactHeaders('redact')(h, null);
    expect(r).toEqual({ headers: { ...h, 'x-list': ['ok', 'to [EMAIL_REDACTED]'] }, redactions: 1, blocked: null });
    expect(redactHeaders('warn')(h, null)).toEqual({ headers: h, redactions: 1, blocked: null });
    expect(redactHeaders('block')(h, null).blocked).toEqual({ message: expect.stringContaining('(EMAIL)'), types: ['EMAIL'] });
    const clean = { 'x-a': 'plain' };
    expect(redactHeaders('redact')(clean, null).headers).toBe(clean);
  });

  it('map findings in percent-encoded text back onto the encoded bytes', () => {
    expect(recordedPath('/people/7')).toBe('/people/7');
    expect(recordedPath('/a/b%20c/%E2%82%AC')).toBe('/a/b%20c/%E2%82%AC');
    expect(recordedPath('/u/j%2Edoe%40example.org')).toBe('/u/[EMAIL_REDACTED]');
    expect(recordedPath('/u/M%C3%BCller%20bob%40example.org/x')).toBe('/u/M%C3%BCller%20[EMAIL_REDACTED]/x');
    expect(recordedPath('/x/bob%40example.org,carol%40example.org')).toBe('/x/[EMAIL_REDACTED],[EMAIL_REDACTED]');
    expect(recordedPath(`/x/${MAIL}`, { allowDomains: ['acme-widgets.com'] })).toBe(`/x/${MAIL}`);
  });
});

describe("an agent's SDK events and tool calls", () => {
  let t: TestRuntime;
  let probe: WsProbe;
  const dir = tempDir();
  const gate = join(dir.dir, 'go');
  beforeAll(async () => {
    t = await startTestRuntime({ dir: dir.dir, config: withTools({ crm: { url: up.url } }), agent: { script: join(FIXTURES, 'agents/pii_doors_agent.py'), args: [gate] } });
    probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
  });
  afterAll(async () => {
    await probe?.close();
    await t?.stop();
    dir.cleanup();
  });

  it('never show a value in the terminal, the events table, /api/events or the WebSocket', async () => {
    writeFileSync(gate, '');
    const outcome = await t.rt.agentDone!;
    const printed = t.rt.state
      .lastEvents(1000, t.rt.agentId!)
      .filter((e) => e.type === 'agent.output')
      .map((e) => e.message);
    expect(outcome.status, printed.join('\n')).toBe('completed');
    expect(JSON.parse(printed.find((l) => l.startsWith('{'))!)).toEqual({ status: 200, body_redacted: true, body_plain: false, header_redacted: true });

    const sent = await probe.waitForEvent((e) => e.type === 'agent.event');
    expect(sent.message).toBe('Contacted [EMAIL_REDACTED] about the renewal');
    expect(sent.data).toEqual({ contact: { email: '[EMAIL_REDACTED]', phones: ['[PHONE_REDACTED]', 'no phone'] }, attempts: 3 });
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    const stored = events.find((e: any) => e.type === 'agent.event');
    expect(stored).toMatchObject({ message: sent.message, data: sent.data });
    await until(() => t.log().includes('Contacted [EMAIL_REDACTED]'));
    for (const where of [t.log(), JSON.stringify(events), JSON.stringify(probe.events())]) {
      for (const value of ['bob@example.org', 'carol@example.org', '415 555 0134', 'dave@example.org', 'erin@example.org', 'frank@example.org']) expect(where).not.toContain(value);
    }
    // Audited like the agent's stdout, each text with the part it was in (never a key path:
    // a key can hold a value itself).
    const audit = await until(() => {
      const rows = sqliteOf(t.rt.state).prepare("SELECT request_ref AS ref, type FROM pii_audit WHERE location = 'agent.output' AND request_ref LIKE 'sdk-event%' ORDER BY id").all();
      return rows.length === 3 ? rows : null;
    });
    expect(audit).toEqual([
      { ref: 'sdk-event', type: 'EMAIL' },
      { ref: 'sdk-event', type: 'EMAIL' },
      { ref: 'sdk-event', type: 'PHONE' },
    ]);
    const row = sqliteOf(t.rt.state).prepare("SELECT path FROM tool_calls WHERE service = 'crm'").get() as { path: string };
    expect(row.path).toBe('/people/[EMAIL_REDACTED]');
  });
});

describe('the doors under safety.locations', () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });
  const start = async (safetyMode: 'redact' | 'block', locations: Record<string, string>) => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }, { safetyMode, safety: { ...DEFAULTS.safety, locations } }) });
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'doors', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
    const event = await t.api(`/api/agents/${a.agentId}/events`, { method: 'POST', token: a.token, body: JSON.stringify({ message: `mail ${MAIL}`, data: { to: MAIL } }) });
    expect(event.status).toBe(201);
    const sent = eventsOf(t, 'agent.event').at(-1);
    const header = await raw(t.rt.url, 'GET', '/tools/crm/headers', { token: a.token });
    const yaml = await raw(t.rt.url, 'GET', '/tools/crm/yaml', { token: a.token });
    const audit = sqliteOf(t.rt.state).prepare('SELECT location, action FROM pii_audit ORDER BY id').all();
    return { sent, header, yaml, audit, agentId: a.agentId };
  };

  it('block on agent_stdout redacts an SDK event and keeps the agent; warn on tool_response counts but delivers', async () => {
    const r = await start('block', { tool_response: 'warn' });
    expect(r.sent).toMatchObject({ message: 'mail [EMAIL_REDACTED]', data: { to: '[EMAIL_REDACTED]' } });
    expect(r.header.status).toBe(200);
    expect(r.header.headers['x-owner']).toBe(MAIL);
    expect(r.yaml.body).toContain(MAIL);
    expect(r.audit).toEqual([
      { location: 'agent.output', action: 'redacted' },
      { location: 'agent.output', action: 'redacted' },
      { location: 'tool.response', action: 'warned' },
      { location: 'tool.response', action: 'warned' },
      { location: 'tool.response', action: 'warned' },
    ]);
    expect(eventsOf(t!, 'agent.stopping')).toEqual([]);
  });

  it('off is not scanned at all', async () => {
    const r = await start('redact', { agent_stdout: 'off', tool_response: 'off' });
    expect(r.sent).toMatchObject({ message: `mail ${MAIL}`, data: { to: MAIL } });
    expect(r.header.headers['x-owner']).toBe(MAIL);
    expect(r.yaml.body).toContain(MAIL);
    expect(r.audit).toEqual([]);
  });
});

describe('stored copies of SDK events', () => {
  let t: TestRuntime | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });
  const send = async (safetyMode: 'redact' | 'warn', body: unknown) => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }, { safetyMode }) });
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'ev', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
    expect((await t.api(`/api/agents/${a.agentId}/events`, { method: 'POST', token: a.token, body: JSON.stringify(body) })).status).toBe(201);
    const refs = sqliteOf(t.rt.state).prepare("SELECT request_ref AS ref, action FROM pii_audit WHERE location = 'agent.output' ORDER BY id").all();
    return { sent: eventsOf(t, 'agent.event').at(-1), refs };
  };

  it('scan keys and numbers too; the audit ref never carries a key', async () => {
    const r = await send('redact', { message: 'hi', data: { [MAIL]: 1, contact: { ssn_number: 123456789, phoneNumber: 4155550123 } } });
    expect(r.sent.data).toEqual({ '[EMAIL_REDACTED]': 1, contact: { ssn_number: '[SSN_REDACTED]', phoneNumber: '[PHONE_REDACTED]' } });
    expect(JSON.stringify(r.refs)).not.toContain(MAIL);
    expect(r.refs).toEqual([1, 2, 3].map(() => ({ ref: 'sdk-event', action: 'redacted' })));
  });

  it('are redacted in warn mode too (the finding is recorded as warned)', async () => {
    const r = await send('warn', { message: `mail ${MAIL}`, data: { to: MAIL } });
    expect(r.sent).toMatchObject({ message: 'mail [EMAIL_REDACTED]', data: { to: '[EMAIL_REDACTED]' } });
    const stored = sqliteOf(t!.rt.state).prepare("SELECT message, data FROM events WHERE type = 'agent.event'").all();
    expect(JSON.stringify(stored)).not.toContain(MAIL);
    expect(r.refs).toEqual([1, 2].map(() => ({ ref: 'sdk-event', action: 'warned' })));
  });
});

describe("an agent's stdout under warn", () => {
  it('reaches the events table redacted; the finding is recorded as warned', async () => {
    const dir = tempDir();
    const script = join(dir.dir, 'print.py');
    writeFileSync(script, `print("mail ${MAIL}", flush=True)\n`);
    const t = await startTestRuntime({ dir: dir.dir, config: { safetyMode: 'warn' }, agent: { script, args: [] } });
    try {
      expect((await t.rt.agentDone!).status).toBe('completed');
      const printed = t.rt.state
        .lastEvents(1000, t.rt.agentId!)
        .filter((e) => e.type === 'agent.output')
        .map((e) => e.message);
      expect(printed).toContain('mail [EMAIL_REDACTED]');
      expect(JSON.stringify(sqliteOf(t.rt.state).prepare('SELECT message, data FROM events').all())).not.toContain(MAIL);
      expect(sqliteOf(t.rt.state).prepare("SELECT action FROM pii_audit WHERE location = 'agent.output'").all()).toEqual([{ action: 'warned' }]);
    } finally {
      await t.stop();
      dir.cleanup();
    }
  });
});
