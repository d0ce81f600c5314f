// The simulated provider's scripted mode (a script drives a coding agent's longer tasks) through the official SDKs against a
// real runtime: a coding task of the script (read a file, write one, run a command, then say it
// is done) on chat completions, the Responses API and Anthropic messages, whole and streamed,
// each call metered and priced like any other; side calls between the turns neither disturb the
// script nor are answered from it; a custom tool (Codex's apply_patch) called with its input; a
// malformed script refused at start with exit code 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { FIXTURES, ROOT, agentToken, startTestRuntime, tempDir, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';
import { cliInProcess } from '../helpers/cli.js';

const { dir, cleanup } = tempDir('iron-cage-sim-script-');
let t: TestRuntime;

beforeAll(async () => {
  copyFileSync(join(FIXTURES, 'sim-script.yaml'), join(dir, 'tasks.yaml'));
  writeFileSync(join(dir, 'iron-cage.yaml'), 'providers:\n  simulated:\n    script: tasks.yaml\n');
  // Loaded as `iron-cage serve --config` loads it, from another working folder: the path is the config file's.
  const config = loadConfig({ configPath: join(dir, 'iron-cage.yaml'), env: {}, cwd: ROOT });
  t = await startTestRuntime({ config: { gateway: config.gateway } });
});
afterAll(async () => {
  await t?.stop();
  cleanup();
});

const ASK = 'Summarize notes.txt into summary.txt, then count its lines.';
const RESULTS: Record<string, string> = { read_file: 'buy milk\ncall Ada\nship the release', write_file: 'wrote 52 bytes', run_command: '1 summary.txt' };
const SCRIPTED = {
  first: 'I will read the notes first.',
  calls: [
    { name: 'read_file', args: { path: 'notes.txt' } },
    { name: 'write_file', args: { path: 'summary.txt', content: 'Three notes: buy milk, call Ada, ship the release.\n' } },
    { name: 'run_command', args: { command: ['wc', '-l', 'summary.txt'] } },
  ],
  final: 'Done. summary.txt holds the summary of notes.txt (1 line).',
};
const PARAMS = { type: 'object', properties: {}, additionalProperties: true } as const;
const NAMES = ['read_file', 'write_file', 'run_command'];

/** What a run of the task saw: the model's first words, its calls, its last answer, each call's usage. */
interface Transcript {
  first: string;
  calls: Array<{ id: string; name: string; args: unknown }>;
  final: string;
}
/** Every call's usage as the SDK read it, per agent: the ledger must hold exactly these. */
const usages = new Map<string, Array<[prompt: number, completion: number]>>();
const used = (a: AgentToken, prompt: number, completion: number) => usages.set(a.agentId, [...(usages.get(a.agentId) ?? []), [prompt, completion]]);

const openai = (a: AgentToken) => new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
const anthropic = (a: AgentToken) => new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
const scriptedTexts = [SCRIPTED.first, SCRIPTED.final];

async function chatTask(a: AgentToken, stream: boolean): Promise<Transcript> {
  const client = openai(a);
  const tools = NAMES.map((name) => ({ type: 'function' as const, function: { name, parameters: PARAMS } }));
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: ASK }];
  const out: Transcript = { first: '', calls: [], final: '' };
  for (let turn = 0; turn < 6; turn++) {
    const body = { model: 'gpt-4o-mini', messages, tools };
    const r = stream ? await client.chat.completions.stream({ ...body, stream_options: { include_usage: true } }).finalChatCompletion() : await client.chat.completions.create(body);
    used(a, r.usage!.prompt_tokens, r.usage!.completion_tokens);
    const m = r.choices[0]!.message;
    if (turn === 0) out.first = m.content ?? '';
    if (!m.tool_calls?.length) {
      out.final = m.content ?? '';
      break;
    }
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    messages.push({ role: 'assistant', content: m.content, tool_calls: m.tool_calls });
    for (const c of m.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]) {
      out.calls.push({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments) });
      messages.push({ role: 'tool', tool_call_id: c.id, content: RESULTS[c.function.name]! });
    }
    // A side call of the same conversation, as an agent asks a small model for a title: no tools, not the script's.
    const side = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [...messages, { role: 'user', content: 'Give this conversation a title.' }] });
    used(a, side.usage!.prompt_tokens, side.usage!.completion_tokens);
    expect(side.choices[0]!.message.tool_calls ?? []).toEqual([]);
    expect(scriptedTexts).not.toContain(side.choices[0]!.message.content);
  }
  return out;
}

