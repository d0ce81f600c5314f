import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { sqliteOf } from '../helpers/db.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// A coding agent runs its tools itself, so the cage sees its `Bash` call only in the
// model's answer. Rules naming `match.llm_tool` read those calls on their way back, through the
// official SDKs, on every wire, whole and streamed: a denied call never reaches the agent (a text
// saying why takes its place and the turn ends), an approved one arrives intact after a person's
// decision, one nobody decides is withheld at its timeout. The simulated provider calls the tool
// the prompt names, and fills `command` from its schema's one-value enum: each test picks the command.

const RULES = [
  { name: 'no-push', match: { llm_tool: ['Bash', 'shell'], args: { command: { matches: String.raw`\bgit\s+push\b` } } }, action: 'deny', reason: 'pushes go through review' },
  { name: 'wipe', match: { llm_tool: 'Bash', args: { command: { contains: 'rm -rf' } } }, action: 'approve', timeout: '60s' },
  { name: 'deploy', match: { llm_tool: 'deploy*' }, action: 'approve', timeout: '1s' },
];

let t: TestRuntime;
let a: AgentToken;
let other: AgentToken;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway }, policies: policySet(policiesSchema.parse(RULES)) } });
  a = await agentToken(t, { name: 'coder' });
  other = await agentToken(t, { name: 'bystander' });
  openai = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

/** A tool whose one argument the simulated provider can only fill with `command`. */
const schema = (command: string) => ({ type: 'object' as const, properties: { command: { type: 'string', enum: [command] } }, required: ['command'] });
const READ = { type: 'object' as const, properties: { path: { type: 'string', enum: ['README.md'] } }, required: ['path'] };

const chatTools = (tool: string, command: string, read = false): OpenAI.ChatCompletionTool[] => [
  { type: 'function', function: { name: tool, description: 'Run a shell command', parameters: schema(command) } },
  ...(read ? [{ type: 'function' as const, function: { name: 'Read', description: 'Read a file', parameters: READ } }] : []),
];
const responsesTools = (tool: string, command: string, read = false): OpenAI.Responses.FunctionTool[] => [
  { type: 'function', name: tool, description: 'Run a shell command', parameters: schema(command), strict: false },
  ...(read ? [{ type: 'function' as const, name: 'Read', description: 'Read a file', parameters: READ, strict: false }] : []),
];
const messagesTools = (tool: string, command: string, read = false): Anthropic.Tool[] => [
  { name: tool, description: 'Run a shell command', input_schema: schema(command) },
  ...(read ? [{ name: 'Read', description: 'Read a file', input_schema: READ }] : []),
];
const prompt = (tool: string, read = false) => `Use ${tool}${read ? ' and Read' : ''} to do it.`;

/** One answer as the agent got it, in no wire's shape: its text, its tool calls, and how it ended. */
interface Got {
  text: string;
  calls: Array<{ name: string; args: unknown }>;
  end: string | null;
}

type Wire = 'chat' | 'responses' | 'messages';
const WIRES: Wire[] = ['chat', 'responses', 'messages'];
const MODEL: Record<Wire, string> = { chat: 'gpt-4o-mini', responses: 'gpt-4o-mini', messages: 'claude-sonnet-4-6' };

