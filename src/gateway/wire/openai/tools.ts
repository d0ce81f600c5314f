import type { SseEvent } from '../../../core/sse.js';
import { eventOf, parsedEvent } from '../stream.js';
import type { AnswerToolCall, Endpoint, ToolCallStream, ToolSight } from '../types.js';

// The tool calls of a chat completion (`message.tool_calls`: functions and custom tools; the
// legacy `function_call`), as the tool policies read them, and a withheld one's place taken by a
// text. A call's key is `<choice>.<k>` (its place in the message, or a streamed piece's `index`),
// `<choice>.f` for the legacy function call.

/** What ends a choice's turn on a tool call: changed to `stop` once none is left. */
const CALLING = new Set(['tool_calls', 'function_call']);

/** A withheld call's text after what the choice said before it. */
const after = (before: string, text: string): string => (before === '' ? text : `${before}\n\n${text}`);

/**
 * A whole chat completion's tool calls.
 * @example chatToolCalls('chat', { choices: [{ index: 0, message: { tool_calls: [{ type: 'function', function: { name: 'shell', arguments: '{"command":["ls"]}' } }] } }] }) // [{ key: '0.0', name: 'shell', args: { text: '{"command":["ls"]}', form: 'json' } }]
 */
export function chatToolCalls(endpoint: Endpoint, json: any): AnswerToolCall[] {
  if (endpoint !== 'chat' || !Array.isArray(json?.choices)) return [];
  const out: AnswerToolCall[] = [];
  json.choices.forEach((c: any, pos: number) => {
    const i = typeof c?.index === 'number' ? c.index : pos;
    const m = c?.message;
    if (!m || typeof m !== 'object') return;
    if (Array.isArray(m.tool_calls))
      m.tool_calls.forEach((tc: any, k: number) => {
        const call = callOf(tc);
        if (call) out.push({ key: `${i}.${k}`, ...call });
      });
    const f = m.function_call;
    if (typeof f?.name === 'string') out.push({ key: `${i}.f`, name: f.name, args: { text: argText(f.arguments), form: 'json' } });
  });
  return out;
}

function callOf(tc: any): Omit<AnswerToolCall, 'key'> | null {
  if (typeof tc?.function?.name === 'string') return { name: tc.function.name, args: { text: argText(tc.function.arguments), form: 'json' } };
  if (typeof tc?.custom?.name === 'string') return { name: tc.custom.name, args: { text: typeof tc.custom.input === 'string' ? tc.custom.input : '', form: 'input' } };
  return null;
}

const argText = (a: unknown): string => (typeof a === 'string' ? a : JSON.stringify(a ?? null));

/** A whole chat completion with the calls `texts` names replaced by their texts, after the message's own. */
export function withholdChat(json: any, texts: ReadonlyMap<string, string>): void {
  if (!Array.isArray(json?.choices)) return;
  json.choices.forEach((c: any, pos: number) => {
    const i = typeof c?.index === 'number' ? c.index : pos;
    const m = c?.message;
    if (!m || typeof m !== 'object') return;
    const said: string[] = [];
    if (Array.isArray(m.tool_calls)) {
      m.tool_calls = m.tool_calls.filter((_tc: unknown, k: number) => {
        const t = texts.get(`${i}.${k}`);
        if (t !== undefined) said.push(t);
        return t === undefined;
      });
      if (m.tool_calls.length === 0) delete m.tool_calls;
    }
    const f = texts.get(`${i}.f`);
    if (f !== undefined && m.function_call) {
      said.push(f);
      delete m.function_call;
    }
    if (said.length === 0) return;
    const text = said.join('\n\n');
    if (Array.isArray(m.content)) m.content.push({ type: 'text', text });
    else m.content = after(typeof m.content === 'string' ? m.content : '', text);
    if (m.tool_calls === undefined && m.function_call === undefined && CALLING.has(c.finish_reason)) c.finish_reason = 'stop';
  });
}

/**
 * A chat completion stream's tool calls: each opens with a piece that names it (its `index`, `id`
 * and name) and runs on in argument pieces until its choice's `finish_reason`. A withheld call's
 * pieces are dropped, its text put where it opened, the choice's later calls renumbered so the
 * agent's indices stay dense, and a choice left with no call finishes with `stop`.
 */
export class ChatToolStream implements ToolCallStream {
  /** Calls followed (a rule could decide them) that have not finished. */
  private readonly open = new Set<string>();
  /** Each choice's calls in the order they opened (their streamed `index`, `f` for the legacy function call). */
  private readonly opened = new Map<number, string[]>();
  private readonly withheld = new Map<string, string>();
  /** Withheld calls whose text went out. */
  private readonly said = new Set<string>();
  /** Whether the answer said something before (a piece of text): a withheld call's text then starts a paragraph of its own. */
  private spoke = false;