async function messagesTask(a: AgentToken, stream: boolean): Promise<Transcript> {
  const client = anthropic(a);
  const tools = NAMES.map((name) => ({ name, input_schema: PARAMS }));
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: ASK }];
  const out: Transcript = { first: '', calls: [], final: '' };
  for (let turn = 0; turn < 6; turn++) {
    const body = { model: 'claude-3-5-haiku-latest', max_tokens: 1024, messages, tools };
    const m = stream ? await client.messages.stream(body).finalMessage() : await client.messages.create(body);
    used(a, m.usage.input_tokens, m.usage.output_tokens);
    const text = m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    const uses = m.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    if (turn === 0) out.first = text;
    if (uses.length === 0) {
      expect(m.stop_reason).toBe('end_turn');
      out.final = text;
      break;
    }
    expect(m.stop_reason).toBe('tool_use');
    messages.push({ role: 'assistant', content: m.content });
    messages.push({ role: 'user', content: uses.map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: RESULTS[u.name]! })) });
    for (const u of uses) out.calls.push({ id: u.id, name: u.name, args: u.input });
    // What Claude Code does besides its loop: count tokens, probe its quota with max_tokens 1, ask for a topic.
    await client.messages.countTokens({ model: 'claude-3-5-haiku-latest', messages, tools });
    const probe = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 1, messages: [{ role: 'user', content: 'quota' }] });
    used(a, probe.usage.input_tokens, probe.usage.output_tokens);
    expect(probe.usage.output_tokens).toBeLessThanOrEqual(1);
    const topic = await client.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      system: 'Say whether this message starts a new topic.',
      messages: [{ role: 'user', content: ASK }],
    });
    used(a, topic.usage.input_tokens, topic.usage.output_tokens);
    expect(topic.content.every((b) => b.type === 'text' && !scriptedTexts.includes(b.text))).toBe(true);
  }
  return out;
}

async function responsesTask(a: AgentToken, stream: boolean): Promise<Transcript> {
  const client = openai(a);
  const tools = NAMES.map((name) => ({ type: 'function' as const, name, parameters: PARAMS, strict: false }));
  const input: OpenAI.Responses.ResponseInputItem[] = [{ role: 'user', content: ASK }];
  const out: Transcript = { first: '', calls: [], final: '' };
  for (let turn = 0; turn < 6; turn++) {
    // `store: false` and the whole conversation each time, as Codex CLI sends it.
    const body = { model: 'gpt-4o-mini', input, tools, store: false };
    const r = stream ? await client.responses.stream(body).finalResponse() : await client.responses.create(body);
    used(a, r.usage!.input_tokens, r.usage!.output_tokens);
    const output: OpenAI.Responses.ResponseOutputItem[] = r.output;
    const calls = output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
    if (turn === 0) out.first = r.output_text;
    if (calls.length === 0) {
      out.final = r.output_text;
      break;
    }
    input.push(...(r.output as OpenAI.Responses.ResponseInputItem[]));
    for (const c of calls) {
      out.calls.push({ id: c.call_id, name: c.name, args: JSON.parse(c.arguments) });
      input.push({ type: 'function_call_output', call_id: c.call_id, output: RESULTS[c.name]! });
    }
  }
  return out;
}

/** The agent's ledger rows, once the writer has landed `count` of them. */
const rows = (a: AgentToken, count: number) =>
  until(() => {
    const r = sqliteOf(t.rt.state).prepare('SELECT endpoint, stream, status, usage_source, prompt_tokens, completion_tokens, cost_micros FROM llm_requests WHERE agent_id = ?').all(a.agentId) as any[];
    return r.length >= count ? r : null;
  });

/** Every call of the agent is in its ledger with the usage its SDK read, charged from it and priced. */
async function meteredExactly(a: AgentToken, endpoints: string[]): Promise<void> {
  const seen = usages.get(a.agentId)!;
  const r = await rows(a, seen.length);
  expect(r).toHaveLength(seen.length);
  expect(r.every((x) => x.status === 'ok' && x.usage_source === 'provider' && x.cost_micros > 0)).toBe(true);
  expect(new Set(r.map((x) => x.endpoint))).toEqual(new Set(endpoints));
  const sorted = (xs: Array<[number, number]>) => xs.map(([p, c]) => `${p}/${c}`).sort();
  expect(sorted(r.map((x) => [x.prompt_tokens, x.completion_tokens]))).toEqual(sorted(seen));
  const costs = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
  expect(costs.requests).toBe(seen.length);
  expect(Math.round(costs.spentUsd * 1e6)).toBe(r.reduce((s, x) => s + x.cost_micros, 0));
}

const expectTheTask = (tr: Transcript, idPrefix: string) => {
  expect(tr.first).toBe(SCRIPTED.first);
  expect(tr.calls.map(({ name, args }) => ({ name, args }))).toEqual(SCRIPTED.calls);
  expect(tr.final).toBe(SCRIPTED.final);
  for (const c of tr.calls) expect(c.id).toMatch(new RegExp(`^${idPrefix}[A-Za-z0-9]{24}$`));
};

/** The task run whole, then streamed, by one agent: the script's transcript both times, every call metered. */
async function bothWays(task: (a: AgentToken, stream: boolean) => Promise<Transcript>, idPrefix: string, endpoint: string): Promise<Transcript> {
  const a = await agentToken(t);
  const whole = await task(a, false);
  expect(await task(a, true)).toEqual(whole);
  expectTheTask(whole, idPrefix);
  await meteredExactly(a, [endpoint]);
  return whole;
}