/** The SDK's own whole answer, or its stream accumulated by its own helper (which would throw on a stream it cannot follow). */
async function ask(wire: Wire, stream: boolean, tool: string, command: string, o: { read?: boolean; client?: { openai: OpenAI; anthropic: Anthropic } } = {}): Promise<Got> {
  const c = o.client ?? { openai, anthropic };
  const read = o.read ?? false;
  if (wire === 'chat') {
    const body = { model: MODEL.chat, tools: chatTools(tool, command, read), messages: [{ role: 'user' as const, content: prompt(tool, read) }] };
    const r = stream ? await c.openai.chat.completions.stream(body).finalChatCompletion() : await c.openai.chat.completions.create(body);
    const m = r.choices[0]!.message;
    return {
      text: m.content ?? '',
      calls: (m.tool_calls ?? []).map((x) => (x.type === 'function' ? { name: x.function.name, args: JSON.parse(x.function.arguments) } : { name: x.type, args: null })),
      end: r.choices[0]!.finish_reason,
    };
  }
  if (wire === 'responses') {
    const body = { model: MODEL.responses, tools: responsesTools(tool, command, read), input: prompt(tool, read) };
    let r: OpenAI.Responses.Response;
    if (stream) {
      const s = c.openai.responses.stream(body);
      const seqs: number[] = [];
      s.on('event', (e) => seqs.push(e.sequence_number));
      r = await s.finalResponse();
      // Numbered without a gap, whatever was added or dropped.
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    } else r = await c.openai.responses.create(body);
    return {
      text: r.output_text,
      calls: r.output.flatMap((x) => (x.type === 'function_call' ? [{ name: x.name, args: JSON.parse(x.arguments) }] : [])),
      end: r.status ?? null,
    };
  }
  const body = { model: MODEL.messages, max_tokens: 1024, tools: messagesTools(tool, command, read), messages: [{ role: 'user' as const, content: prompt(tool, read) }] };
  const r = stream ? await c.anthropic.messages.stream(body).finalMessage() : await c.anthropic.messages.create(body);
  return {
    text: r.content.map((b) => (b.type === 'text' ? b.text : '')).join(''),
    calls: r.content.flatMap((b) => (b.type === 'tool_use' ? [{ name: b.name, args: b.input }] : [])),
    end: r.stop_reason,
  };
}

/** How each wire ends a turn with no tool call, and one that waits for tool results. */
const ENDS_TURN: Record<Wire, string> = { chat: 'stop', responses: 'completed', messages: 'end_turn' };
const CALLS: Record<Wire, string> = { chat: 'tool_calls', responses: 'completed', messages: 'tool_use' };

const events = async (agentId: string, type: string): Promise<any[]> =>
  ((await (await t.api(`/api/events?agentId=${agentId}&limit=1000`)).json()) as { events: any[] }).events.filter((e) => e.type === type);
