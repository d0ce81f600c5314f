import type { SseEvent } from '../../../core/sse.js';
import { AnthropicStream, blockDelta, thinkingKey } from './stream.js';
import { anthropicLimitOutput, anthropicOutput, anthropicPrompt } from './request.js';
import { MessagesToolStream, messagesToolCalls, withholdMessages } from './tools.js';
import { MAX_OUTPUT_TOKENS } from '../openai/wire.js';
import { otherStrings } from '../strings.js';
import { anthropicNumber, anthropicParamsProblem } from '../params.js';
import type { Endpoint, ErrorKind, StreamInspection, TextSlot, Usage, Wire } from '../types.js';
import { count, knownUsage } from '../usage.js';

const TYPE: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  auth: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  too_large: 'request_too_large',
  budget: 'billing_error',
  rate_limit: 'rate_limit_error',
  upstream: 'api_error',
  unavailable: 'overloaded_error',
  timeout: 'timeout_error',
  blocked: 'invalid_request_error',
};

/**
 * An Anthropic usage block: a whole message's, message_start's (its output_tokens a running
 * count) or message_delta's (cumulative; input counts only where the provider repeats them). The
 * prompt is the uncached input plus the cache's reads and writes, which Anthropic counts apart.
 */
function usageOf(u: any): Partial<Usage> {
  if (!u || typeof u !== 'object') return {};
  const input = count(u.input_tokens);
  const read = count(u.cache_read_input_tokens);
  const write = count(u.cache_creation_input_tokens);
  return knownUsage(input === undefined ? undefined : input + (read ?? 0) + (write ?? 0), count(u.output_tokens), read, write);
}

export const anthropicWire: Wire = {
  name: 'anthropic',

  error(status, kind, message) {
    return { status, body: JSON.stringify({ type: 'error', error: { type: TYPE[kind], message } }) };
  },

  validate(_endpoint: Endpoint, b) {
    if (b.model === undefined) return 'model: Field required';
    if (typeof b.model !== 'string' || b.model.trim() === '') return 'model: Input should be a non-empty string';
    if (b.max_tokens === undefined) return 'max_tokens: Field required';
    const maxTokens = anthropicNumber(b, 'max_tokens', 1, MAX_OUTPUT_TOKENS, true);
    if (maxTokens) return maxTokens;
    if (b.messages === undefined) return 'messages: Field required';
    if (!Array.isArray(b.messages)) return 'messages: Input should be a valid list';
    if (b.messages.length === 0) return 'messages: List should have at least 1 item after validation, not 0';
    for (let i = 0; i < b.messages.length; i++) {
      const m = b.messages[i] as Record<string, unknown> | null;
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return `messages.${i}: Input should be a valid dictionary`;
      if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
      if (typeof m.content !== 'string' && !Array.isArray(m.content)) return `messages.${i}.content: Input should be a valid string or list`;
    }
    if (b.stream !== undefined && typeof b.stream !== 'boolean') return 'stream: Input should be a valid boolean';
    if (b.system !== undefined && typeof b.system !== 'string' && !Array.isArray(b.system)) return 'system: Input should be a valid string or list';
    return anthropicParamsProblem(b);
  },

  prompt: (_endpoint, b) => anthropicPrompt(b),
  output: (_endpoint, b) => anthropicOutput(b),
  limitOutput: (_endpoint, b, perChoice) => anthropicLimitOutput(b, perChoice),

  usage: (json) => usageOf(json?.usage),

  textSlots(json): TextSlot[] {
    const out: TextSlot[] = [];
    const blocks = Array.isArray(json?.content) ? json.content : [];
    blocks.forEach((b: any, index: number) => {
      if (b?.type === 'text' && typeof b.text === 'string') {
        out.push({ index, text: b.text, set: (t) => (b.text = t) });
        if (b.citations) otherStrings(b.citations, index, out);
      } else if (b && b.input !== undefined && typeof b.input === 'object') {
        // tool_use, server_tool_use, mcp_tool_use: the input as JSON, the rest (a name) as text.
        out.push(inputSlot(index, b));
        otherStrings(b, index, out, ['input']);
      } else otherStrings(b, index, out); // thinking, results, types not known yet: every string
    });
    return out;
  },

  inspect(ev: SseEvent, json): StreamInspection {
    const res: StreamInspection = { slots: [], ends: [], last: false };
    if (!json || typeof json !== 'object') return res;
    switch (json.type) {
      case 'message_start':
        if (json.message?.usage) {
          // Its output_tokens counts nothing produced yet (it opens at 1): the answer's count
          // comes with message_delta, or, if none does, from the text relayed.
          const { completionTokens: _, ...prompt } = usageOf(json.message.usage);
          res.usage = prompt;
        }
        break;
      case 'message_delta':
        if (json.usage) res.usage = usageOf(json.usage);
        break;
      case 'content_block_delta': {
        const d = json.delta;
        if (d?.type === 'text_delta' && typeof d.text === 'string') res.slots.push({ index: json.index ?? 0, text: d.text, set: (t) => (d.text = t) });
        else if (d?.type === 'input_json_delta' && typeof d.partial_json === 'string') res.slots.push({ index: json.index ?? 0, kind: 'json', text: d.partial_json, set: (t) => (d.partial_json = t) });
        // Thinking is a stream of its own: what a piece holds back goes out as thinking too.
        else if (d?.type === 'thinking_delta' && typeof d.thinking === 'string')
          res.slots.push({ index: json.index ?? 0, key: thinkingKey(json.index ?? 0), text: d.thinking, set: (t) => (d.thinking = t) });
        // citations_delta, types not known yet: each piece scanned whole.
        else res.finals = otherStrings(d, json.index ?? 0, []);
        break;
      }
      case 'content_block_start': {
        // Input comes as input_json_delta pieces after an empty `{}`; a provider that sends it here is scanned here.
        const b = json.content_block;
        const index = json.index ?? 0;
        if (b?.input && typeof b.input === 'object' && Object.keys(b.input).length > 0) res.slots.push(inputSlot(index, b));
        // Text a block starts with (a text block's first words, a tool's name, a result).
        res.finals = otherStrings(b, index, [], ['input']);
        break;
      }
      case 'error':
        res.finals = otherStrings(json.error, 0, []);
        break;
      case 'content_block_stop': {
        const index = json.index ?? 0;
        res.ends.push({ index, attach: (t, _seq, slot) => blockDelta(index, t, slot) });
        break;
      }
      case 'message_stop':
        res.last = true;
        break;
      case 'ping':
        break;
      default:
        res.finals = otherStrings(json, 0, []);
    }
    void ev;
    return res;
  },

  stream: (ctx) => new AnthropicStream(anthropicWire, ctx),

  toolCalls: (_endpoint, json) => messagesToolCalls(json),
  withhold: withholdMessages,
  toolStream: () => new MessagesToolStream(),

  modelEntry(m) {
    const created = typeof m.created === 'number' ? m.created : 0;
    return { type: 'model', id: m.id, display_name: m.id, created_at: new Date(created * 1000).toISOString() };
  },
};

/**
 * A tool_use block's input (an object) as the JSON text the guard redacts inside its strings.
 * That text stays valid JSON, so it parses back.
 */
function inputSlot(index: number, b: any): TextSlot {
  return { index, kind: 'json', text: JSON.stringify(b.input), set: (t) => (b.input = JSON.parse(t)) };
}
