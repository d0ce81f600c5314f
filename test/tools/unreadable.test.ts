import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { DEFAULTS } from '../../src/config/index.js';
import { modeUnreadable } from '../../src/tools/index.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { eventsOf, raw, withTools } from './helpers.js';
import { FakeService, type Reply } from '../helpers/http.js';

// A tool answer still compressed in a content coding iron-cage cannot undo (snappy, zstd before
// Node 22.15, a made-up one) cannot be scanned for PII: it is refused where the tool_response policy redacts or
// blocks, passes announced where it only warns, and passes where it is off. We ask upstreams
// for `identity`; these are the ones that compress anyway.

const PERSON = '{"owner":"bob@example.org"}';
const answers: Record<string, Reply> = {
  // Not really compressed: what matters is that the label names a coding we cannot undo.
  '/snappy': { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'snappy' }, body: PERSON },
  // Two header lines: the second one counts as much as the first.
  '/two-lines': { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': ['identity', 'snappy'] }, body: PERSON },
  '/stacked-unknown': { status: 200, headers: { 'content-type': 'text/plain', 'content-encoding': 'x-secret, gzip' }, body: gzipSync('owner bob@example.org') },
  // `identity` is no coding at all: the body is plain and scanned like any other.
  '/identity': { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'identity' }, body: PERSON },
};

let up: FakeService;
beforeAll(async () => {
  up = await FakeService.start();
  up.reply = (req): Reply => answers[req.url.split('?')[0]!] ?? { status: 404, body: 'no' };
});
afterAll(async () => up?.close());

let t: TestRuntime | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

async function start(safetyMode: 'redact' | 'block', locations: Record<string, string> = {}) {
  t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }, { safetyMode, safety: { ...DEFAULTS.safety, locations } }) });
  const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'reader', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
  return { t, get: (path: string) => raw(t!.rt.url, 'GET', `/tools/crm${path}`, { token: a.token }), agentId: a.agentId };
}

describe('tool answers the PII scan cannot read', () => {
  it('are refused under redact and block, announced, and never cached', async () => {
    for (const mode of ['redact', 'block'] as const) {
      const { t, get, agentId } = await start(mode);
      for (const [path, coding] of [
        ['/snappy', 'snappy'],
        ['/stacked-unknown', 'x-secret'],
        ['/two-lines', 'snappy'],
      ]) {
        const before = up.seen.length;
        const r = await get(path!);
        expect(r.status, `${mode} ${path}`).toBe(403);
        expect(r.json().error.code).toBe('pii_blocked');
        expect(r.json().error.message).toContain(`compressed as '${coding}'`);
        expect(r.body).not.toContain('bob@example.org');
        expect(up.seen.length - before).toBe(1);
      }
      // The upstream failing now: no cached copy of the refused answer stands in for it.
      const failing = up.reply;
      up.reply = () => ({ status: 500, body: 'down' });
      const fallback = await get('/snappy');
      up.reply = failing;
      expect(fallback.headers['x-iron-cage-tier']).not.toBe('cache');
      expect(fallback.body).not.toContain('bob@example.org');
      const events = eventsOf(t, 'pii.unscanned').filter((e) => e.agentId === agentId);
      expect(events.map((e) => e.data)).toEqual([
        { location: 'tool.response', reason: expect.stringContaining("'snappy'"), action: 'refused', requestRef: 'tool:crm' },
        { location: 'tool.response', reason: expect.stringContaining("'x-secret'"), action: 'refused', requestRef: 'tool:crm' },
        { location: 'tool.response', reason: expect.stringContaining("'snappy'"), action: 'refused', requestRef: 'tool:crm' },
      ]);
      await t.stop();
    }
    t = null;
  });

  it('pass unchanged where the tool_response policy only warns (announced, never cached) or is off (not announced)', async () => {
    const warn = await start('redact', { tool_response: 'warn' });
    const r = await warn.get('/snappy');
    expect(r.status).toBe(200);
    expect(r.body).toBe(PERSON);
    expect(r.headers['content-encoding']).toBe('snappy');
    expect(eventsOf(warn.t, 'pii.unscanned').map((e) => e.data.action)).toEqual(['passed']);
    // The upstream failing now: an unscanned answer is not served again from the cache.
    const failing = up.reply;
    up.reply = () => ({ status: 500, body: 'down' });
    const again = await warn.get('/snappy');
    up.reply = failing;
    expect(again.headers['x-iron-cage-tier']).not.toBe('cache');
    expect(again.body).not.toContain('bob@example.org');
    await warn.t.stop();
    const off = await start('block', { tool_response: 'off' });
    expect((await off.get('/snappy')).body).toBe(PERSON);
    expect(eventsOf(off.t, 'pii.unscanned')).toEqual([]);
  });

  it('a per-type redact or block makes a warn-only policy refuse what it cannot read', async () => {
    t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }, { safetyMode: 'warn', safety: { ...DEFAULTS.safety, perType: { SSN: 'block' } } }) });
    const r = await raw(t.rt.url, 'GET', '/tools/crm/snappy', { token: t.rt.adminToken });
    expect(r.status).toBe(403);
    expect(r.json().error.message).toContain('block');
  });

  it('`content-encoding: identity` is a plain body: scanned and redacted', async () => {
    const { get } = await start('redact');
    const r = await get('/identity');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ owner: '[EMAIL_REDACTED]' });
  });

  it('without the runtime engine, the safety mode alone decides', () => {
    expect(modeUnreadable('warn')('zstd', null)).toBeNull();
    expect(modeUnreadable('redact')('zstd', null)?.message).toContain("compressed as 'zstd'");
    expect(modeUnreadable('block')('br2', 'lg-1')?.message).toContain('safety mode is block');
  });
});
