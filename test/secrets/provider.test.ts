import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import OpenAI from 'openai';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { startTestRuntime, tempDir } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';
import { withTools } from '../tools/helpers.js';

// `providers.openai.api_key: secret:OPENAI_API_KEY`: the gateway attaches the vault's value,
// read per call, so a PUT applies to the next upstream call; the key never reaches the agent.

const KEY = 'provider-test master key';
const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const { dir, cleanup } = tempDir();
const upstream = useFakeLlm();
afterAll(() => cleanup());

describe('a provider key kept in the vault', () => {
  it('is attached by the gateway, follows a rotation on the next call, and is audited', async () => {
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    expect((await setup.api('/api/secrets', { method: 'POST', ...json({ name: 'OPENAI_API_KEY', environment: 'production', value: 'sk-upstream-key-ONE-0001' }) })).status).toBe(201);
    await setup.stop();

    const gateway = upstream.gateway({ key: 'secret:OPENAI_API_KEY' });
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'production', gateway } });
    try {
      t.rt.state.registerAgent({ id: 'pk-00000001', name: 'caller', kind: 'external', script: null, args: [], limitMicros: null });
      const token = (await t.rt.tokens.issueRun({ name: 'pk-00000001', agentId: 'pk-00000001' })).token;
      const chat = () =>
        fetch(`${t.rt.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        });
      expect((await chat()).status).toBe(200);
      expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-upstream-key-ONE-0001');
      expect(t.log()).not.toMatch(/in plain text/);

      const id = (await (await t.api('/api/secrets?environment=production')).json()).secrets[0].id;
      expect((await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'sk-upstream-key-TWO-0002' }) })).status).toBe(200);
      expect((await chat()).status).toBe(200);
      expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-upstream-key-TWO-0002');
      const reads = sqliteOf(t.rt.state)
        .prepare("SELECT count(*) AS n FROM secret_audit_log WHERE operation = 'READ' AND requester = 'config' AND secret_name = 'OPENAI_API_KEY' AND success = 1")
        .get();
      expect(reads).toEqual({ n: 2 });
      expect(t.log()).not.toMatch(/sk-upstream-key/);
    } finally {
      await t.stop();
    }
  });

  it('rotated while a call streams: the stream finishes on the old key, the next call uses the new one', async () => {
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    const made = await setup.api('/api/secrets', { method: 'POST', ...json({ name: 'OPENAI_API_KEY', environment: 'staging', value: 'sk-stream-key-OLD-0003' }) });
    expect(made.status).toBe(201);
    const id = (await made.json()).id;
    await setup.stop();

    const gateway = upstream.gateway({ key: 'secret:OPENAI_API_KEY' });
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'staging', gateway } });
    try {
      t.rt.state.registerAgent({ id: 'ps-00000001', name: 'streamer', kind: 'external', script: null, args: [], limitMicros: null });
      const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: (await t.rt.tokens.issueRun({ name: 'ps-00000001', agentId: 'ps-00000001' })).token, maxRetries: 0 });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      upstream.answer({ text: 'one two three four', usage: { prompt_tokens: 5, completion_tokens: 4 }, hold: held });
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count' }] });
      const it = stream[Symbol.asyncIterator]();
      let text = '';
      // Read until the first words are in: the upstream now holds the rest back.
      while (!text.includes('one')) text += (await it.next()).value?.choices[0]?.delta?.content ?? '';
      const during = upstream.requests.length;
      expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-stream-key-OLD-0003');

      expect((await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'sk-stream-key-NEW-0004' }) })).status).toBe(200);
      release();
      for (let r = await it.next(); !r.done; r = await it.next()) text += r.value.choices[0]?.delta?.content ?? '';
      expect(text).toBe('one two three four');
      expect(upstream.requests).toHaveLength(during);
      const row = sqliteOf(t.rt.state).prepare("SELECT status, completion_tokens FROM llm_requests WHERE agent_id = 'ps-00000001'").get();
      expect(row).toEqual({ status: 'ok', completion_tokens: 4 });

      upstream.answer({ text: 'after', usage: { prompt_tokens: 5, completion_tokens: 1 } });
      const after = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] });
      expect(after.choices[0]!.message.content).toBe('after');
      expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-stream-key-NEW-0004');
    } finally {
      await t.stop();
    }
  });

  it('keeps a secret the config refers to (any name) and the gateway variables from agents', async () => {
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    for (const [name, value] of [
      ['OPENAI_PROD_KEY', 'sk-prod-REAL-provider-key-77'],
      ['OPENAI_BASE_URL', 'https://api.example.com/v1'],
      ['PLAIN_SECRET', 'plain-agent-secret-0099'],
    ]) {
      expect((await setup.api('/api/secrets', { method: 'POST', ...json({ name, environment: 'refs', value }) })).status).toBe(201);
    }
    await setup.stop();
    const gateway = upstream.gateway({ key: 'secret:OPENAI_PROD_KEY' });
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { environment: 'refs', gateway } });
    try {
      t.rt.state.registerAgent({ id: 'rf-00000001', name: 'run', kind: 'supervised', script: 'run.py', args: [], limitMicros: null, environment: 'refs' });
      const token = (await t.rt.tokens.issueRun({ name: 'run', agentId: 'rf-00000001' })).token;
      const r = await t.api('/api/agents/rf-00000001/secrets', { token });
      expect(r.status).toBe(200);
      expect((await r.json()).secrets).toEqual({ PLAIN_SECRET: 'plain-agent-secret-0099' });
    } finally {
      await t.stop();
    }
  });

  it('warns about a plain-text key and suggests moving it', async () => {
    const gateway = upstream.gateway({ key: 'sk-plain-text-key' });
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config: { gateway } });
    try {
      expect(t.log()).toContain('The openai key is in plain text (config or environment): move it into the vault with `printf %s "$KEY" | iron-cage secrets set OPENAI_API_KEY --env development`');
      expect(t.log()).not.toContain('sk-plain-text-key');
    } finally {
      await t.stop();
    }
  });

  it('fills ${secret:NAME} in tool headers per call, and refuses the call when the secret is missing', async () => {
    const tool = await FakeService.start();
    onTestFinished(() => tool.close());
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY } });
    expect((await setup.api('/api/secrets', { method: 'POST', ...json({ name: 'LINKEDIN_TOKEN', environment: 'production', value: 'li-header-token-AAA-111' }) })).status).toBe(201);
    await setup.stop();
    const config = withTools(
      { linkedin: { url: tool.url, headers: { Authorization: 'Bearer ${secret:LINKEDIN_TOKEN}' } }, crm: { url: tool.url, headers: { 'X-Key': '${secret:NOT_THERE}' } } },
      { environment: 'production' },
    );
    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config });
    try {
      t.rt.state.registerAgent({ id: 'tl-00000001', name: 'tool caller', kind: 'external', script: null, args: [], limitMicros: null });
      const token = (await t.rt.tokens.issueRun({ name: 'tl-00000001', agentId: 'tl-00000001' })).token;
      const call = (svc: string) => fetch(`${t.rt.url}/tools/${svc}/v2/me`, { headers: { authorization: `Bearer ${token}` } });
      expect((await call('linkedin')).status).toBe(200);
      expect(tool.seen.at(-1)!.headers.authorization).toBe('Bearer li-header-token-AAA-111');
      const id = (await (await t.api('/api/secrets?environment=production')).json()).secrets.find((s: any) => s.name === 'LINKEDIN_TOKEN').id;
      await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: 'li-header-token-BBB-222' }) });
      expect((await call('linkedin')).status).toBe(200);
      expect(tool.seen.at(-1)!.headers.authorization).toBe('Bearer li-header-token-BBB-222');
      const seen = tool.seen.length;
      const r = await call('crm');
      expect(r.status).toBe(503);
      expect((await r.json()).error).toEqual({ code: 'secret_unavailable', message: expect.stringContaining('tools.crm.headers.X-Key needs secret:NOT_THERE') });
      expect(tool.seen.length).toBe(seen);
      expect(t.log()).toContain('The config refers to secret:NOT_THERE, which is not available in environment production');
      expect(t.log()).not.toMatch(/li-header-token/);
    } finally {
      await t.stop();
      await tool.close();
    }
  });
});
