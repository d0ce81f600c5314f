import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { redactResponse } from '../../src/tools/index.js';
import { eventsOf, raw, withTools } from './helpers.js';
import { FakeService, type Reply } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';

const PERSON = JSON.stringify({ name: 'Jane Doe', email: 'jane.doe@acme-widgets.com', title: 'CTO' });
// Binary (a PNG signature, NUL bytes) with an address in a text chunk: not text, so not scanned.
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x19]), Buffer.from('tEXtAuthor\0jane.doe@acme-widgets.com'), Buffer.from([0, 0, 0, 0])]);

let up: FakeService;
beforeAll(async () => {
  up = await FakeService.start();
  up.reply = (req): Reply =>
    req.url.startsWith('/gz')
      ? { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(PERSON) }
      : req.url.startsWith('/png')
        ? { status: 200, headers: { 'content-type': 'image/png' }, body: PNG }
        : { status: 200, headers: { 'content-type': 'application/json' }, body: PERSON };
});
afterAll(async () => up?.close());

describe('PII in tool answers', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url, breaker: { failure_threshold: 1, cooldown_s: 3600 } } }) });
  });
  afterAll(async () => t?.stop());

  it('is redacted before the agent or the cache sees it', async () => {
    const r = await raw(t.rt.url, 'GET', '/tools/crm/people/1', { token: t.rt.adminToken });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: 'Jane Doe', email: '[EMAIL_REDACTED]', title: 'CTO' });
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));

    const gz = await raw(t.rt.url, 'GET', '/tools/crm/gz', { token: t.rt.adminToken });
    expect(gz.headers['content-encoding']).toBeUndefined();
    expect(gz.json().email).toBe('[EMAIL_REDACTED]');
    // Not text: passed through as it came.
    expect((await raw(t.rt.url, 'GET', '/tools/crm/png', { token: t.rt.adminToken })).body).toBe(PNG.toString());

    const calls = await (await t.api('/api/tools/calls?service=crm')).json(); // also writes what waits in the batch
    expect(calls.calls.map((c: any) => c.redactions)).toEqual([0, 1, 1]);
    const db = sqliteOf(t.rt.state);
    const cached = db.prepare('SELECT body FROM tool_cache').all() as { body: Buffer }[];
    expect(cached.length).toBeGreaterThan(0);
    expect(cached.filter((c) => c.body.toString().includes('[EMAIL_REDACTED]'))).toHaveLength(2);

    // Audited like LLM output: a row per finding (never the value) and an event.
    const audit = db.prepare("SELECT location, type, action FROM pii_audit WHERE location = 'tool.response'").all();
    expect(audit).toEqual([
      { location: 'tool.response', type: 'EMAIL', action: 'redacted' },
      { location: 'tool.response', type: 'EMAIL', action: 'redacted' },
    ]);
    const detected = eventsOf(t, 'pii.detected').filter((e) => e.data.location === 'tool.response');
    expect(detected).toHaveLength(2);
    expect(JSON.stringify(detected)).not.toContain('jane.doe');
  });
});

describe('PII under the block policy', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }, { safetyMode: 'block' }) });
  });
  afterAll(async () => t?.stop());

  it('refuses the answer and caches nothing', async () => {
    const r = await raw(t.rt.url, 'GET', '/tools/crm/people/1', { token: t.rt.adminToken });
    expect(r.status).toBe(403);
    expect(r.headers['x-iron-cage-tier']).toBe('live');
    expect(r.json().error).toEqual({ code: 'pii_blocked', message: expect.stringMatching(/^crm: .*PII \(EMAIL\).*block/) });
    expect(r.body).not.toContain('jane.doe');
    await t.api('/api/tools/calls');
    expect((sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM tool_cache').get() as { n: number }).n).toBe(0);
    // Barrier: an answer with nothing to block is cached; once its row is on disk, a row for the
    // blocked answer, stored before it, would be there too.
    const png = await raw(t.rt.url, 'GET', '/tools/crm/png', { token: t.rt.adminToken });
    expect(png.status).toBe(200);
    const rows = await until(() => {
      const r = sqliteOf(t.rt.state).prepare('SELECT body FROM tool_cache').all() as { body: Buffer }[];
      return r.length > 0 ? r : null;
    });
    expect(rows.map((r) => r.body.toString())).toEqual([png.body]);
  });
});

describe('the redactor used without the runtime PII engine', () => {
  it('redacts under the safety mode and names what a block found', () => {
    const body = Buffer.from(PERSON);
    const red = redactResponse('redact')(body, 'application/json; charset=utf-8', null);
    expect(JSON.parse(red.body.toString()).email).toBe('[EMAIL_REDACTED]');
    expect(red).toMatchObject({ redactions: 1, blocked: null });
    expect(redactResponse('warn')(body, 'application/json', null)).toMatchObject({ body, redactions: 1, blocked: null });
    expect(redactResponse('block')(body, 'application/json', null).blocked).toEqual({ message: expect.stringContaining('(EMAIL)'), types: ['EMAIL'] });
    // Binary passes as it came, whatever the type says; text is scanned, whatever the type says.
    expect(redactResponse('redact')(PNG, 'application/octet-stream', null)).toMatchObject({ body: PNG, redactions: 0 });
    expect(redactResponse('redact')(body, 'application/octet-stream', null)).toMatchObject({ redactions: 1, blocked: null });
  });
});
