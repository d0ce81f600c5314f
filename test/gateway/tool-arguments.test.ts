import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// PII in the arguments of the tool calls the LLM asks for, through the official SDKs. The
// simulated provider fills a tool's `to` (format email) from the e-mail address in the prompt and
// streams the arguments cut at every word boundary: "bob", "@", "example", ".", "org". Its
// `subject` repeats the prompt, so the address is in the arguments twice: two findings.

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function agent(rt: TestRuntime) {
  const r = await rt.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: `ta${Math.random().toString(36).slice(2, 7)}`, budgetUsd: 5 }) });
  return (await r.json()) as { token: string; agentId: string };
}

const start = (config: Partial<Config> = {}) => startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway }, ...config } });
const withLocations = (locations: Config['safety']['locations']): Partial<Config> => ({ safety: { ...DEFAULTS.safety, locations } });

const PROMPT = 'Use send_email to write to bob@example.org about the overdue invoice';
const PARAMS = {
  type: 'object' as const,
  properties: { to: { type: 'string', format: 'email', description: 'recipient address' }, subject: { type: 'string' } },
  required: ['to', 'subject'],
};
const OPENAI_TOOLS: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'send_email', description: 'Send an e-mail', parameters: PARAMS } }];
const ANTHROPIC_TOOLS: Anthropic.Tool[] = [{ name: 'send_email', description: 'Send an e-mail', input_schema: PARAMS }];

const audit = async (rt: TestRuntime, agentId: string) => (await (await rt.api(`/api/audit/pii?agentId=${agentId}`)).json()).records as any[];
const protection = async (rt: TestRuntime, agentId: string) => (await rt.api(`/api/agents/${agentId}/protection`)).json();

/** What the two tool-argument findings must leave behind: audit rows, counted leaks, the value nowhere. */
async function expectAudited(rt: TestRuntime, agentId: string, action = 'redacted') {
  const rows = await audit(rt, agentId);
  const row = ['llm.tool_arguments', 'EMAIL', action];
  expect(rows.map((r) => [r.location, r.type, r.action])).toEqual([row, row]);
  const p = await protection(rt, agentId);
  if (action === 'warned') expect(p).toMatchObject({ piiWarned: 2, piiLeaksBlocked: 0 });
  else expect(p).toMatchObject({ piiLeaksBlocked: 2, piiLeaksBlockedByType: { EMAIL: 2 } });
  const { events } = await (await rt.api(`/api/events?agentId=${agentId}&limit=1000`)).json();
  const found = events.filter((e: any) => e.type === 'pii.detected');
  expect(found.length).toBeGreaterThan(0);
  expect(found.every((e: any) => e.data.location === 'llm.tool_arguments')).toBe(true);
  expect(JSON.stringify(events) + JSON.stringify(rows)).not.toContain('bob@example.org');
}

async function openaiStreamedArgs(client: OpenAI) {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, tools: OPENAI_TOOLS, tool_choice: 'required', messages: [{ role: 'user', content: PROMPT }] });
  let args = '';
  let pieces = 0;
  for await (const ch of stream) {
    const a = ch.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments;
    if (a) {
      args += a;
      pieces++;
    }
  }
  return { args, pieces };
}

