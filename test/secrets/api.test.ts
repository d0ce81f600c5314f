import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The vault's REST surface against a real server and a real SQLite file: the RBAC matrix,
// validation, audit rows, tampering, and the locked states.

const KEY = 'test master key: correct horse battery staple';
const AGENT = 'ex-0000beef';
let t: TestRuntime;
let viewer: string;
let agent: string;
let otherAgent: string;

const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const auditRows = () => sqliteOf(t.rt.state).prepare('SELECT * FROM secret_audit_log ORDER BY id').all() as any[];
const secretRows = () => JSON.stringify(sqliteOf(t.rt.state).prepare('SELECT * FROM secrets ORDER BY id').all());

async function create(name: string, value: string, environment = 'production'): Promise<any> {
  const r = await t.api('/api/secrets', { method: 'POST', ...json({ name, environment, value }) });
  expect(r.status).toBe(201);
  return r.json();
}

beforeAll(async () => {
  t = await startTestRuntime({ env: { IRON_CAGE_MASTER_KEY: KEY } });
  // A supervised run's row (its process is not needed for the API): secrets go to running runs only.
  t.rt.state.registerAgent({ id: AGENT, name: 'run', kind: 'supervised', script: 'run.py', args: [], limitMicros: null, environment: 'production' });
  viewer = await t.rt.tokens.issue({ role: 'viewer', name: 'viewer' });
  agent = (await t.rt.tokens.issueRun({ name: AGENT, agentId: AGENT })).token;
  otherAgent = (await t.rt.tokens.issueRun({ name: 'other', agentId: 'ot-00000000' })).token;
});
afterAll(async () => t?.stop());

