import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, ROOT, startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const gateway = () => upstream.gateway({ timeoutMs: 2000 });

/** Every byte iron-cage wrote to disk for this run: the database, its WAL, everything. */
function diskBytes(dir: string): string {
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
}

describe('PII in LLM output, through the gateway with the official openai client', () => {
  it('redacts, audits with a keyed hash and a sealed copy, counts, and leaks the value nowhere', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agentToken(t);
    const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
    upstream.answer({ text: 'Contact the CEO at ceo@acme.com', usage: { prompt_tokens: 5, completion_tokens: 8 } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'who do I call?' }] });
    expect(r.choices[0]!.message.content).toBe('Contact the CEO at [EMAIL_REDACTED]');

    const ev = await probe.waitForEvent((e) => e.type === 'pii.detected');
    expect(ev.data).toMatchObject({ location: 'llm.output', action: 'redacted', types: { EMAIL: 1 }, severity: 'CRITICAL', preview: 'Contact the CEO at [EMAIL_REDACTED]' });
    expect(ev.data.counters.piiLeaksBlocked).toBe(1);
    const protection = await (await t.api(`/api/agents/${a.agentId}/protection`)).json();
    expect(protection).toMatchObject({ piiLeaksBlocked: 1, piiLeaksBlockedByType: { EMAIL: 1 }, unauthorizedActions: 0, promptInjectionAttempts: 0 });
    // What is measured says so: prompt injection is watched in the tool results the agent sends (safety.injection: detect).
    expect(protection.monitored).toEqual({ pii: true, unauthorizedActions: true, promptInjection: true });
    expect(protection.latest).toEqual({ ts: ev.ts, preview: 'Contact the CEO at [EMAIL_REDACTED]', types: { EMAIL: 1 }, location: 'llm.output' });
    expect(JSON.stringify(protection)).not.toContain('ceo@acme.com');

    const audit = await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json();
    expect(audit.records).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({ type: 'EMAIL', risk: 'HIGH', severity: 'CRITICAL', action: 'redacted', location: 'llm.output', sealed: true, start: 19, end: 31 });
    expect(audit.records[0].valueHmac).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(audit)).not.toContain('ceo@acme.com');
    const viewer = await t.rt.tokens.issue({ role: 'viewer', name: 'v' });
    expect((await t.api('/api/audit/pii', { token: viewer })).status).toBe(403);
    const row = sqliteOf(t.rt.state).prepare('SELECT value_sealed, value_hmac FROM pii_audit').get() as { value_sealed: string; value_hmac: string };
    expect(row.value_sealed).toMatch(/^v1\./);
    expect(() => sqliteOf(t!.rt.state).prepare('DELETE FROM pii_audit').run()).toThrow(/append-only/);

    await probe.close();
    const dir = t.dir;
    const log = t.log();
    await t.rt.shutdown('test done'); // flushed and closed; the files stay until t.stop()
    expect(log).toContain('[EMAIL_REDACTED]');
    expect(log).not.toContain('ceo@acme.com');
    expect(JSON.stringify(probe.messages)).not.toContain('ceo@acme.com');
    expect(diskBytes(dir)).not.toContain('ceo@acme.com');
  });

  it('catches a value split across SSE chunks', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agentToken(t);
    upstream.answer({ text: 'Card 4111 1111 1111 1111 and mail jane.doe@corp.example now', usage: { prompt_tokens: 5, completion_tokens: 20 }, pieceChars: 3 });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    let chunks = 0;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      chunks++;
    }
    expect(chunks).toBeGreaterThan(10);
    expect(text).toBe('Card [CREDIT_CARD_REDACTED] and mail [EMAIL_REDACTED] now');
    const audit = await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json();
    expect(audit.records.map((r: any) => r.type).sort()).toEqual(['CREDIT_CARD', 'EMAIL']);
    const req = sqliteOf(t.rt.state).prepare('SELECT redactions FROM llm_requests').get() as { redactions: number };
    expect(req.redactions).toBe(2);

    // A streamed finding has no preview (the text is never whole in one place): the panel shows
    // the newest finding that has one, and the newest at all only while none has.
    const latest = async () => (await (await t!.api(`/api/agents/${a.agentId}/protection`)).json()).latest;
    expect(await latest()).toMatchObject({ preview: '', location: 'llm.output' });
    upstream.answer({ text: 'Reach ops@corp.example today', usage: { prompt_tokens: 5, completion_tokens: 8 } });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    await until(async () => (await latest()).preview !== '');
    expect(await latest()).toMatchObject({ preview: 'Reach [EMAIL_REDACTED] today', types: { EMAIL: 1 } });
    upstream.answer({ text: 'Card 4111 1111 1111 1111 again', usage: { prompt_tokens: 5, completion_tokens: 20 }, pieceChars: 3 });
    for await (const _ of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'y' }] }));
    await until(async () => (await (await t!.api(`/api/agents/${a.agentId}/protection`)).json()).piiLeaksBlocked === 4);
    expect(await latest()).toMatchObject({ preview: 'Reach [EMAIL_REDACTED] today', types: { EMAIL: 1 } });
  });

  it('keeps the order of streamed text when the last piece arrives together with finish_reason', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agentToken(t);
    upstream.answer({ text: 'Hello there, my dear friend. Bye now', usage: { prompt_tokens: 5, completion_tokens: 9 }, finishWithLastPiece: true, pieceChars: 15 });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe('Hello there, my dear friend. Bye now');
  });

  it('warn mode passes the value through but counts it', async () => {
    t = await startTestRuntime({ config: { safetyMode: 'warn', gateway: gateway() } });
    const a = await agentToken(t);
    upstream.answer({ text: 'Call 555-123-4567', usage: { prompt_tokens: 5, completion_tokens: 8 } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0]!.message.content).toBe('Call 555-123-4567');
    const p = await (await t.api(`/api/agents/${a.agentId}/protection`)).json();
    expect(p).toMatchObject({ piiWarned: 1, piiLeaksBlocked: 0 });
    const { events } = await (await t.api(`/api/events?agentId=${a.agentId}`)).json();
    const ev = events.find((e: any) => e.type === 'pii.detected');
    expect(ev.data).toMatchObject({ action: 'warned', severity: 'WARN', preview: 'Call [PHONE_REDACTED]' });
    expect(JSON.stringify(events)).not.toContain('555-123-4567');
  });

  it('block mode refuses the call in the provider shape and halts the agent', async () => {
    t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/pii_agent.py') },
      config: { safetyMode: 'block', gateway: gateway() },
    });
    upstream.answer({ text: 'Contact ceo@acme.com', usage: { prompt_tokens: 5, completion_tokens: 8 } });
    const outcome = await t.rt.agentDone!;
    expect(outcome.status).toBe('stopped');
    expect(t.log()).not.toContain('ceo@acme.com');
    // What a caller gets: the provider's error shape, and the SDK raises its usual exception.
    const a = await agentToken(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.code).toBe('pii_blocked');
    expect(err.message).toMatch(/blocked this response: it contained PII \(EMAIL\)/);
    expect(err.message).not.toContain('ceo@acme.com');
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    expect(events.find((e: any) => e.type === 'pii.detected').data.action).toBe('blocked');
    expect(events.some((e: any) => e.type === 'agent.stopping' && /PII/.test(e.message))).toBe(true);
  });

  it("redacts the agent's own stdout before it reaches the terminal, the events and the database", async () => {
    t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/pii_agent.py') }, env: { PII_AGENT_PRINT_ONLY: '1' } });
    await t.rt.agentDone;
    await until(() => t!.log().includes('PII redacted in agent output'));
    expect(t.log()).toContain('my SSN is [SSN_REDACTED]');
    expect(t.log()).not.toContain('123-45-6789');
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    expect(JSON.stringify(events)).not.toContain('123-45-6789');
    expect(events.some((e: any) => e.type === 'pii.detected' && e.data.location === 'agent.output')).toBe(true);
  });

  it("under the block policy, PII in the agent's own output is redacted but does not halt it", async () => {
    t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/pii_agent.py') }, env: { PII_AGENT_PRINT_ONLY: '1' }, config: { safetyMode: 'block' } });
    expect(await t.rt.agentDone).toEqual({ status: 'completed', exitCode: 0 });
    expect(t.log()).toContain('my SSN is [SSN_REDACTED]');
    expect(t.log()).not.toContain('123-45-6789');
  });

  it('protects prompts too when configured', async () => {
    t = await startTestRuntime({ config: { gateway: gateway(), safety: { ...DEFAULTS.safety, redactPrompts: true } } });
    const a = await agentToken(t);
    upstream.answer({ text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 1 } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Email jane@corp.example about it' }] });
    expect(upstream.requests.at(-1)!.body.messages[0].content).toBe('Email [EMAIL_REDACTED] about it');
  });
});