describe('tool-call arguments: OpenAI chat completions', () => {
  it('streamed argument deltas holding an e-mail: valid JSON with the e-mail redacted, audited and counted', async () => {
    t = await start();
    const a = await agent(t);
    const { args, pieces } = await openaiStreamedArgs(new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token }));
    expect(pieces).toBeGreaterThan(3); // the arguments really came in pieces
    const parsed = JSON.parse(args);
    expect(parsed).toEqual({ to: '[EMAIL_REDACTED]', subject: 'Use send_email to write to [EMAIL_REDACTED] about the overdue invoice' });
    expect(args).not.toContain('bob@example.org');
    await expectAudited(t, a.agentId);
  });

  it('a whole answer: message.tool_calls[].function.arguments is redacted and still JSON', async () => {
    t = await start();
    const a = await agent(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: OPENAI_TOOLS, tool_choice: 'required', messages: [{ role: 'user', content: PROMPT }] });
    const call = r.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(JSON.parse(call.function.arguments).to).toBe('[EMAIL_REDACTED]');
    await expectAudited(t, a.agentId);
  });

  it('locations.tool_arguments off: arguments pass unscanned while answer text is still redacted', async () => {
    t = await start(withLocations({ tool_arguments: 'off' }));
    const a = await agent(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const { args } = await openaiStreamedArgs(client);
    expect(JSON.parse(args).to).toBe('bob@example.org');
    expect(await audit(t, a.agentId)).toEqual([]);
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: mail bob@example.org' }] });
    expect(r.choices[0]!.message.content).toContain('[EMAIL_REDACTED]');
  });

  it('locations.tool_arguments warn: arguments untouched, the finding counted as warned', async () => {
    t = await start(withLocations({ tool_arguments: 'warn' }));
    const a = await agent(t);
    const { args } = await openaiStreamedArgs(new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token }));
    expect(JSON.parse(args).to).toBe('bob@example.org');
    await expectAudited(t, a.agentId, 'warned');
  });

  it('locations.tool_arguments block (answers on redact): the call is refused, streamed or whole', async () => {
    t = await start({ ...withLocations({ tool_arguments: 'block' }), safety: { ...DEFAULTS.safety, locations: { tool_arguments: 'block' }, onBlock: 'refuse' } });
    const a = await agent(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: OPENAI_TOOLS, tool_choice: 'required', messages: [{ role: 'user', content: PROMPT }] }).catch((e) => e);
    expect(whole).toBeInstanceOf(OpenAI.BadRequestError);
    expect(whole.code).toBe('pii_blocked');
    const streamed = await openaiStreamedArgs(client).catch((e) => e);
    expect(streamed).toBeInstanceOf(OpenAI.APIError);
    expect(String(streamed.message)).toMatch(/blocked this response: it contained PII \(EMAIL\)/);
    expect((await audit(t, a.agentId)).every((r) => r.action === 'blocked' && r.location === 'llm.tool_arguments')).toBe(true);
    // The answer text is still under safety_mode (redact), not the arguments' block.
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: mail bob@example.org' }] });
    expect(r.choices[0]!.message.content).toContain('[EMAIL_REDACTED]');
  });
});

describe('tool-call arguments: Anthropic messages', () => {
  it('streamed input_json_delta: the SDK assembles valid input with the e-mail redacted; audited and counted', async () => {
    t = await start();
    const a = await agent(t);
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 500, tools: ANTHROPIC_TOOLS, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: PROMPT }] });
    let partial = '';
    stream.on('inputJson', (delta) => (partial += delta));
    const msg = await stream.finalMessage();
    const use = msg.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
    expect((use.input as any).to).toBe('[EMAIL_REDACTED]');
    expect(JSON.parse(partial)).toEqual(use.input);
    await expectAudited(t, a.agentId);
  });

  it('a whole tool_use block: string values inside input are redacted', async () => {
    t = await start();
    const a = await agent(t);
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const msg = await client.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 500,
      tools: ANTHROPIC_TOOLS,
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: PROMPT }],
    });
    const use = msg.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
    expect((use.input as any).to).toBe('[EMAIL_REDACTED]');
    await expectAudited(t, a.agentId);
  });
});

describe('tool-call arguments: OpenAI Responses API', () => {
  it('argument deltas, .done, output_item.done and response.completed all carry the redacted arguments', async () => {
    t = await start();
    const a = await agent(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const stream = await client.responses.create({
      model: 'gpt-4o-mini',
      stream: true,
      tools: [{ type: 'function', name: 'send_email', description: 'Send an e-mail', parameters: PARAMS as any, strict: false }],
      tool_choice: 'required',
      input: PROMPT,
    });
    let deltas = '';
    const finals: string[] = [];
    for await (const ev of stream) {
      if (ev.type === 'response.function_call_arguments.delta') deltas += ev.delta;
      if (ev.type === 'response.function_call_arguments.done') finals.push(ev.arguments);
      if (ev.type === 'response.output_item.done' && ev.item.type === 'function_call') finals.push(ev.item.arguments);
      if (ev.type === 'response.completed') for (const it of ev.response.output) if (it.type === 'function_call') finals.push(it.arguments);
    }
    expect(JSON.parse(deltas).to).toBe('[EMAIL_REDACTED]');
    expect(finals).toEqual([deltas, deltas, deltas]);
    await expectAudited(t, a.agentId);
  });

  it('a whole response: function_call arguments are redacted', async () => {
    t = await start();
    const a = await agent(t);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.responses.create({
      model: 'gpt-4o-mini',
      tools: [{ type: 'function', name: 'send_email', parameters: PARAMS as any, strict: false }],
      tool_choice: 'required',
      input: PROMPT,
    });
    const call = r.output.find((it) => it.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(JSON.parse(call.arguments).to).toBe('[EMAIL_REDACTED]');
    await expectAudited(t, a.agentId);
  });
});