  see(ev: SseEvent): ToolSight | null {
    if (!this.spoke) this.spoke = saysText(ev.data);
    // With no call followed, only a piece that names a call (one opening) is read.
    if (this.open.size === 0 && !(mentionsCalls(ev.data) && ev.data.includes('"name"'))) return null;
    const json = parsedEvent(ev);
    if (!Array.isArray(json?.choices)) return null;
    const sight: Required<Pick<ToolSight, 'opens' | 'pieces' | 'closes'>> = { opens: [], pieces: [], closes: [] };
    json.choices.forEach((c: any, pos: number) => {
      const i = typeof c?.index === 'number' ? c.index : pos;
      const d = c?.delta;
      if (d && typeof d === 'object') {
        if (Array.isArray(d.tool_calls))
          d.tool_calls.forEach((tc: any, p: number) => {
            const k = String(typeof tc?.index === 'number' ? tc.index : p);
            const custom = tc?.custom !== undefined && tc?.function === undefined;
            const fn = custom ? tc.custom : tc?.function;
            this.piece(sight, i, k, fn?.name, custom ? fn?.input : fn?.arguments, custom ? 'input' : 'json');
          });
        if (d.function_call && typeof d.function_call === 'object') this.piece(sight, i, 'f', d.function_call.name, d.function_call.arguments, 'json');
      }
      if (c?.finish_reason)
        for (const key of this.open)
          if (key.startsWith(`${i}.`)) {
            sight.closes.push({ key });
            this.open.delete(key);
          }
    });
    return sight.opens.length + sight.pieces.length + sight.closes.length > 0 ? sight : null;
  }

  private piece(sight: Required<Pick<ToolSight, 'opens' | 'pieces' | 'closes'>>, choice: number, k: string, name: unknown, text: unknown, form: 'json' | 'input'): void {
    const key = `${choice}.${k}`;
    let order = this.opened.get(choice);
    if (!order?.includes(k) && typeof name === 'string' && name !== '') {
      if (!order) this.opened.set(choice, (order = []));
      order.push(k);
      this.open.add(key);
      sight.opens.push({ key, name, form });
    }
    if (typeof text === 'string' && text !== '') sight.pieces.push({ key, text });
  }

  ignore(key: string): void {
    this.open.delete(key);
  }

  withhold(key: string, text: string): void {
    this.withheld.set(key, text);
  }

  rewrite(ev: SseEvent): SseEvent[] {
    // A finish on a tool call names "tool_calls" too: every event a withheld call changes mentions calls.
    if (this.withheld.size === 0 || !mentionsCalls(ev.data)) return [ev];
    const json = parsedEvent(ev);
    if (!Array.isArray(json?.choices)) return [ev];
    const had = json.choices.length;
    let changed = false;
    json.choices = json.choices.filter((c: any, pos: number) => {
      const i = typeof c?.index === 'number' ? c.index : pos;
      const d = c?.delta;
      let emptied = false;
      if (d && typeof d === 'object') {
        if (Array.isArray(d.tool_calls)) {
          d.tool_calls = d.tool_calls.filter((tc: any, p: number) => {
            const k = String(typeof tc?.index === 'number' ? tc.index : p);
            if (this.dropped(d, `${i}.${k}`)) return false;
            // The agent sees the calls left numbered 0, 1, … as if the withheld ones never were.
            const dense = this.delivered(i, k);
            if (typeof tc?.index === 'number' && tc.index !== dense) tc.index = dense;
            return true;
          });
          if (d.tool_calls.length === 0) {
            delete d.tool_calls;
            emptied = true;
          }
          changed = true;
        }
        if (d.function_call && this.dropped(d, `${i}.f`)) {
          delete d.function_call;
          emptied = changed = true;
        }
      }
      if (CALLING.has(c?.finish_reason) && this.delivered(i, null) === 0) {
        c.finish_reason = 'stop';
        changed = true;
      }
      // A piece that only carried a withheld call's arguments is nothing now.
      return !(emptied && !c.finish_reason && Object.keys(d).length === 0);
    });
    if (!changed) return [ev];
    if (had > 0 && json.choices.length === 0 && !json.usage) return [];
    return [eventOf(json, ev.event)];
  }

  /** Whether the call is withheld (its pieces go); its text goes into `d` the first time. */
  private dropped(d: any, key: string): boolean {
    const text = this.withheld.get(key);
    if (text === undefined) return false;
    if (!this.said.has(key)) {
      this.said.add(key);
      const before = typeof d.content === 'string' ? d.content : '';
      d.content = before === '' && this.spoke ? `\n\n${text}` : after(before, text);
    }
    return true;
  }

  /** How many of a choice's calls the agent gets before `k` (all of them: `k` null). */
  private delivered(choice: number, k: string | null): number {
    let n = 0;
    for (const x of this.opened.get(choice) ?? []) {
      if (x === k) break;
      if (!this.withheld.has(`${choice}.${x}`)) n++;
    }
    return n;
  }
}

/** Whether a chunk carries a piece of text (`"content":"` and not an empty one), read without JSON.parse: sound enough for where a paragraph starts. */
function saysText(data: string): boolean {
  const at = data.indexOf('"content":"');
  return at !== -1 && data.charCodeAt(at + 11) !== 34;
}

/** Whether a chunk's text names a tool call at all (its pieces, or a finish on one). */
const mentionsCalls = (data: string): boolean => data.includes('"tool_calls"') || data.includes('"function_call"');