describe('a scripted coding task through the official SDKs', () => {
  it('says at start where its script is', () => {
    expect(t.log()).toContain(`Simulated provider: scripted by ${join(dir, 'tasks.yaml')} (2 conversations); requests it does not take get the ordinary simulated answer`);
  });

  it('chat completions, whole and streamed: the same calls with the same ids; side calls answered apart; every call metered', async () => {
    await bothWays(chatTask, 'call_', 'chat');
  });

  it('Anthropic messages, whole and streamed, between Claude Code’s side calls (count_tokens, a max_tokens 1 probe, a topic)', async () => {
    const task = await bothWays(messagesTask, 'toolu_', 'messages');
    // One script, every wire: the same call is the same id (Anthropic's `toolu_` where OpenAI's say `call_`).
    const chat = await chatTask(await agentToken(t), false);
    expect(task.calls.map((c) => c.id.replace(/^toolu_/, 'call_'))).toEqual(chat.calls.map((c) => c.id));
  });

  it('the Responses API, whole and streamed, the whole conversation sent each time', async () => {
    const task = await bothWays(responsesTask, 'call_', 'responses');
    const chat = await chatTask(await agentToken(t), false);
    expect(task.calls.map((c) => c.id)).toEqual(chat.calls.map((c) => c.id));
  });

  it('the Responses API: a custom tool (apply_patch, as Codex offers it) called with its input, whole and streamed, and by previous_response_id', async () => {
    const a = await agentToken(t);
    const client = openai(a);
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'custom', name: 'apply_patch', description: 'Apply a patch' },
      { type: 'function', name: 'shell', parameters: PARAMS, strict: false },
    ];
    const ask = 'Please fix the typo in README.md';
    const whole = await client.responses.create({ model: 'gpt-4o', input: ask, tools });
    const call = whole.output.find((o): o is OpenAI.Responses.ResponseCustomToolCall => o.type === 'custom_tool_call')!;
    expect(call).toMatchObject({ name: 'apply_patch', call_id: expect.stringMatching(/^call_/), input: expect.stringContaining('-Helo, world.\n+Hello, world.\n') });
    const streamed = await client.responses.stream({ model: 'gpt-4o', input: ask, tools }).finalResponse();
    expect(streamed.output.find((o) => o.type === 'custom_tool_call')).toMatchObject({ name: 'apply_patch', call_id: call.call_id, input: call.input });
    used(a, whole.usage!.input_tokens, whole.usage!.output_tokens);
    used(a, streamed.usage!.input_tokens, streamed.usage!.output_tokens);
    // The next turn: the call and its output sent back whole, or after the stored response.
    const sent = await client.responses.create({ model: 'gpt-4o', tools, input: [{ role: 'user', content: ask }, call, { type: 'custom_tool_call_output', call_id: call.call_id, output: 'Done!' }] });
    const chained = await client.responses
      .stream({ model: 'gpt-4o', tools, previous_response_id: streamed.id, input: [{ type: 'custom_tool_call_output', call_id: call.call_id, output: 'Done!' }] })
      .finalResponse();
    expect(sent.output_text).toBe('Fixed the typo in README.md.');
    expect(chained.output_text).toBe('Fixed the typo in README.md.');
    used(a, sent.usage!.input_tokens, sent.usage!.output_tokens);
    used(a, chained.usage!.input_tokens, chained.usage!.output_tokens);
    await meteredExactly(a, ['responses']);
  });

  it('a request no conversation takes gets the ordinary simulated answer; a call the request does not offer is said in words', async () => {
    const a = await agentToken(t);
    const r = await openai(a).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: not scripted' }] });
    expect(r.choices[0]!.message.content).toBe('not scripted');
    const m = await anthropic(a).messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 200, tools: [{ name: 'Read', input_schema: PARAMS }], messages: [{ role: 'user', content: ASK }] });
    expect(m.content).toEqual([
      {
        type: 'text',
        text: '[iron-cage simulated script tasks.yaml] summarize-notes, turn 1, calls the function tool "read_file", which this request does not offer (it offers "Read").',
      },
    ]);
    expect(m.stop_reason).toBe('end_turn');
  });
});

describe('a malformed script', () => {
  it('stops the start with exit code 2 and names the key, the file, the line and the field', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'conversations:\n  - turns:\n      - text: hello\n      - tool_calls:\n          - name: read_file\n            arguments: [notes.txt]\n');
    writeFileSync(join(dir, 'bad-config.yaml'), 'providers:\n  simulated:\n    script: bad.yaml\n');
    const r = await cliInProcess(['serve', '--config', join(dir, 'bad-config.yaml'), '--port', '0'], { cwd: ROOT });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `config ${join(dir, 'bad-config.yaml')}: providers.simulated.script: ${join(dir, 'bad.yaml')} line 6: conversations[0].turns[1].tool_calls[0].arguments: expected a mapping`,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
