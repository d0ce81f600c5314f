import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onSqlite, TokensStore } from '../../src/state/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import { apiAgentToken, claims, openWs, upgradeStatus } from './sess-helpers.js';
import { withTools } from '../tools/helpers.js';

// A security review found "an agent's JWT never expires": after its run ends (and after a restart of
// iron-cage) it still reached the tool proxy with the service's credentials, posted events and
// checkpoints and opened WebSockets. And "a revoked API token's open WebSocket stays open".
// Here a real python agent hands its token to the test, which uses it after the run.

// Writes its token to <dir>/token<attempt>; the first attempt crashes when CRASH_FIRST is set;
// then waits for <dir>/go and exits 0.
const AGENT = `import os, pathlib, sys, time
d = pathlib.Path(sys.argv[1])
n = os.environ["IRON_CAGE_RESTARTS"]
(d / ("token" + n + ".tmp")).write_text(os.environ["IRON_CAGE_TOKEN"])
os.replace(d / ("token" + n + ".tmp"), d / ("token" + n))
if n == "0" and os.environ.get("CRASH_FIRST"):
    sys.exit(3)
while not (d / "go").exists():
    time.sleep(0.02)
`;

let t: TestRuntime | undefined;
let upstream: FakeService | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
  await upstream?.close();
  upstream = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

async function withAgent(o: { env?: NodeJS.ProcessEnv; config?: object } = {}): Promise<TestRuntime> {
  tmp = tempDir();
  writeFileSync(join(tmp.dir, 'agent.py'), AGENT);
  upstream = await FakeService.start();
  return startTestRuntime({
    dir: tmp.dir,
    agent: { script: join(tmp.dir, 'agent.py'), args: [tmp.dir] },
    config: withTools({ echo: { url: upstream.url, headers: { 'X-Api-Key': 'service-secret' }, cache_ttl_s: 0 } }, o.config),
    env: o.env,
  });
}

const tokenOf = (attempt: number) => until(() => (existsSync(join(tmp!.dir, `token${attempt}`)) ? readFileSync(join(tmp!.dir, `token${attempt}`), 'utf8') : null));

/** What each surface an agent uses answers to `token` for agent `id`. */
async function surfaces(rt: TestRuntime, id: string, token: string) {
  const post = (path: string, body: object) => rt.api(path, { method: 'POST', token, body: JSON.stringify(body) });
  return {
    tools: (await rt.api('/tools/echo/orders?id=7', { token })).status,
    events: (await post(`/api/agents/${id}/events`, { message: 'still here' })).status,
    checkpoints: (await post(`/api/agents/${id}/checkpoints`, { state: { next: 1 } })).status,
    progress: (await post(`/api/agents/${id}/progress`, { done: 1 })).status,
    whoami: (await rt.api('/api/whoami', { token })).status,
    ws: await upgradeStatus(rt.rt.url, token),
  };
}

const ALL_OK = { tools: 200, events: 201, checkpoints: 201, progress: 200, whoami: 200, ws: 101 };
const ALL_REFUSED = { tools: 401, events: 401, checkpoints: 401, progress: 401, whoami: 401, ws: 401 };

describe("a supervised agent's token", () => {
  it('works while its run lives, then is refused everywhere and its open WebSocket closes with 4401', async () => {
    t = await withAgent();
    const id = t.rt.agentId!;
    const token = await tokenOf(0);
    const c = claims(token);
    expect(c.exp, 'an agent token carries an exp').toBeTypeOf('number');
    expect((c.exp as number) - (c.iat as number)).toBe(24 * 3600);

    expect(await surfaces(t, id, token)).toEqual(ALL_OK);
    const sock = await openWs(t.rt.url, token);
    await until(() => sock.frames.length > 0);
    const seen = upstream!.seen.length;

    writeFileSync(join(tmp!.dir, 'go'), '');
    expect(await t.rt.agentDone).toEqual({ status: 'completed', exitCode: 0 });
    expect(await sock.closed).toEqual({ code: 4401, reason: "this agent token's run has ended" });

    expect(await surfaces(t, id, token)).toEqual(ALL_REFUSED);
    const r = await t.api('/tools/echo/orders?id=7', { token });
    expect((await r.json()).error.message).toBe("this agent token's run has ended");
    // Nothing went out with the service's credentials once the run had ended.
    expect(upstream!.seen.length).toBe(seen);
    // The LLM gateway refuses it too.
    const llm = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(llm.status).toBe(401);
  }, 60_000);

  it("is replaced when the supervisor restarts the agent: the new one works, the crashed process's one does not", async () => {
    t = await withAgent({ env: { CRASH_FIRST: '1' } });
    const id = t.rt.agentId!;
    const first = await tokenOf(0);
    const second = await tokenOf(1);
    expect(second).not.toBe(first);
    await until(() => t!.rt.state.getAgent(id)?.status === 'running');
    expect(await surfaces(t, id, second)).toEqual(ALL_OK);
    expect(await surfaces(t, id, first)).toEqual(ALL_REFUSED);

    writeFileSync(join(tmp!.dir, 'go'), '');
    expect(await t.rt.agentDone).toEqual({ status: 'completed', exitCode: 0 });
    expect(await surfaces(t, id, second)).toEqual(ALL_REFUSED);
  }, 60_000);

  it('dies with its process: refused while the supervisor waits to restart the agent', async () => {
    // A long backoff holds the agent between its crash and its restart while we look.
    t = await withAgent({ env: { CRASH_FIRST: '1' }, config: { restart: { policy: 'on-failure', maxRestarts: 1, backoffMs: 600_000, maxBackoffMs: 600_000 } } });
    const id = t.rt.agentId!;
    const first = await tokenOf(0);
    await until(() => t!.rt.state.getAgent(id)?.status === 'restarting' || null);
    expect(await surfaces(t, id, first)).toEqual(ALL_REFUSED);
  }, 60_000);

  it('is refused by the next iron-cage process on the same database, and its exp follows agent_token_ttl_hours', async () => {
    t = await withAgent({ config: { agentTokenTtlHours: 2 } });
    const id = t.rt.agentId!;
    const token = await tokenOf(0);
    expect((claims(token).exp as number) - (claims(token).iat as number)).toBe(2 * 3600);
    expect(await surfaces(t, id, token)).toEqual(ALL_OK);
    // iron-cage goes away while the agent runs (its agent is stopped with it) and comes back.
    await t.rt.shutdown('test restart');
    const dir = tmp!.dir;
    t = await startTestRuntime({ dir, config: withTools({ echo: { url: upstream!.url } }) });
    expect(await surfaces(t, id, token)).toEqual(ALL_REFUSED);
    const r = await t.api('/api/whoami', { token });
    expect((await r.json()).error.message).toBe('this agent token belongs to a run of an earlier iron-cage process');
  }, 60_000);
});

