import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PANEL_SECRETS_POLL_MS } from '../../src/report/panel-secrets.js';
import { cli } from '../helpers/cli.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// Secrets from the panel, end to end: an admin keeps the provider key in the panel's vault
// (PostgreSQL), a real `iron-cage start` runtime refers to it as `panel:OPENAI_API_KEY`, and the
// fake upstream sees it in the Authorization header of the agent's calls. A rotation on the
// panel reaches the running runtime within seconds; a panel that goes away leaves the last value
// in use. Names outside the runtime's scope are refused, every read is audited on the panel, and
// the value is never in the runtime's state file or its log.

const BIN = join(ROOT, 'bin/iron-cage.js');
const AGENT = join(ROOT, 'test/fixtures/agents/fleet_member.py');
const MASTER = 'panel-secrets-test-master-key-0123456789';
const FIRST = `sk-panel-first-${randomBytes(12).toString('hex')}`;
const SECOND = `sk-panel-second-${randomBytes(12).toString('hex')}`;

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function launch(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, IRON_CAGE_MASTER_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c) => (text += c));
  child.stderr!.on('data', (c) => (text += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => text, exited };
}

async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('secrets from the panel', () => {
  let pg: TestPostgres;
  let panel: TestPanel;
  let llm: FakeLlm;
  let token: string;
  let keyId: string;
  const dir = tempDir('iron-cage-panel-secrets-');
  const stopFile = join(dir.dir, 'stop');
  const db = join(dir.dir, 'runtime.db');
  let runtime: Proc | undefined;

  const read = (names: string, o: { etag?: string; as?: string; environment?: string } = {}) =>
    fetch(`${panel.url}/api/runtime/secrets?names=${names}&environment=${o.environment ?? 'development'}`, {
      headers: { authorization: `Bearer ${o.as ?? token}`, ...(o.etag ? { 'if-none-match': o.etag } : {}) },
    });
  const audit = async (name: string) => ((await (await panel.api(`/api/secrets/audit?secret_name=${name}`, { token: panel.admin })).json()) as { records: Array<Record<string, unknown>> }).records;

  beforeAll(async () => {
    [pg, llm] = await Promise.all([startPostgres(), FakeLlm.start()]);
    panel = await startTestPanel(pg.url, {}, { env: { IRON_CAGE_MASTER_KEY: MASTER } });
    const made = await panel.api('/api/secrets', { token: panel.admin, body: { name: 'OPENAI_API_KEY', value: FIRST } });
    expect(made.status, await made.clone().text()).toBe(201);
    keyId = ((await made.json()) as { id: string }).id;
    expect((await panel.api('/api/secrets', { token: panel.admin, body: { name: 'CRM_TOKEN', value: 'crm-token-not-for-this-runtime' } })).status).toBe(201);
    const added = await panel.api('/api/runtimes', { token: panel.admin, body: { id: 'rt-secrets', secrets: ['OPENAI_*'] } });
    expect(added.status).toBe(201);
    token = ((await added.json()) as { token: string }).token;
  }, 60_000);

  afterAll(async () => {
    writeFileSync(stopFile, '');
    runtime?.child.kill('SIGKILL');
    await panel?.close();
    await Promise.all([pg?.destroy(), llm?.close()]);
    dir.cleanup();
  });

  it('gives a runtime only the secrets in its scope, with versions and 304 while nothing changed, each read audited', async () => {
    const ok = await read('OPENAI_API_KEY');
    expect(ok.status).toBe(200);
    const etag = ok.headers.get('etag')!;
    const body = (await ok.json()) as { environment: string; secrets: Record<string, { value: string; version: string }> };
    expect(body.environment).toBe('development');
    expect(body.secrets.OPENAI_API_KEY).toMatchObject({ value: FIRST, version: expect.any(String) });
    const again = await read('OPENAI_API_KEY', { etag });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);

    // Out of scope: refused whole, naming what and why; in scope but no such secret: 404.
    const denied = await read('OPENAI_API_KEY,CRM_TOKEN');
    expect(denied.status).toBe(403);
    expect(await denied.text()).toMatch(/CRM_TOKEN: not in the scope of runtime 'rt-secrets'/);
    const missing = await read('OPENAI_ORG');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/OPENAI_ORG: no such secret in environment development/);
    expect((await read('OPENAI_API_KEY', { environment: 'Bad Env' })).status).toBe(400);
    // An admin's session is not a runtime token.
    expect((await read('OPENAI_API_KEY', { as: panel.admin })).status).toBe(403);

    // The panel's audit log: the read (one, not the 304), the refusal, never a value.
    const reads = await audit('OPENAI_API_KEY');
    expect(reads.filter((r) => r.operation === 'READ' && r.requesterRole === 'runtime' && r.success)).toHaveLength(1);
    expect(reads.find((r) => r.requesterRole === 'runtime')?.requester).toBe('runtime rt-secrets');
    const crm = await audit('CRM_TOKEN');
    expect(crm.find((r) => r.operation === 'DENIED')).toMatchObject({ requesterRole: 'runtime', requester: 'runtime rt-secrets', success: false });
    expect(JSON.stringify([reads, crm])).not.toContain(FIRST);
  });

  it('refuses to start a runtime whose panel: reference it cannot read: exit 2 when refused or no panel is named, exit 1 when the panel is unreachable', async () => {
    const base = ['serve', '--port', '0', '--host', '127.0.0.1'];
    const [refused, unreachable, noPanel] = await Promise.all([
      cli([...base, '--db', join(dir.dir, 'refused.db'), '--panel', panel.url], {
        env: { OPENAI_API_KEY: 'panel:CRM_TOKEN', OPENAI_BASE_URL: llm.openaiUrl, IRON_CAGE_PANEL_TOKEN: token },
      }),
      cli([...base, '--db', join(dir.dir, 'unreachable.db'), '--panel', `http://127.0.0.1:${await deadPort()}`], {
        env: { OPENAI_API_KEY: 'panel:OPENAI_API_KEY', OPENAI_BASE_URL: llm.openaiUrl, IRON_CAGE_PANEL_TOKEN: token },
      }),
      cli([...base, '--db', join(dir.dir, 'no-panel.db')], { env: { OPENAI_API_KEY: 'panel:OPENAI_API_KEY' } }),
    ]);
    expect(noPanel.code, noPanel.stderr).toBe(2);
    expect(noPanel.stderr).toContain("panel:OPENAI_API_KEY: the config refers to a control panel's secrets but names no panel");
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/panel:CRM_TOKEN: the control panel .* refused them \(HTTP 403: CRM_TOKEN: not in the scope/);
    expect(unreachable.code, unreachable.stderr).toBe(1);
    expect(unreachable.stderr).toMatch(/^iron-cage: panel:OPENAI_API_KEY: the control panel http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/m);
    expect(unreachable.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it("puts the panel's key on the upstream call, swaps a rotation in within seconds, keeps it while the panel is away, and never writes it down", { timeout: 60_000 }, async () => {
    // --sandbox off: the test tells the agent to stop through a file outside its folder, which a sandboxed agent cannot see.
    runtime = launch(['start', AGENT, '--exit', '--sandbox', 'off', '--port', '0', '--host', '127.0.0.1', '--db', db, '--panel', panel.url], {
      OPENAI_API_KEY: 'panel:OPENAI_API_KEY',
      OPENAI_BASE_URL: llm.openaiUrl,
      IRON_CAGE_PANEL_TOKEN: token,
      FLEET_STOP_FILE: stopFile,
      FLEET_PAUSE_MS: '50',
    });
    await until(() => runtime!.out().includes('first call done'), 30_000);
    const auth = () => llm.requests.map((r) => r.headers.authorization);
    expect(auth()[0]).toBe(`Bearer ${FIRST}`);

    // Rotate on the panel: the running runtime's next calls carry the new key.
    const rotated = await panel.api(`/api/secrets/${keyId}`, { method: 'PUT', token: panel.admin, body: { value: SECOND } as never });
    expect(rotated.status).toBe(200);
    const at = Date.now();
    const from = llm.requests.length;
    await until(() => llm.since(from).some((r) => r.headers.authorization === `Bearer ${SECOND}`), 10_000);
    // Swapped in at the runtime's next look at the panel (every PANEL_SECRETS_POLL_MS), not at a
    // restart or an error: within two looks, a call every 50 ms and the upstream's answer aside.
    const tookMs = Date.now() - at;
    expect(tookMs).toBeLessThan(2 * PANEL_SECRETS_POLL_MS + 1_000);
    const after = llm.requests.findIndex((r) => r.headers.authorization === `Bearer ${SECOND}`);
    expect(
      auth()
        .slice(after)
        .every((a) => a === `Bearer ${SECOND}`),
    ).toBe(true);
    await until(() => /panel:OPENAI_API_KEY was rotated on the control panel/.test(runtime!.out()), 10_000);

    // The panel goes away: calls go on with the last value, said once.
    await panel.close();
    await until(() => /The control panel .* is unreachable/.test(runtime!.out()), 10_000);
    const during = llm.requests.length;
    await until(() => llm.requests.length >= during + 5, 10_000);
    expect(llm.since(during).every((r) => r.headers.authorization === `Bearer ${SECOND}`)).toBe(true);
    expect(runtime.out().match(/The control panel .* is unreachable/g)).toHaveLength(1);

    writeFileSync(stopFile, '');
    expect(await runtime.exited).toBe(0);
    // Neither value in the runtime's state (the file, its WAL) nor in anything it printed.
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      if (!existsSync(f)) continue;
      const bytes = readFileSync(f);
      expect(bytes.includes(FIRST), f).toBe(false);
      expect(bytes.includes(SECOND), f).toBe(false);
    }
    expect(runtime.out()).not.toContain(FIRST);
    expect(runtime.out()).not.toContain(SECOND);
  });
});
