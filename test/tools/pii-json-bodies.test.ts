import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { eventsOf, raw, withTools } from './helpers.js';
import { FakeService, type Reply } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';

// Tool answers in JSON are redacted string by string, decoded: the agent gets valid JSON, an
// escaped address is found, and the audit offsets point into the value, not its key.

const DOC = '{"e":"jörg@example.org","note":"mail\\nbob@example.org","u":"bob\\u0040example.org","phone_number":"4155550123","n":[1,true,null]}';
const answers: Record<string, Reply> = {
  '/json': { status: 200, headers: { 'content-type': 'application/json' }, body: DOC },
  '/untyped-json': { status: 200, body: DOC },
  '/ndjson': { status: 200, headers: { 'content-type': 'application/x-ndjson' }, body: `{"to":"bob\\u0040example.org"}\nnot json bob@example.org\n{"phoneNumber":4155550123}\n` },
  '/utf16le': { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('\ufeffowner bob@example.org', 'utf16le') },
  '/utf16-nobom': { status: 200, body: Buffer.from('owner bob@example.org', 'utf16le') },
  '/utf16be': { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('\ufeffowner bob@example.org', 'utf16le').swap16() },
  '/stacked': { status: 200, headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip, br' }, body: brotliCompressSync(gzipSync('owner bob@example.org')) },
  '/clean': { status: 200, headers: { 'content-type': 'application/json' }, body: '{"a":"\\u0041"}' },
  '/bom': { status: 200, headers: { 'content-type': 'application/json' }, body: '\ufeff{"to":"bob\\u0040example.org","n":1}' },
};

let up: FakeService;
beforeAll(async () => {
  up = await FakeService.start();
  up.reply = (req): Reply => answers[req.url.split('?')[0]!] ?? { status: 404, body: 'no' };
});
afterAll(async () => up?.close());

describe('tool answers in JSON', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }) });
  });
  afterAll(async () => t?.stop());
  const get = (path: string) => raw(t.rt.url, 'GET', `/tools/crm${path}`, { token: t.rt.adminToken });

  it('scans each string decoded and gives back valid JSON, typed or not', async () => {
    for (const path of ['/json', '/untyped-json']) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ e: '[EMAIL_REDACTED]', note: 'mail\n[EMAIL_REDACTED]', u: '[EMAIL_REDACTED]', phone_number: '[PHONE_REDACTED]', n: [1, true, null] });
      expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    }
    // The phone value's finding starts at its first character: the key context is not counted.
    const rows = sqliteOf(t.rt.state).prepare("SELECT type, start, \"end\" AS e FROM pii_audit WHERE location = 'tool.response' AND type = 'PHONE' ORDER BY id").all() as Array<{
      start: number;
      e: number;
    }>;
    expect(rows.length).toBe(2);
    for (const row of rows) expect([row.start, row.e]).toEqual([0, '4155550123'.length]);
  });

  it('reads NDJSON line by line: JSON lines string by string, other lines as text', async () => {
    const r = await get('/ndjson');
    expect(r.body).toBe('{"to":"[EMAIL_REDACTED]"}\nnot json [EMAIL_REDACTED]\n{"phoneNumber":"[PHONE_REDACTED]"}\n');
  });

  it('reads UTF-16 (with a byte-order mark or by its NUL pattern) and stacked content codings as text', async () => {
    const bytes = async (path: string) => Buffer.from(await (await fetch(`${t.rt.url}/tools/crm${path}`, { headers: { authorization: `Bearer ${t.rt.adminToken}` } })).arrayBuffer());
    expect((await bytes('/utf16le')).equals(Buffer.from('\ufeffowner [EMAIL_REDACTED]', 'utf16le'))).toBe(true);
    expect((await bytes('/utf16-nobom')).equals(Buffer.from('owner [EMAIL_REDACTED]', 'utf16le'))).toBe(true);
    expect((await bytes('/utf16be')).equals(Buffer.from('\ufeffowner [EMAIL_REDACTED]', 'utf16le').swap16())).toBe(true);
    expect((await get('/stacked')).body).toBe('owner [EMAIL_REDACTED]');
  });

  it('reads JSON behind a byte-order mark as JSON, and keeps the mark', async () => {
    const r = await get('/bom');
    expect(r.body).toBe('\ufeff{"to":"[EMAIL_REDACTED]","n":1}');
  });

  it('leaves a JSON answer without findings byte for byte', async () => {
    expect((await get('/clean')).body).toBe('{"a":"\\u0041"}');
  });
});

describe('refused tool paths', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }) });
  });
  afterAll(async () => t?.stop());

  it('name a service that holds PII only redacted in the tool.refused event', async () => {
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'lost' }) })).json()) as { token: string; agentId: string };
    expect((await raw(t.rt.url, 'GET', '/tools/123-45-6789/x', { token: a.token })).status).toBe(404);
    const refused = eventsOf(t, 'tool.refused').filter((e) => e.agentId === a.agentId);
    expect(refused.map((e) => e.data)).toEqual([{ service: '[SSN_REDACTED]', reason: 'unknown_service', status: 404 }]);
    expect(JSON.stringify(refused)).not.toContain('123-45-6789');
  });
});
