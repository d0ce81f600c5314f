import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { chooseSandbox } from '../../src/sandbox/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { ROOT, startTestRuntime, tempDir, until, WsProbe } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The vault and a real python3 agent: secrets injected at spawn (only the run's environment,
// never the master key, never the provider key), SIGUSR1 and a fresh fetch after a rotation,
// and afterwards no value and no master key anywhere on disk, in the log or on the WebSocket.

const KEY = 'agent-test master key 8c1f2e';
const LINKEDIN = 'li-token-ORIGINAL-6f0c9d1a2b3e4f5a';
const LINKEDIN_NEW = 'li-token-ROTATED-9a8b7c6d5e4f3a2b';
const DEV_ONLY = 'dev-only-value-0a1b2c3d4e5f';
const PROVIDER = 'sk-real-provider-key-77aa88bb99cc';
const sha = (v: string) => createHash('sha256').update(v).digest('hex');
const SCRIPT = join(ROOT, 'test/fixtures/agents/secrets_agent.py');
const NAMES = 'LINKEDIN_TOKEN,DEV_ONLY,OPENAI_API_KEY';
const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

const { dir, cleanup } = tempDir();
afterAll(() => cleanup());

/** The CLI in a child process, asynchronously: the server it talks to runs in this process. */
function cli(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), ...args], { env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
    c.stdin.end(input);
  });
}

function grepFiles(needles: string[]): string[] {
  const hits: string[] = [];
  for (const f of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, f));
    for (const n of needles) if (bytes.includes(Buffer.from(n))) hits.push(`${f} holds ${n.slice(0, 8)}…`);
  }
  return hits;
}

