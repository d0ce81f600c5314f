import type { SseEvent } from '../../../core/sse.js';
import { openaiWire } from '../openai/wire.js';
import { responsesLimitOutput, responsesOutput, responsesPrompt } from './request.js';
import { PARTS, partIndex, ResponsesStream, textDelta } from './stream.js';
import { validateResponses } from './validate.js';
import { ResponsesToolStream, responsesToolCalls, withholdResponse } from './tools.js';
import { otherStrings } from '../strings.js';
import type { StreamInspection, TextSlot, Usage, Wire } from '../types.js';
import { count, knownUsage } from '../usage.js';

/** A refusal part's key: its text is a stream of its own, told apart from output_text's. */
const refusalKey = (index: number) => `r${index}`;
/** Reasoning summary `summary`'s key, and a custom tool call's input's: streams of their own too. */
const summaryKey = (index: number, summary: number) => `s${summary}:${index}`;
const inputKey = (index: number) => `u${index}`;

/**
 * The output_text and refusal parts and the function calls' arguments of a response's `output`,
 * as slots; `output_text` (if present) follows the text parts.
 */
function outputSlots(r: any): TextSlot[] {
  const out: TextSlot[] = [];
  const items = Array.isArray(r?.output) ? r.output : [];
  items.forEach((it: any, oi: number) => {
    if (it?.type === 'function_call' && typeof it.arguments === 'string') {
      out.push({ index: partIndex(oi, 0), kind: 'json', text: it.arguments, set: (t) => (it.arguments = t) });
      otherStrings(it, partIndex(oi, 0), out, ['arguments']);
      return;
    }
    // Custom tool calls, reasoning summaries, item types not known yet: every string, whole.
    if (it?.type !== 'message' || !Array.isArray(it.content)) {
      otherStrings(it, partIndex(oi, 0), out);
      return;
    }
    it.content.forEach((p: any, ci: number) => {
      if (p?.type === 'refusal' && typeof p.refusal === 'string') out.push({ index: partIndex(oi, ci), key: refusalKey(partIndex(oi, ci)), text: p.refusal, set: (t) => (p.refusal = t) });
      else if (p?.type !== 'output_text') otherStrings(p, partIndex(oi, ci), out);
      if (p?.annotations) otherStrings(p.annotations, partIndex(oi, ci), out);
      if (p?.type !== 'output_text' || typeof p.text !== 'string') return;
      out.push({
        index: partIndex(oi, ci),
        text: p.text,
        set: (t) => {
          p.text = t;
          // The SDK's convenience field, when a provider sends it, must agree with the parts.
          if (typeof r.output_text === 'string') r.output_text = joinText(r);
        },
      });
    });
  });
  return out;
}

/** Where a reasoning summary's or custom tool input's piece belongs: its item's index and its own stream. */
function keyed(json: any): { index: number; key: string } {
  const index = partIndex(json.output_index ?? 0, 0);
  return { index, key: json.type.startsWith('response.custom') ? inputKey(index) : summaryKey(index, json.summary_index ?? 0) };
}

function joinText(r: any): string {
  let s = '';
  for (const it of r.output) if (it?.type === 'message' && Array.isArray(it.content)) for (const p of it.content) if (p?.type === 'output_text') s += p.text;
  return s;
}

/** A response's usage block, whole or on `response.completed` (and its incomplete and failed kin). */
function usageOf(u: any): Partial<Usage> {
  if (!u || typeof u !== 'object') return {};
  return knownUsage(count(u.input_tokens), count(u.output_tokens), count(u.input_tokens_details?.cached_tokens));
}

/**
 * OpenAI's Responses API (`POST /v1/responses`): OpenAI's errors and statuses, its own body
 * checks, usage in `input_tokens`/`output_tokens`, and text in output_text parts. A stream is
 * typed events; every `*.done` event and `response.completed` repeat the whole text, so they
 * are `finals` the relay rewrites to what the agent was sent, and a held-back tail goes out as
 * one more numbered delta before the part's `output_text.done`.
 */
export { partIndex };