const pending = async (): Promise<any[]> => ((await (await t.api('/api/approvals?status=pending')).json()) as { approvals: any[] }).approvals;
const rows = (agentId: string) => sqliteOf(t.rt.state).prepare('SELECT status, cost_micros AS costMicros, model FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as any[];

describe('a tool call a deny rule names never reaches the agent', () => {
  for (const wire of WIRES)
    for (const stream of [false, true])
      it(`${wire}, ${stream ? 'streamed' : 'whole'}: the agent reads why, with no tool call, and its turn ends`, async () => {
        const refusals = (await events(a.agentId, 'policy.decision')).length;
        const before = rows(a.agentId).length;
        const got = await ask(wire, stream, 'Bash', 'git push origin main');
        expect(got.calls).toEqual([]);
        expect(got.end).toBe(ENDS_TURN[wire]);
        expect(got.text).toContain('[iron-cage]');
        expect(got.text).toMatch(/tool call Bash in an answer of .* is refused by policy rule no-push: pushes go through review\. It was not run\./);
        // Said as other policy refusals are: an event naming the rule, counted as an unauthorized action.
        const said = await until(async () => {
          const e = await events(a.agentId, 'policy.decision');
          return e.length > refusals ? e : null;
        });
        expect(said.at(-1)).toMatchObject({ data: { kind: 'llm', service: MODEL[wire], tool: 'Bash', rule: 'no-push', action: 'deny' } });
        // The model call happened upstream: it is on the ledger, charged as any.
        const r = rows(a.agentId).slice(before);
        expect(r).toEqual([expect.objectContaining({ status: 'ok', model: MODEL[wire] })]);
        expect(r[0].costMicros).toBeGreaterThan(0);
      });

  it("counts each refusal among the agent's unauthorized actions", async () => {
    const p = (await (await t.api(`/api/agents/${a.agentId}/protection`)).json()) as { unauthorizedActions: number };
    const denied = (await events(a.agentId, 'policy.decision')).filter((e) => e.data.action === 'deny').length;
    expect(denied).toBeGreaterThanOrEqual(6);
    expect(p.unauthorizedActions).toBe(denied);
    // And in the run summary's count of calls a rule refused.
    expect(((await (await t.api(`/api/agents/${a.agentId}/approvals`)).json()) as { refusedByPolicy: number }).refusedByPolicy).toBe(denied);
  });

  for (const wire of WIRES)
    it(`${wire}: beside a call that passes, only the denied one goes, and the turn still waits for the other's result`, async () => {
      for (const stream of [false, true]) {
        const got = await ask(wire, stream, 'Bash', 'git push --force', { read: true });
        expect(got.calls).toEqual([{ name: 'Read', args: { path: 'README.md' } }]);
        expect(got.end).toBe(CALLS[wire]);
        expect(got.text).toMatch(/refused by policy rule no-push/);
      }
    });

  for (const stream of [false, true])
    it(`responses, ${stream ? 'streamed' : 'whole'}: the stored response is what the agent got, and the next turn continues from it`, async () => {
      const body = { model: MODEL.responses, tools: responsesTools('Bash', 'git push origin main'), input: prompt('Bash'), store: true };
      const id = (stream ? await openai.responses.stream(body).finalResponse() : await openai.responses.create(body)).id;
      const stored = await openai.responses.retrieve(id);
      expect(stored.output.map((o) => o.type)).toEqual(['message']);
      expect(stored.output_text).toMatch(/refused by policy rule no-push/);
      const next = await openai.responses.create({ model: MODEL.responses, previous_response_id: id, input: 'Repeat exactly: going on' });
      expect(next.output_text).toBe('going on');
    });
});

describe('a call no rule decides passes untouched', () => {
  for (const wire of WIRES)
    it(`${wire}, whole and streamed: the tool call as the model made it, nothing said`, async () => {
      const decisions = (await events(a.agentId, 'policy.decision')).length;
      for (const stream of [false, true]) {
        const got = await ask(wire, stream, 'Bash', 'ls -la');
        expect(got).toEqual({ text: '', calls: [{ name: 'Bash', args: { command: 'ls -la' } }], end: CALLS[wire] });
        // A tool no rule names at all.
        const named = await ask(wire, stream, 'Grep', 'git push');
        expect(named.calls).toEqual([{ name: 'Grep', args: { command: 'git push' } }]);
      }
      expect((await events(a.agentId, 'policy.decision')).length).toBe(decisions);
    });
});

describe('an approve rule holds the call for a person', () => {
  for (const wire of WIRES)
    it(`${wire}: held whole and streamed, approved over HTTP, received intact; other agents go on meanwhile`, async () => {
      const command = `rm -rf build-${wire}`;
      const answers = [false, true].map((stream) => ask(wire, stream, 'Bash', command));
      const held = await until(async () => {
        const p = (await pending()).filter((x) => x.agentId === a.agentId && x.args.includes(command));
        return p.length === 2 ? p : null;
      });
      for (const p of held) {
        expect(p).toMatchObject({ kind: 'llm', service: MODEL[wire], tool: 'Bash', method: null, rule: 'wipe', agentName: 'coder', status: 'pending' });
        expect(JSON.parse(p.args)).toEqual({ command });
      }
      // The wait holds neither the gateway nor the budget: another agent's call is answered, and
      // this one's reservation is what its answers owe, not their worst case.
      const b = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: other.token, maxRetries: 0 });
      expect((await b.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: still here' }] })).choices[0]!.message.content).toBe('still here');
      const budget = (await (await t.api(`/api/agents/${a.agentId}/budget`)).json()) as { reservedUsd: number };
      expect(budget.reservedUsd).toBeLessThan(0.001);
      for (const p of held) expect((await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST', body: JSON.stringify({ reason: 'a build folder' }) })).status).toBe(200);
      for (const got of await Promise.all(answers)) expect(got).toEqual({ text: '', calls: [{ name: 'Bash', args: { command } }], end: CALLS[wire] });
      const decided = (await events(a.agentId, 'approval.decided')).filter((e) => held.some((p) => p.id === e.data.id));
      expect(decided.map((e) => e.data.status)).toEqual(['approved', 'approved']);
    });

  it('nobody deciding in time withholds it, on every wire whole and streamed', async () => {
    const t0 = Date.now();
    const got = await Promise.all(WIRES.flatMap((wire) => [false, true].map(async (stream) => ({ wire, got: await ask(wire, stream, 'deploy_prod', 'make deploy') }))));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    for (const { wire, got: g } of got) {
      expect(g.calls).toEqual([]);
      expect(g.end).toBe(ENDS_TURN[wire]);
      expect(g.text).toMatch(/tool call deploy_prod in an answer of .* waited for approval \(rule deploy\) and was withheld from the agent: nobody decided within 1s/);
    }
  });

  it('the approver and the agent read the arguments with PII redacted, the held stream as any other', async () => {
    const command = 'rm -rf /srv/mail/bob@example.org';
    const answer = ask('chat', true, 'Bash', command);
    const p = await until(async () => (await pending()).find((x) => x.args.includes('/srv/mail/')));
    expect(p.args).not.toContain('bob@example.org');
    expect(JSON.parse(p.args).command).toMatch(/^rm -rf \/srv\/mail\/\[EMAIL/);
    expect((await t.api(`/api/approvals/${p.id}/approve`, { method: 'POST' })).status).toBe(200);
    const got = await answer;
    expect(got.calls).toEqual([{ name: 'Bash', args: { command: JSON.parse(p.args).command } }]);
  });

  it('denied by a person: the text names who and why', async () => {
    const answer = ask('messages', true, 'Bash', 'rm -rf /');
    const p = await until(async () => (await pending()).find((x) => x.args.includes('rm -rf /')));
    expect((await t.api(`/api/approvals/${p.id}/deny`, { method: 'POST', body: JSON.stringify({ reason: 'not the root' }) })).status).toBe(200);
    const got = await answer;
    expect(got.calls).toEqual([]);
    expect(got.text).toMatch(/was denied by admin .* \(rule wipe\): not the root; it was withheld from the agent/);
  });

  it('a streamed answer whose agent hangs up while it waits: withdrawn, settled, nothing left reserved', async () => {
    const last = (sqliteOf(t.rt.state).prepare('SELECT max(id) AS id FROM llm_requests').get() as { id: number }).id;
    const ac = new AbortController();
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, tools: chatTools('Bash', 'rm -rf cache'), messages: [{ role: 'user', content: prompt('Bash') }] }),
      signal: ac.signal,
    });
    expect(r.status).toBe(200);
    const p = await until(async () => (await pending()).find((x) => x.args.includes('rm -rf cache')));
    ac.abort();
    const gone = await until(async () => {
      const v = (await (await t.api(`/api/approvals/${p.id}`)).json()) as { status: string };
      return v.status === 'withdrawn' ? v : null;
    });
    expect(gone.status).toBe('withdrawn');
    // Its one row (opened as the stream began), closed as a hang-up is: charged what the answer used.
    const row = await until(() => {
      const r = sqliteOf(t.rt.state).prepare("SELECT status, cost_micros AS costMicros FROM llm_requests WHERE id > ? AND status != 'pending'").all(last) as any[];
      return r.length > 0 ? r : null;
    });
    expect(row).toEqual([{ status: 'aborted', costMicros: expect.any(Number) }]);
    expect(row[0].costMicros).toBeGreaterThan(0);
    const budget = await until(async () => {
      const b = (await (await t.api(`/api/agents/${a.agentId}/budget`)).json()) as { reservedUsd: number };
      return b.reservedUsd === 0 ? b : null;
    });
    expect(budget.reservedUsd).toBe(0);
  });
});