describe('secrets and a running python agent', () => {
  it('injects the environment, signals a rotation, and leaks nothing', async () => {
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    for (const [name, value, environment] of [
      ['LINKEDIN_TOKEN', LINKEDIN, 'production'],
      ['DEV_ONLY', DEV_ONLY, 'development'],
      ['OPENAI_API_KEY', PROVIDER, 'production'],
    ]) {
      expect((await setup.api('/api/secrets', { method: 'POST', ...json({ name, value, environment }) })).status).toBe(201);
    }
    await setup.stop();

    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES] } });
    const ws = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    try {
      await until(() => t.log().includes('secrets agent ready'));
      const agentId = t.rt.agentId!;
      expect(t.log()).toContain(`start LINKEDIN_TOKEN sha256=${sha(LINKEDIN)}`);
      expect(t.log()).toContain('start DEV_ONLY sha256=absent');
      expect(t.log()).toContain('master key visible: False');
      // The provider key stays in the gateway: the agent's OPENAI_API_KEY is its own token.
      expect(t.log()).toContain('openai key is own token: True');
      expect(t.log()).not.toContain(sha(PROVIDER));
      expect(t.rt.state.getAgent(agentId)?.environment).toBe('production');
      const audit = sqliteOf(t.rt.state).prepare("SELECT secret_name, agent_id FROM secret_audit_log WHERE operation = 'INJECT' ORDER BY secret_name").all();
      // Only what reached the agent is audited as injected: the provider key did not.
      expect(audit).toEqual([{ secret_name: 'LINKEDIN_TOKEN', agent_id: agentId }]);
      const pid = t.rt.state.getAgent(agentId)!.pid;

      // Rotate: the agent gets SIGUSR1, fetches its secrets with its token, sees the new value.
      const { secrets } = await (await t.api('/api/secrets?environment=production')).json();
      const id = secrets.find((s: any) => s.name === 'LINKEDIN_TOKEN').id;
      expect((await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: LINKEDIN_NEW }) })).status).toBe(200);
      await until(() => t.log().includes(`rotated LINKEDIN_TOKEN sha256=${sha(LINKEDIN_NEW)} env=production`));
      // Its own fetch with its token does not hand it the provider key either.
      expect(t.log()).toContain('rotated OPENAI_API_KEY sha256=absent env=production');
      expect(t.rt.state.getAgent(agentId)).toMatchObject({ status: 'running', pid });
      const rotated = t.rt.state.lastEvents(200).filter((e) => e.type === 'secret.rotated');
      expect(rotated).toMatchObject([{ data: { name: 'LINKEDIN_TOKEN', environment: 'production', agentIds: [agentId] } }]);
      expect(sqliteOf(t.rt.state).prepare("SELECT secret_name, agent_id FROM secret_audit_log WHERE operation = 'ROTATE'").all()).toEqual([{ secret_name: 'LINKEDIN_TOKEN', agent_id: agentId }]);
      expect(sqliteOf(t.rt.state).prepare("SELECT count(*) AS n FROM secret_audit_log WHERE operation = 'READ' AND agent_id = ? AND requester_role = 'agent'").get(agentId)).toEqual({ n: 1 });
      // A change in another environment does not disturb it.
      const dev = (await (await t.api('/api/secrets?environment=development')).json()).secrets[0];
      await t.api(`/api/secrets/${dev.id}`, { method: 'PUT', ...json({ value: `${DEV_ONLY}-2` }) });
      expect(t.rt.state.lastEvents(200).filter((e) => e.type === 'secret.rotated')).toHaveLength(1);

      // No value in argv of any process.
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      for (const v of [LINKEDIN, LINKEDIN_NEW, PROVIDER, KEY]) expect(ps).not.toContain(v);
      expect(grepFiles([LINKEDIN, LINKEDIN_NEW, DEV_ONLY, PROVIDER, KEY])).toEqual([]);
    } finally {
      await ws.close();
      await t.stop();
    }
    const stream = JSON.stringify(ws.messages);
    const log = t.log();
    for (const v of [LINKEDIN, LINKEDIN_NEW, DEV_ONLY, PROVIDER, KEY]) {
      expect(stream).not.toContain(v);
      expect(log).not.toContain(v);
    }
    // The stream did carry the vault's events (names only).
    expect(stream).toContain('secret.rotated');
    expect(stream).toContain('LINKEDIN_TOKEN');
    expect(grepFiles([LINKEDIN, LINKEDIN_NEW, DEV_ONLY, PROVIDER, KEY])).toEqual([]);
  });

  it.skipIf(!chooseSandbox({ sandbox: SANDBOX_DEFAULTS, port: 0 }).on)(
    'does the same for a sandboxed agent: SIGUSR1 reaches it in its sandbox, and it fetches the new value through the cage',
    async () => {
      const sandbox = chooseSandbox({ sandbox: SANDBOX_DEFAULTS, port: 0 });
      const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES] }, sandbox });
      try {
        await until(() => t.log().includes('secrets agent ready'));
        const agentId = t.rt.agentId!;
        expect(t.rt.state.getAgent(agentId)?.sandbox).toMatchObject({ sandboxed: true });
        expect(t.log()).toContain('master key visible: False');
        const pid = t.rt.state.getAgent(agentId)!.pid;
        const { secrets } = await (await t.api('/api/secrets?environment=production')).json();
        const id = secrets.find((s: any) => s.name === 'LINKEDIN_TOKEN').id;
        expect((await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: `${LINKEDIN}-sandboxed` }) })).status).toBe(200);
        await until(() => t.log().includes(`rotated LINKEDIN_TOKEN sha256=${sha(`${LINKEDIN}-sandboxed`)} env=production`));
        expect(t.rt.state.getAgent(agentId)).toMatchObject({ status: 'running', pid });
      } finally {
        await t.stop();
      }
    },
  );

  it('starts the agent without its secrets, and says so, when the vault is locked', async () => {
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: '' }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES] } });
    try {
      await until(() => t.log().includes('secrets agent ready'));
      expect(t.log()).toMatch(/Secrets vault is locked: agent \S+ starts without the 2 secret\(s\) of environment production/);
      expect(t.log()).toContain('start LINKEDIN_TOKEN sha256=absent');
    } finally {
      await t.stop();
    }
  });

  it('starts the agent without a tampered secret, warns, and audits the failed injection', async () => {
    const db = new Database(join(dir, 'iron_state.db'));
    db.prepare("UPDATE secrets SET nonce = randomblob(12) WHERE name = 'LINKEDIN_TOKEN' AND deleted_at IS NULL").run();
    db.close();
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES] } });
    try {
      await until(() => t.log().includes('secrets agent ready'));
      expect(t.log()).toMatch(/starts without LINKEDIN_TOKEN: failed the integrity check/);
      expect(t.log()).toContain('start LINKEDIN_TOKEN sha256=absent');
      expect(sqliteOf(t.rt.state).prepare("SELECT success, error_message FROM secret_audit_log WHERE operation = 'INJECT' AND secret_name = 'LINKEDIN_TOKEN' ORDER BY id DESC LIMIT 1").get()).toEqual({
        success: 0,
        error_message: expect.stringContaining('integrity check'),
      });
    } finally {
      await t.stop();
    }
  });

  it('hands the provider key to the agent only with secrets.expose_provider_keys, and warns', async () => {
    const t = await startTestRuntime({
      dir,
      env: { IRON_CAGE_MASTER_KEY: KEY },
      config: { environment: 'production', secrets: { exposeProviderKeys: true, restartOnRotation: false } },
      agent: { script: SCRIPT, args: [NAMES] },
    });
    try {
      await until(() => t.log().includes('secrets agent ready'));
      expect(t.log()).toContain('secrets.expose_provider_keys is on');
      expect(t.log()).toContain(`start OPENAI_API_KEY sha256=${sha(PROVIDER)}`);
      expect(t.log()).toContain('openai key is own token: False');
    } finally {
      await t.stop();
    }
  });

  it('sends a rotation made with the CLI through the running server to the agent', async () => {
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES] } });
    try {
      await until(() => t.log().includes('secrets agent ready'));
      const NEWEST = 'li-token-FROM-CLI-1234567890ab';
      // The CLI has no master key: the server does the work, so the agent hears of it.
      const env = { ...process.env, IRON_CAGE_MASTER_KEY: '' };
      const r = await cli(['secrets', 'rotate', 'LINKEDIN_TOKEN', '--env', 'production', '--db', join(dir, 'iron_state.db'), '--url', t.rt.url], NEWEST, env);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Updated LINKEDIN_TOKEN in production \(secret-[0-9a-f]{16}\): li-t\.\.\.0ab \(through http/);
      await until(() => t.log().includes(`rotated LINKEDIN_TOKEN sha256=${sha(NEWEST)} env=production`));
      // That one as a process of its own, the others in-process (cliInProcess: the same program, no cold start of Node for each).
      const here = (args: string[], input: string, key: string) => cliInProcess(args, { input, env: { IRON_CAGE_MASTER_KEY: key } });
      const miss = await here(['secrets', 'rotate', 'NOPE', '--env', 'production', '--db', join(dir, 'iron_state.db'), '--url', t.rt.url], 'x', '');
      expect(miss.code).toBe(2);
      expect(miss.stderr).toBe('iron-cage: no secret NOPE in environment production\n');

      // Reading works the same way without a master key: list masked, get (audited), audit.
      const via = (...args: string[]) => here(['secrets', ...args, '--db', join(dir, 'iron_state.db'), '--url', t.rt.url], '', '');
      const list = await via('list', '--env', 'production');
      expect(list.stderr).toBe('');
      expect(list.stdout).toMatch(/^LINKEDIN_TOKEN\s+production\s+li-t\.\.\.0ab\s+updated /m);
      expect(list.stdout).not.toContain(NEWEST);
      expect((await via('get', 'LINKEDIN_TOKEN', '--env', 'production')).stdout).toBe(`${NEWEST}\n`);
      const audit = (await via('audit', 'LINKEDIN_TOKEN')).stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[1]);
      expect(audit[0]).toBe('CREATE');
      expect(audit.at(-1)).toBe('REVEAL');
      // Re-encrypting under a running server would leave it holding the old key: refused.
      const rekey = await here(['secrets', 'rekey', '--db', join(dir, 'iron_state.db'), '--url', t.rt.url], 'a new master key', KEY);
      expect(rekey.code).toBe(2);
      expect(rekey.stderr).toMatch(/^iron-cage: secrets rekey: stop the iron-cage serving .* first/);
    } finally {
      await t.stop();
    }
  });

  it('warns about, or with secrets.restart_on_rotation restarts, an agent with no SIGUSR1 handler', async () => {
    const ours = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production' }, agent: { script: SCRIPT, args: [NAMES, 'no-handler'] } });
    try {
      await until(() => ours.log().includes('secrets agent ready'));
      const id = (await (await ours.api('/api/secrets?environment=production')).json()).secrets.find((s: any) => s.name === 'LINKEDIN_TOKEN').id;
      await ours.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'li-token-UNHANDLED-000111222' }) });
      expect(ours.log()).toMatch(/has no SIGUSR1 handler \(iron_cage SDK\) and keeps the old value until it restarts/);
      // Not signalled, so not killed.
      expect(ours.rt.state.getAgent(ours.rt.agentId!)?.status).toBe('running');
    } finally {
      await ours.stop();
    }
    const config = { environment: 'production', secrets: { exposeProviderKeys: false, restartOnRotation: true } };
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config, agent: { script: SCRIPT, args: [NAMES, 'no-handler'] } });
    try {
      await until(() => t.log().includes('secrets agent ready'));
      const id = (await (await t.api('/api/secrets?environment=production')).json()).secrets.find((s: any) => s.name === 'LINKEDIN_TOKEN').id;
      const NEXT = 'li-token-AFTER-RESTART-333444';
      await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: NEXT }) });
      await until(() => t.log().includes(`start LINKEDIN_TOKEN sha256=${sha(NEXT)}`));
      expect(t.rt.state.getAgent(t.rt.agentId!)).toMatchObject({ status: 'running', restarts: 1 });
      expect(t.log()).toMatch(/Agent restarting \(secret LINKEDIN_TOKEN rotated\)/);
    } finally {
      await t.stop();
    }
  });
});
