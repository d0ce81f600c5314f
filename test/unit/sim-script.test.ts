// The simulated provider's script (providers.simulated.script): the file read and refused with
// the line and field at fault, and which turn a request gets on each wire.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type SimScript } from '../../src/config/index.js';
import { answersSoFar, scripted } from '../../src/gateway/providers/sim/script.js';
import { simRequest } from '../../src/gateway/providers/sim/request.js';
import type { Endpoint } from '../../src/gateway/wire/types.js';
import { FIXTURES, tempDir } from '../helpers/runtime.js';

const { dir, cleanup } = tempDir('iron-cage-sim-script-');
afterAll(cleanup);

let n = 0;
/** A config file beside a script holding `script`; the config loaded from another folder. */
function configWith(script: string, name = 'script.yaml'): ReturnType<typeof loadConfig> {
  const folder = join(dir, `case${++n}`);
  mkdirSync(folder);
  writeFileSync(join(folder, name), script);
  writeFileSync(join(folder, 'iron-cage.yaml'), `providers:\n  simulated:\n    script: ${name}\n`);
  return loadConfig({ configPath: join(folder, 'iron-cage.yaml'), env: {}, cwd: dir });
}
const refusal = (script: string, name = 'script.yaml'): string => {
  try {
    configWith(script, name);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the script was accepted');
};
const fixture = (): SimScript => {
  const folder = join(dir, 'fixture');
  mkdirSync(folder, { recursive: true });
  copyFileSync(join(FIXTURES, 'sim-script.yaml'), join(folder, 'tasks.yaml'));
  writeFileSync(join(folder, 'iron-cage.yaml'), 'providers: { simulated: { script: tasks.yaml } }\n');
  return loadConfig({ configPath: join(folder, 'iron-cage.yaml'), env: {}, cwd: dir }).gateway.providers.simulated.script!;
};

describe('providers.simulated.script: the file', () => {
  it('is read from the config file’s folder, whatever the working folder, and compiled', () => {
    const s = fixture();
    expect(s.file).toBe(join(dir, 'fixture', 'tasks.yaml'));
    expect(s.conversations.map((c) => c.label)).toEqual(['summarize-notes', 'fix-typo']);
    expect(s.conversations[0]!.turns[0]).toEqual({ text: 'I will read the notes first.', calls: [{ name: 'read_file', arguments: '{"path":"notes.txt"}', custom: false }] });
    expect(s.conversations[1]!.turns[0]!.calls[0]).toMatchObject({ name: 'apply_patch', custom: true, arguments: expect.stringContaining('+Hello, world.\n') });
    expect(s.otherwise).toBeNull();
    expect(loadConfig({ env: {}, cwd: dir }).gateway.providers.simulated.script ?? null).toBeNull();
  });

  it('JSON is read too, and an empty answer is end: true', () => {
    const c = configWith('{"conversations": [{"turns": [{"end": true}]}], "otherwise": {"text": "no"}}', 's.json');
    expect(c.gateway.providers.simulated.script).toMatchObject({ conversations: [{ label: 'conversations[0]', turns: [{ text: '', calls: [] }] }], otherwise: { text: 'no' } });
  });

  it('a mistake is refused naming the config key, the file, the line and the field', () => {
    const at = (file = 'script.yaml') => `^config ${dir}/case\\d+/iron-cage\\.yaml: providers\\.simulated\\.script: ${dir}/case\\d+/${file.replace('.', '\\.')}`;
    expect(refusal('conversations:\n  - turns:\n      - tool_calls:\n          - name: read_file\n')).toMatch(
      new RegExp(`${at()} line 4: conversations\\[0\\]\\.turns\\[0\\]\\.tool_calls\\[0\\]: give arguments \\(a mapping, for a function tool\\) or input \\(text, for a custom tool\\), one of them$`),
    );
    expect(refusal('conversations:\n  - turns:\n      - text: hi\n        tool_call: []\n')).toMatch(new RegExp(`${at()} line 4: unknown key 'conversations\\[0\\]\\.turns\\[0\\]\\.tool_call'$`));
    expect(refusal('conversations:\n  - when: { tools: yes please }\n    turns: [{ text: hi }]\n')).toMatch(new RegExp(`${at()} line 2: conversations\\[0\\]\\.when\\.tools: expected true or false$`));
    expect(refusal('conversations:\n  - turns:\n      - {}\n')).toMatch(new RegExp(`${at()} line 3: conversations\\[0\\]\\.turns\\[0\\]: a turn needs text, tool_calls \\(or both\\), or end: true$`));
    expect(refusal('conversations:\n  - turns:\n      - { end: true, text: bye }\n')).toMatch(/line 3: conversations\[0\]\.turns\[0\]: end: true is an empty answer: give it alone/);
    expect(refusal('conversations: []\n')).toMatch(new RegExp(`${at()} line 1: conversations: must list at least one conversation$`));
    expect(refusal('otherwise: { text: hi }\n')).toMatch(new RegExp(`${at()} line 1: conversations: required$`));
    expect(refusal('conversations:\n  - turns: [{ text: hi }\n')).toMatch(new RegExp(`${at()} line \\d: not valid YAML or JSON: .+`));
    expect(refusal('{"conversations": [\n  {"turns": [{"text": "a"},,]}\n]}', 's.json')).toMatch(new RegExp(`${at('s.json')} line 2: not valid YAML or JSON: Unexpected , in flow sequence`));
    expect(refusal('')).toMatch(new RegExp(`${at()}: is empty: a script lists its conversations`));
    expect(refusal('- a\n')).toMatch(new RegExp(`${at()} line 1: the top level must be a mapping`));
    const folder = join(dir, 'missing');
    mkdirSync(folder);
    writeFileSync(join(folder, 'iron-cage.yaml'), 'providers: { simulated: { script: nope.yaml } }\n');
    expect(() => loadConfig({ configPath: join(folder, 'iron-cage.yaml'), env: {}, cwd: dir })).toThrow(
      `config ${folder}/iron-cage.yaml: providers.simulated.script: ${folder}/nope.yaml: file not found`,
    );
    writeFileSync(join(folder, 'iron-cage.yaml'), 'providers: { simulated: { script: "" } }\n');
    expect(() => loadConfig({ configPath: join(folder, 'iron-cage.yaml'), env: {}, cwd: dir })).toThrow(`config ${folder}/iron-cage.yaml: providers.simulated.script: must not be empty`);
  });
});

const TOOLS = ['read_file', 'write_file', 'run_command'];
const fnTool = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
const ask = 'Summarize notes.txt into summary.txt, then count its lines.';

/** A request as the provider reads it, the way `SimulatedProvider.call` does. */
const read = (endpoint: Endpoint, body: Record<string, unknown>) => simRequest(endpoint, body, String(body.model), JSON.stringify(body));

describe('which turn a request gets', () => {
  const s = fixture();

  it('chat: the place is the answers given so far; tool results, retries and side calls never move it', () => {
    const first = { model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools: TOOLS.map(fnTool) };
    const a = scripted(s, read('chat', first))!.choices[0]!;
    expect(a).toMatchObject({
      text: 'I will read the notes first.',
      finish: 'tool_calls',
      toolCalls: [{ name: 'read_file', arguments: '{"path":"notes.txt"}', id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/) }],
    });
    // The same request again (a retry) gets the same answer, id and all.
    expect(scripted(s, read('chat', first))!.choices[0]).toEqual(a);
    const second = {
      ...first,
      messages: [
        ...first.messages,
        { role: 'assistant', content: a.text, tool_calls: [{ id: a.toolCalls[0]!.id, type: 'function', function: { name: 'read_file', arguments: a.toolCalls[0]!.arguments } }] },
        { role: 'tool', tool_call_id: a.toolCalls[0]!.id, content: 'buy milk\ncall Ada\nship the release' },
      ],
    };
    expect(answersSoFar(read('chat', second).turns)).toBe(1);
    expect(scripted(s, read('chat', second))!.choices[0]!.toolCalls[0]!.name).toBe('write_file');
    // A side call of the same conversation without tools (a title), or of another task: not the script's.
    expect(scripted(s, read('chat', { model: 'gpt-4o', messages: second.messages }))).toBeNull();
    expect(scripted(s, read('chat', { ...first, messages: [{ role: 'user', content: 'What is 2+2?' }] }))).toBeNull();
    // Past its last turn a conversation takes no request.
    const past = {
      ...first,
      messages: [
        ...second.messages,
        ...[1, 2, 3].flatMap(() => [
          { role: 'assistant', content: 'x' },
          { role: 'user', content: 'more' },
        ]),
      ],
    };
    expect(answersSoFar(read('chat', past).turns)).toBe(4);
    expect(scripted(s, read('chat', past))).toBeNull();
    expect(scripted({ ...s, otherwise: { text: 'Nothing scripted for this.' } }, read('chat', past))!.choices[0]).toMatchObject({ text: 'Nothing scripted for this.', finish: 'stop', toolCalls: [] });
    // n choices: the same turn n times, its tokens counted n times.
    const g = scripted(s, read('chat', { ...first, n: 2 }))!;
    expect(g.choices).toHaveLength(2);
    expect(g.completionTokens).toBe(2 * a.completionTokens);
  });

  it('Anthropic: tool results in a user message; the same call ids as on chat (toolu_ where chat says call_)', () => {
    const chatId = scripted(s, read('chat', { model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools: TOOLS.map(fnTool) }))!.choices[0]!.toolCalls[0]!.id;
    const tools = TOOLS.map((name) => ({ name, input_schema: { type: 'object' } }));
    const body = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 500,
      tools,
      messages: [
        { role: 'user', content: [{ type: 'text', text: ask }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'read_file', input: { path: 'notes.txt' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'buy milk' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'write_file', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'written' }] },
      ],
    };
    expect(scripted(s, read('messages', body))!.choices[0]!.toolCalls[0]).toMatchObject({ name: 'run_command', arguments: '{"command":["wc","-l","summary.txt"]}' });
    expect(scripted(s, read('messages', { ...body, messages: body.messages.slice(0, 1) }))!.choices[0]!.toolCalls[0]!.id).toBe(chatId);
  });

  it('Responses: an answer of several items (text, calls) is one turn; a custom tool is called with its input', () => {
    const body = {
      model: 'gpt-4o',
      tools: TOOLS.map((name) => ({ type: 'function', name, parameters: { type: 'object' } })),
      input: [
        { role: 'user', content: ask },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'I will read the notes first.' }] },
        { type: 'function_call', call_id: 'c1', name: 'read_file', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'buy milk' },
      ],
    };
    expect(scripted(s, read('responses', body))!.choices[0]!.toolCalls[0]!.name).toBe('write_file');
    const codex = {
      model: 'gpt-4o-mini',
      tools: [
        { type: 'custom', name: 'apply_patch' },
        { type: 'function', name: 'shell', parameters: { type: 'object' } },
      ],
      input: 'Please fix the typo in README.md',
    };
    expect(scripted(s, read('responses', codex))!.choices[0]!.toolCalls[0]).toMatchObject({ name: 'apply_patch', custom: true, arguments: expect.stringMatching(/^\*\*\* Begin Patch\n/) });
    const after = {
      ...codex,
      input: [
        { role: 'user', content: codex.input },
        { type: 'custom_tool_call', call_id: 'c9', name: 'apply_patch', input: '*** Begin Patch' },
        { type: 'custom_tool_call_output', call_id: 'c9', output: 'Done!' },
      ],
    };
    expect(scripted(s, read('responses', after))!.choices[0]).toMatchObject({ text: 'Fixed the typo in README.md.', toolCalls: [], finish: 'stop' });
    // `model: gpt-4o*`: another model's request is not this conversation's.
    expect(scripted(s, read('responses', { ...codex, model: 'gpt-4.1' }))).toBeNull();
  });

  it('a call the request cannot take is answered in words that say why, never a crash', () => {
    const says = (body: Record<string, unknown>, endpoint: Endpoint = 'chat') => scripted(s, read(endpoint, body))!.choices[0]!;
    const chat = { model: 'gpt-4o', messages: [{ role: 'user', content: ask }] };
    expect(says({ ...chat, tools: [fnTool('other_tool'), fnTool('read')] })).toMatchObject({
      text: '[iron-cage simulated script tasks.yaml] summarize-notes, turn 1, calls the function tool "read_file", which this request does not offer (it offers "other_tool", "read").',
      toolCalls: [],
      finish: 'stop',
    });
    expect(scripted(s, read('chat', { ...chat, tools: TOOLS.map(fnTool), tool_choice: 'none' }))).toBeNull();
    const codex = { model: 'gpt-4o', input: 'fix the typo', tools: [{ type: 'function', name: 'apply_patch', parameters: { type: 'object' } }] };
    expect(says(codex, 'responses').text).toBe(
      '[iron-cage simulated script tasks.yaml] fix-typo, turn 1, calls the custom tool "apply_patch" with input, but this request offers it as a function tool: give it arguments.',
    );
  });

  it('the output limit cuts the text, as a provider would', () => {
    const g = scripted(s, read('chat', { model: 'gpt-4o', max_tokens: 2, messages: [{ role: 'user', content: ask }], tools: TOOLS.map(fnTool) }))!.choices[0]!;
    expect(g.text).toBe('I will');
    expect(g.finish).toBe('tool_calls');
    const done = scripted({ ...s, otherwise: { text: 'one two three four five' } }, read('chat', { model: 'gpt-4o', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] }))!.choices[0]!;
    expect(done).toMatchObject({ text: 'one two three', finish: 'length', completionTokens: 3 });
  });
});