export const responsesWire: Wire = {
  name: 'openai',
  error: openaiWire.error,

  validate(endpoint, b) {
    return openaiWire.validate(endpoint, b) ?? validateResponses(b);
  },

  prompt: (_endpoint, b) => responsesPrompt(b),
  output: (_endpoint, b) => responsesOutput(b),
  limitOutput: (_endpoint, b, perChoice) => responsesLimitOutput(b, perChoice),

  usage: (json) => usageOf(json?.usage),

  textSlots: (json) => outputSlots(json),

  inspect(_ev: SseEvent, json): StreamInspection {
    const res: StreamInspection = { slots: [], ends: [], last: false };
    if (!json || typeof json !== 'object') return res;
    if (typeof json.sequence_number === 'number') res.seq = { n: json.sequence_number, set: (n) => (json.sequence_number = n) };
    switch (json.type) {
      case 'response.output_text.delta':
        if (typeof json.delta === 'string') res.slots.push({ index: partIndex(json.output_index ?? 0, json.content_index ?? 0), text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.refusal.delta':
        if (typeof json.delta === 'string') {
          const index = partIndex(json.output_index ?? 0, json.content_index ?? 0);
          res.slots.push({ index, key: refusalKey(index), text: json.delta, set: (t) => (json.delta = t) });
        }
        break;
      case 'response.function_call_arguments.delta':
        if (typeof json.delta === 'string') res.slots.push({ index: partIndex(json.output_index ?? 0, 0), kind: 'json', text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.reasoning_summary_text.delta':
      case 'response.custom_tool_call_input.delta':
        if (typeof json.delta === 'string') res.slots.push({ ...keyed(json), text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.reasoning_summary_text.done':
      case 'response.custom_tool_call_input.done': {
        const oi = json.output_index ?? 0;
        const field = json.type === 'response.custom_tool_call_input.done' ? 'input' : 'text';
        const final = { ...keyed(json), text: json[field], set: (t: string) => (json[field] = t) };
        res.ends.push({ index: final.index, attach: (t, seq, slot) => textDelta(json.item_id, oi, 0, t, seq, slot) });
        if (typeof final.text === 'string') res.finals = [final];
        break;
      }
      case 'response.reasoning_summary_part.done': {
        const p = json.part;
        if (typeof p?.text === 'string') res.finals = [{ ...keyed(json), text: p.text, set: (t) => (p.text = t) }];
        break;
      }
      case 'response.output_text.done':
      case 'response.refusal.done':
      case 'response.function_call_arguments.done': {
        const oi = json.output_index ?? 0;
        const ci = json.content_index ?? 0;
        const index = partIndex(oi, ci);
        res.ends.push({ index, attach: (t, seq, slot) => textDelta(json.item_id, oi, ci, t, seq, slot) });
        const field = json.type === 'response.output_text.done' ? 'text' : json.type === 'response.refusal.done' ? 'refusal' : 'arguments';
        const final: TextSlot = { index, text: json[field], set: (t) => (json[field] = t) };
        if (field === 'refusal') final.key = refusalKey(index);
        if (field === 'arguments') final.kind = 'json';
        if (typeof final.text === 'string') res.finals = [final];
        break;
      }
      case 'response.content_part.done': {
        const p = json.part;
        const index = partIndex(json.output_index ?? 0, json.content_index ?? 0);
        if (p?.type === 'output_text' && typeof p.text === 'string') res.finals = [{ index, text: p.text, set: (t) => (p.text = t) }];
        if (p?.type === 'refusal' && typeof p.refusal === 'string') res.finals = [{ index, key: refusalKey(index), text: p.refusal, set: (t) => (p.refusal = t) }];
        break;
      }
      case 'response.content_part.added':
      case 'response.output_item.added':
      case 'response.output_item.done': {
        // An item (or part) can arrive whole here with no deltas before it: read whenever it has text.
        const output_index = json.output_index ?? 0;
        const item = json.type === 'response.content_part.added' ? { type: 'message', content: [...Array(json.content_index ?? 0), json.part] } : json.item;
        const slots = outputSlots({ output: [item] });
        const shift = output_index * PARTS;
        res.finals = slots.map((s) => ({ ...s, index: s.index + shift, ...(typeof s.key === 'string' && s.key.startsWith('r') ? { key: refusalKey(s.index + shift) } : {}) }));
        break;
      }
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed': {
        if (json.response?.usage) res.usage = usageOf(json.response.usage);
        if (json.type !== 'response.failed' && json.response) res.answer = json.response;
        res.finals = outputSlots(json.response);
        // A failed response's error can quote the prompt or the answer.
        if (json.response?.error) otherStrings(json.response.error, 0, res.finals);
        res.last = true;
        break;
      }
      default:
        // `error`, types not known yet.
        res.finals = otherStrings(json, partIndex(json.output_index ?? 0, json.content_index ?? 0), []);
    }
    return res;
  },

  stream: (ctx) => new ResponsesStream(responsesWire, ctx),

  toolCalls: (_endpoint, json) => responsesToolCalls(json),
  withhold: withholdResponse,
  toolStream: () => new ResponsesToolStream(),
};