describe('secrets API', () => {
  it('says at start that the vault is unlocked', () => {
    expect(t.log()).toContain('Secrets vault unlocked');
    expect(t.log()).not.toContain(KEY);
    expect(t.log()).not.toContain('use a long passphrase');
  });

  it('warns at start about a short master key, without showing it', async () => {
    const short = await startTestRuntime({ env: { IRON_CAGE_MASTER_KEY: 'hunter2xyz' } });
    try {
      expect(short.log()).toContain('IRON_CAGE_MASTER_KEY is only 10 characters: use a long passphrase');
      expect(short.log()).not.toContain('hunter2xyz');
    } finally {
      await short.stop();
    }
  });

  it('creates, lists masked, reveals for admins, rotates and soft-deletes', async () => {
    const value = 'sk-proj-abcdefghijklmnopqrstuvwxyz-0123456789';
    const s = await create('OPENAI_API_KEY', value);
    expect(s).toEqual({
      id: expect.stringMatching(/^secret-[0-9a-f]{16}$/),
      name: 'OPENAI_API_KEY',
      environment: 'production',
      maskedValue: 'sk-p...789',
      createdAt: expect.any(String),
      updatedAt: s.createdAt,
    });
    expect(JSON.stringify(s)).not.toContain('abcdefgh');
    const list = await (await t.api('/api/secrets?environment=production')).json();
    expect(list.secrets).toContainEqual(s);
    expect(await (await t.api(`/api/secrets/${s.id}`)).json()).toEqual(s);
    expect((await (await t.api(`/api/secrets/${s.id}?reveal=true`)).json()).value).toBe(value);
    // Duplicate name + environment: 409; the same name elsewhere is another secret.
    const dup = await t.api('/api/secrets', { method: 'POST', ...json({ name: 'OPENAI_API_KEY', environment: 'production', value: 'x'.repeat(20) }) });
    expect(dup.status).toBe(409);
    expect((await dup.json()).error.code).toBe('conflict');
    const dev = await create('OPENAI_API_KEY', 'dev-value-1234567', 'development');
    expect(dev.id).not.toBe(s.id);
    // Rotation.
    const put = await t.api(`/api/secrets/${s.id}`, { method: 'PUT', ...json({ value: 'sk-proj-NEWVALUE-rotated-000' }) });
    expect(put.status).toBe(200);
    expect((await put.json()).maskedValue).toBe('sk-p...000');
    expect((await (await t.api(`/api/secrets/${s.id}?reveal=true`)).json()).value).toBe('sk-proj-NEWVALUE-rotated-000');
    // Soft delete: gone from the list, 404 by id, the name reusable.
    expect((await t.api(`/api/secrets/${s.id}`, { method: 'DELETE' })).status).toBe(200);
    const gone = await t.api(`/api/secrets/${s.id}`);
    expect(gone.status).toBe(404);
    expect((await gone.json()).error.message).toBe(`secret ${s.id} was deleted`);
    expect((await t.api(`/api/secrets/${s.id}`, { method: 'PUT', ...json({ value: 'y'.repeat(20) }) })).status).toBe(404);
    expect((await (await t.api('/api/secrets?environment=production')).json()).secrets.map((x: any) => x.id)).not.toContain(s.id);
    const again = await create('OPENAI_API_KEY', 'sk-proj-again-after-delete');
    expect(again.id).not.toBe(s.id);
    expect(sqliteOf(t.rt.state).prepare('SELECT deleted_at FROM secrets WHERE id = ?').get(s.id)).toEqual({ deleted_at: expect.any(String) });
    // Events carry name and environment only.
    const events = t.rt.state.lastEvents(500).filter((e) => e.type.startsWith('secret.'));
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['secret.created', 'secret.updated', 'secret.deleted']));
    for (const e of events) expect(Object.keys(e.data).sort()).toEqual(['by', 'environment', 'name']);
    expect(JSON.stringify(events)).not.toMatch(/abcdefgh|NEWVALUE|dev-value|again-after/);
  });

  it('refuses bad input with a precise 400 or 404 and changes nothing', async () => {
    const s = await create('BAD_INPUT_TARGET', 'value-value-value-1');
    const before = secretRows();
    const cases: Array<[string, RequestInit & { path?: string }, number, RegExp]> = [
      ['lower-case name', { method: 'POST', ...json({ name: 'lower', value: 'v' }) }, 400, /name: must match/],
      ['digit first', { method: 'POST', ...json({ name: '1ABC', value: 'v' }) }, 400, /name: must match/],
      ['long name', { method: 'POST', ...json({ name: 'A'.repeat(129), value: 'v' }) }, 400, /at most 128/],
      ['value not a string', { method: 'POST', ...json({ name: 'NUM', value: 12 }) }, 400, /value: must be a string/],
      ['value too big', { method: 'POST', ...json({ name: 'BIG', value: 'x'.repeat(65_537) }) }, 400, /at most 65536 bytes/],
      ['unknown field', { method: 'POST', ...json({ name: 'X_Y', value: 'v', owner: 'me' }) }, 400, /owner/],
      ['bad environment', { method: 'POST', ...json({ name: 'X_Y', value: 'v', environment: '../prod' }) }, 400, /environment:/],
      ['not JSON', { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } }, 400, /not valid JSON/],
      // An unquoted value: the parser's own message would quote it back into the answer and the audit log.
      ['unquoted value', { method: 'POST', body: '{"name":"LEAKY","value":hunter2-unquoted-secret}', headers: { 'content-type': 'application/json' } }, 400, /^request body is not valid JSON/],
      [
        'not UTF-8',
        { method: 'POST', body: Buffer.concat([Buffer.from('{"name":"X_Y","value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), headers: { 'content-type': 'application/json' } },
        400,
        /not valid UTF-8/,
      ],
      ['path trick', { path: '/api/secrets/..%2F..%2Fetc', method: 'GET' }, 400, /id: must be secret-/],
      ['path trick PUT', { path: "/api/secrets/secret-1' OR 1=1", method: 'PUT', ...json({ value: 'v' }) }, 400, /id: must be secret-/],
      ['unknown id', { path: '/api/secrets/secret-0000000000000000', method: 'GET' }, 404, /no secret/],
      ['PUT unknown field', { path: `/api/secrets/${s.id}`, method: 'PUT', ...json({ value: 'v', name: 'OTHER' }) }, 400, /name/],
      ['reveal=yes', { path: `/api/secrets/${s.id}?reveal=yes`, method: 'GET' }, 400, /reveal/],
      // Read as its first value, this revealed the secret: a parameter given twice is refused, on every /api route.
      ['reveal twice', { path: `/api/secrets/${s.id}?reveal=true&reveal=false`, method: 'GET' }, 400, /^reveal: given more than once in the query \(give it once\)$/],
      ['limit twice elsewhere', { path: '/api/events?limit=5&limit=abc', method: 'GET' }, 400, /^limit: given more than once/],
    ];
    for (const [what, { path = '/api/secrets', ...init }, status, message] of cases) {
      const r = await t.api(path, init);
      expect(r.status, what).toBe(status);
      expect((await r.json()).error.message, what).toMatch(message);
    }
    expect(secretRows()).toBe(before);
    const failed = auditRows().filter((a) => a.success === 0 && a.operation !== 'DENIED');
    expect(failed.length).toBeGreaterThanOrEqual(10);
    expect(JSON.stringify(failed)).not.toContain('x'.repeat(100));
    expect(JSON.stringify(auditRows())).not.toContain('hunter2');
  });

  it('gives secrets to a running supervised agent only: not to an external agent, not after the run ended', async () => {
    await create('RUN_ONLY', 'run-only-value-0123456789');
    t.rt.state.registerAgent({ id: 'ex-00000001', name: 'notebook', kind: 'external', script: null, args: [], limitMicros: null });
    const external = (await t.rt.tokens.issueRun({ name: 'notebook', agentId: 'ex-00000001' })).token;
    const r = await t.api('/api/agents/ex-00000001/secrets', { token: external });
    expect(r.status).toBe(403);
    expect(JSON.stringify(await r.json())).not.toContain('run-only-value');
    t.rt.state.registerAgent({ id: 'dn-00000001', name: 'done', kind: 'supervised', script: 'done.py', args: [], limitMicros: null, environment: 'production' });
    t.rt.state.updateAgent(
      'dn-00000001',
      { status: 'completed', endedAt: new Date().toISOString() },
      { type: 'agent.exited', severity: 'info', message: 'done', data: { status: 'completed', exitCode: 0, signal: null, durationMs: 1 } },
    );
    const ended = (await t.rt.tokens.issueRun({ name: 'done', agentId: 'dn-00000001' })).token;
    expect((await t.api('/api/agents/dn-00000001/secrets', { token: ended })).status).toBe(403);
    // The running one still gets them.
    expect((await (await t.api(`/api/agents/${AGENT}/secrets`, { token: agent })).json()).secrets.RUN_ONLY).toBe('run-only-value-0123456789');
  });

  it('enforces the RBAC matrix on every route, auditing each refusal as DENIED', async () => {
    const routes = (id: string): Array<[string, string, RequestInit]> => [
      ['list', '/api/secrets', {}],
      ['status', '/api/secrets/status', {}],
      ['create', '/api/secrets', { method: 'POST', ...json({ name: `RBAC_${Math.random().toString(36).slice(2, 8).toUpperCase()}`, environment: 'production', value: 'rbac-value-123456' }) }],
      ['audit', '/api/secrets/audit', {}],
      ['read', `/api/secrets/${id}`, {}],
      ['reveal', `/api/secrets/${id}?reveal=true`, {}],
      ['update', `/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'rbac-rotated-123456' }) }],
      ['agent-secrets', `/api/agents/${AGENT}/secrets`, {}],
      ['delete', `/api/secrets/${id}`, { method: 'DELETE' }],
    ];
    const expected: Record<string, Record<string, number>> = {
      admin: { list: 200, status: 200, create: 201, audit: 200, read: 200, reveal: 200, update: 200, delete: 200, 'agent-secrets': 200 },
      viewer: { list: 200, status: 200, create: 403, audit: 200, read: 200, reveal: 403, update: 403, delete: 403, 'agent-secrets': 403 },
      agent: { list: 403, status: 403, create: 403, audit: 403, read: 403, reveal: 403, update: 403, delete: 403, 'agent-secrets': 200 },
      otherAgent: { list: 403, status: 403, create: 403, audit: 403, read: 403, reveal: 403, update: 403, delete: 403, 'agent-secrets': 403 },
    };
    const tokens: Record<string, string> = { admin: t.rt.adminToken, viewer, agent, otherAgent };
    for (const [role, want] of Object.entries(expected)) {
      const target = await create(`MATRIX_${role.toUpperCase()}`, 'matrix-value-abcdef');
      for (const [action, path, init] of routes(target.id)) {
        const rowsBefore = secretRows();
        const denied = auditRows().filter((a) => a.operation === 'DENIED').length;
        const r = await t.api(path, { ...init, token: tokens[role] });
        expect(r.status, `${role} ${action}`).toBe(want[action]);
        const body = await r.json();
        if (want[action] === 403) {
          expect(body.error.code).toBe('forbidden');
          expect(secretRows(), `${role} ${action} changed nothing`).toBe(rowsBefore);
          expect(auditRows().filter((a) => a.operation === 'DENIED').length, `${role} ${action} audited`).toBe(denied + 1);
          expect(auditRows().at(-1)).toMatchObject({ operation: 'DENIED', requester_role: role === 'otherAgent' ? 'agent' : role, success: 0 });
        }
        if (action === 'reveal' && r.status === 200) expect(body.value).toBe('matrix-value-abcdef');
        if (action === 'read' && r.status === 200) expect(body).not.toHaveProperty('value');
        if (action === 'status' && r.status === 200) expect(body).toEqual({ status: 'unlocked', message: null });
        if (action === 'agent-secrets' && r.status === 200)
          expect(body).toMatchObject({
            agentId: AGENT,
            environment: 'production',
            secrets: expect.objectContaining({ [`MATRIX_${role.toUpperCase()}`]: role === 'admin' ? 'rbac-rotated-123456' : 'matrix-value-abcdef' }),
          });
      }
    }
    // No token at all: 401 everywhere.
    for (const [, path, init] of routes('secret-0000000000000000')) expect((await t.api(path, { ...init, token: null })).status).toBe(401);
  });

  it('keeps an audit row for every operation, never with a value, and the log append-only', async () => {
    const s = await create('AUDITED', 'audited-value-zyxwvu');
    await t.api(`/api/secrets/${s.id}`);
    await t.api(`/api/secrets/${s.id}?reveal=true`);
    await t.api(`/api/secrets/${s.id}`, { method: 'PUT', ...json({ value: 'audited-value-rotated' }) });
    await t.api(`/api/agents/${AGENT}/secrets`, { token: agent });
    await t.api(`/api/secrets/${s.id}?reveal=true`, { token: viewer });
    await t.api(`/api/secrets/${s.id}`, { method: 'DELETE' });
    const r = await (await t.api('/api/secrets/audit?secret_name=AUDITED')).json();
    expect(r.records.map((a: any) => [a.operation, a.success])).toEqual([
      ['CREATE', true],
      ['READ', true],
      ['REVEAL', true],
      ['UPDATE', true],
      ['READ', true],
      ['DELETE', true],
    ]);
    expect(r.records[4]).toMatchObject({ requesterRole: 'agent', agentId: AGENT });
    const denied = await (await t.api('/api/secrets/audit?operation=DENIED&limit=1000')).json();
    expect(denied.records.some((a: any) => a.requesterRole === 'viewer' && /reveal/.test(a.errorMessage))).toBe(true);
    expect((await t.api('/api/secrets/audit?operation=PEEK')).status).toBe(400);
    expect(JSON.stringify(auditRows())).not.toMatch(/audited-value/);
    expect(() => sqliteOf(t.rt.state).prepare('UPDATE secret_audit_log SET success = 1').run()).toThrow('append-only');
    expect(() => sqliteOf(t.rt.state).prepare('DELETE FROM secret_audit_log').run()).toThrow('append-only');
  });

  it('answers a tampered row with a clear error, never garbage', async () => {
    const s = await create('TAMPERED', 'tampered-original-value');
    const db = sqliteOf(t.rt.state);
    const row = db.prepare('SELECT ciphertext FROM secrets WHERE id = ?').get(s.id) as { ciphertext: Buffer };
    const bad = Buffer.from(row.ciphertext);
    bad[0] = bad[0]! ^ 0xff;
    db.prepare('UPDATE secrets SET ciphertext = ? WHERE id = ?').run(bad, s.id);
    const r = await t.api(`/api/secrets/${s.id}?reveal=true`);
    expect(r.status).toBe(422);
    expect((await r.json()).error).toEqual({ code: 'secret_tampered', message: expect.stringContaining('TAMPERED failed its integrity check') });
    // The agent's reload leaves the tampered one out (audited as a failed READ) and gets the rest.
    const viaAgent = await t.api(`/api/agents/${AGENT}/secrets`, { token: agent });
    expect(viaAgent.status).toBe(200);
    const fetched = (await viaAgent.json()).secrets;
    expect(fetched).not.toHaveProperty('TAMPERED');
    expect(Object.keys(fetched).length).toBeGreaterThan(0);
    expect(
      auditRows()
        .filter((a) => a.operation === 'READ' && a.secret_name === 'TAMPERED')
        .at(-1),
    ).toMatchObject({ success: 0, error_message: expect.stringContaining('integrity check') });
    // A blob copied from another row fails too.
    const other = await create('TAMPER_SOURCE', 'source-value-123456');
    db.prepare(
      'UPDATE secrets SET salt = (SELECT salt FROM secrets WHERE id = @o), nonce = (SELECT nonce FROM secrets WHERE id = @o), ciphertext = (SELECT ciphertext FROM secrets WHERE id = @o) WHERE id = @s',
    ).run({ o: other.id, s: s.id });
    expect((await t.api(`/api/secrets/${s.id}?reveal=true`)).status).toBe(422);
    expect(auditRows().at(-1)).toMatchObject({ operation: 'REVEAL', success: 0, secret_name: 'TAMPERED', error_message: expect.stringContaining('secret_tampered') });
    // A damaged masked preview: the list still answers, flagging the row, and it can be deleted.
    db.prepare('UPDATE secrets SET masked_sealed = randomblob(40) WHERE id = ?').run(s.id);
    const list = await (await t.api('/api/secrets?environment=production')).json();
    expect(list.secrets.find((x: any) => x.id === s.id).maskedValue).toBe('[integrity check failed]');
    expect((await t.api(`/api/secrets/${s.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await t.api(`/api/secrets/${other.id}`, { method: 'DELETE' })).status).toBe(200);
  });
});

describe('a locked vault', () => {
  it('is not mentioned on a plain start: no key, no secret held, none referred to (nothing is withheld)', async () => {
    const plain = await startTestRuntime({ env: { IRON_CAGE_MASTER_KEY: '' } });
    try {
      // The vault opens (or not) within tens of ms of the start; its line, when there is one, comes then.
      await new Promise((r) => setTimeout(r, 300));
      expect(plain.log()).not.toMatch(/vault/i);
      // The routes still say why they answer 423, should anyone ask.
      expect(await (await plain.api('/api/secrets/status')).json()).toMatchObject({ status: 'locked' });
    } finally {
      await plain.stop();
    }
  });

  it('answers 423 vault_locked on every secrets route while the rest runs, and says why at start', async () => {
    const { dir, cleanup } = tempDir();
    const first = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    const made = await first.api('/api/secrets', { method: 'POST', ...json({ name: 'KEPT', value: 'kept-value-1234567' }) });
    expect(made.status).toBe(201);
    const id = (await made.json()).id;
    await first.stop();
    for (const [env, why] of [
      [{ IRON_CAGE_MASTER_KEY: '' }, /IRON_CAGE_MASTER_KEY is not set \(start this iron-cage again with it set for it/],
      [{ IRON_CAGE_MASTER_KEY: 'not the key' }, /wrong master key/],
    ] as const) {
      const l = await startTestRuntime({ dir, env });
      try {
        expect(l.log()).toMatch(/Secrets vault (locked|LOCKED)/);
        expect(l.log()).toMatch(why);
        for (const [path, init] of [
          ['/api/secrets', {}],
          ['/api/secrets', { method: 'POST', ...json({ name: 'X', value: 'y' }) }],
          [`/api/secrets/${id}`, {}],
          [`/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'z' }) }],
          [`/api/secrets/${id}`, { method: 'DELETE' }],
        ] as const) {
          const r = await l.api(path, init);
          expect(r.status, `${init.method ?? 'GET'} ${path}`).toBe(423);
          expect((await r.json()).error.code).toBe('vault_locked');
        }
        // The dashboard asks first, and explains instead of failing a request.
        const state = await (await l.api('/api/secrets/status')).json();
        expect(state).toEqual({
          status: env.IRON_CAGE_MASTER_KEY ? 'wrong_master_key' : 'locked',
          message: expect.stringMatching(env.IRON_CAGE_MASTER_KEY ? /wrong master key/ : /IRON_CAGE_MASTER_KEY is not set \(start this iron-cage again with it set for it/),
        });
        expect((await l.api('/api/agents')).status).toBe(200);
        expect((await l.api('/api/health')).status).toBe(200);
      } finally {
        await l.stop();
      }
    }
    // The right key still opens it: nothing was changed by the locked runs.
    const again = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    expect((await (await again.api(`/api/secrets/${id}?reveal=true`)).json()).value).toBe('kept-value-1234567');
    await again.stop();
    cleanup();
  });
});