describe('revoking a token closes its open WebSockets with 4401', () => {
  it('for an API token revoked through the API, and one revoked by `iron-cage token revoke` in another process', async () => {
    t = await startTestRuntime();
    const viaApi = await apiAgentToken(t, 'notebook');
    const viaCli = await apiAgentToken(t, 'script');
    const a = await openWs(t.rt.url, viaApi.token);
    const b = await openWs(t.rt.url, viaCli.token);
    expect((await t.api(`/api/tokens/${viaApi.id}`, { method: 'DELETE' })).status).toBe(200);
    expect(await a.closed).toEqual({ code: 4401, reason: 'this API token has been revoked' });

    // The command's own connection to the state file, as from another process: this runtime hears of it only by reading it.
    const cli = await cliInProcess(['token', 'revoke', 'script', '--db', join(t.dir, 'iron_state.db')]);
    expect(cli.stdout + cli.stderr).toContain('Revoked script');
    expect(await b.closed).toEqual({ code: 4401, reason: 'this API token has been revoked' });
    expect(await upgradeStatus(t.rt.url, viaCli.token)).toBe(401);
  }, 60_000);

  it('revokes one token by its id, never another named like that id: such a name is refused, and an older row named so is left alone', async () => {
    t = await startTestRuntime();
    const own = await apiAgentToken(t, 'notebook');
    const refused = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: own.id }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as any).error.message).toBe(`name: '${own.id}' has the form of a token id (tok_ and 12 hex digits): choose another name`);
    // Nor one iron-cage gives its own rows: revoked by name, it would end every dashboard session with it.
    for (const name of ['dashboard session', 'Login Link', 'runtime edge-1']) {
      const r = await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name }) });
      expect({ name, status: r.status, message: ((await r.json()) as any).error.message }).toEqual({
        name,
        status: 400,
        message: `name: '${name}' is a name iron-cage gives its own tokens (login link, dashboard session, runtime <id>): choose another name`,
      });
    }
    // A row an older iron-cage let be named so, as it is in the file.
    new TokensStore(onSqlite(t.rt.state)).add({
      id: 'tok_0123456789ab',
      name: own.id,
      role: 'viewer',
      agentId: null,
      hash: 'f'.repeat(64),
      createdAt: new Date().toISOString(),
      revokedAt: null,
      kind: 'api',
      expiresAt: null,
    });
    const revoked = (await (await t.api(`/api/tokens/${own.id}`, { method: 'DELETE' })).json()) as any;
    expect(JSON.stringify(revoked)).toContain(own.id);
    expect(JSON.stringify(revoked)).not.toContain('tok_0123456789ab');
    const listed = (await (await t.api('/api/tokens')).json()) as Array<{ id: string; revokedAt: string | null }>;
    expect(listed.find((x) => x.id === 'tok_0123456789ab')?.revokedAt).toBeNull();
    expect(listed.find((x) => x.id === own.id)?.revokedAt).not.toBeNull();
  }, 60_000);

  it("for a named user's login token when the user is removed, not when a token of the user's name is", async () => {
    t = await startTestRuntime();
    expect((await t.api('/api/users', { method: 'POST', body: JSON.stringify({ name: 'ann', role: 'viewer', password: 'correct horse battery' }) })).status).toBe(201);
    const login = await fetch(`${t.rt.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ann', password: 'correct horse battery' }) });
    const { token } = (await login.json()) as { token: string };
    const sock = await openWs(t.rt.url, token);
    // An API token named like the user, revoked by its name, leaves the user's login alone.
    expect((await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name: 'ann' }) })).status).toBe(201);
    const byName = (await (await t.api('/api/tokens/ann', { method: 'DELETE' })).json()) as Array<{ kind: string }>;
    expect(byName.map((r) => r.kind)).toEqual(['api']);
    expect((await fetch(`${t.rt.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await t.api('/api/users/ann', { method: 'DELETE' })).status).toBe(200);
    expect(await sock.closed).toEqual({ code: 4401, reason: 'this user has been removed' });
  }, 60_000);
});
