/**
 * A `SimGeneration` in OpenAI's shapes: chat completions and legacy completions, whole or as
 * the SSE events a stream sends (tool calls as `delta.tool_calls` then argument fragments).
 */
import { formatSse } from '../../../core/sse.js';
import type { SimChoice, SimGeneration, SimLogprob } from './types.js';

export interface OpenAiMeta {
  id: string;
  model: string;
  created: number;
  promptTokens: number;
}

const usageOf = (m: OpenAiMeta, g: SimGeneration) => ({ prompt_tokens: m.promptTokens, completion_tokens: g.completionTokens, total_tokens: m.promptTokens + g.completionTokens });

const toolCallsOf = (c: SimChoice) => c.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));

const chatLogprobs = (lp: SimLogprob[] | undefined) => (lp ? { content: lp, refusal: null } : null);

/** Legacy completions' logprobs: parallel arrays, the runners-up as token → logprob maps. */
function textLogprobs(lp: SimLogprob[] | undefined, offset = 0) {
  if (!lp) return null;
  const text_offset: number[] = [];
  let at = offset;
  for (const p of lp) text_offset.push(at), (at += p.token.length);
  return { tokens: lp.map((p) => p.token), token_logprobs: lp.map((p) => p.logprob), top_logprobs: lp.map((p) => Object.fromEntries(p.top_logprobs.map((t) => [t.token, t.logprob]))), text_offset };
}

/**
 * The whole chat completion or text completion body.
 * @example openaiWhole(true, meta, generation).choices[0].message.tool_calls
 */
export function openaiWhole(chat: boolean, m: OpenAiMeta, g: SimGeneration): object {
  const choices = g.choices.map((c, index) =>
    chat
      ? {
          index,
          message: {
            role: 'assistant',
            content: c.toolCalls.length > 0 && c.text === '' ? null : c.text,
            refusal: null,
            ...(c.toolCalls.length > 0 ? { tool_calls: toolCallsOf(c) } : {}),
            annotations: [],
          },
          logprobs: chatLogprobs(c.logprobs),
          finish_reason: c.finish,
        }
      : { index, text: c.text, logprobs: textLogprobs(c.logprobs), finish_reason: c.finish === 'tool_calls' ? 'stop' : c.finish },
  );
  return {
    id: `${chat ? 'chatcmpl' : 'cmpl'}-${m.id}`,
    object: chat ? 'chat.completion' : 'text_completion',
    created: m.created,
    model: m.model,
    choices,
    usage: usageOf(m, g),
    system_fingerprint: null,
  };
}

/**
 * The SSE events of a streamed chat completion or text completion, `[DONE]` included.
 * @example openaiStream(true, meta, generation, false).at(-1) // 'data: [DONE]\n\n'
 */
export function openaiStream(chat: boolean, m: OpenAiMeta, g: SimGeneration, includeUsage: boolean): string[] {
  const base = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${m.id}`, object: chat ? 'chat.completion.chunk' : 'text_completion', created: m.created, model: m.model, system_fingerprint: null };
  const events: string[] = [];
  const chunk = (choice: object) => events.push(formatSse(JSON.stringify({ ...base, choices: [choice] })));
  g.choices.forEach((c, index) => {
    if (chat) {
      const calls = c.toolCalls;
      if (calls.length === 0) chunk({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
      calls.forEach((t, k) => {
        const head = { index: k, id: t.id, type: 'function', function: { name: t.name, arguments: '' } };
        chunk({ index, delta: k === 0 ? { role: 'assistant', content: null, tool_calls: [head] } : { tool_calls: [head] }, logprobs: null, finish_reason: null });
        for (const a of t.argumentPieces ?? [t.arguments]) chunk({ index, delta: { tool_calls: [{ index: k, function: { arguments: a } }] }, logprobs: null, finish_reason: null });
      });
    }
    let offset = 0;
    c.pieces.forEach((p, i) => {
      const lp = c.logprobs?.[i] ? [c.logprobs[i]!] : undefined;
      chunk(chat ? { index, delta: { content: p }, logprobs: chatLogprobs(lp), finish_reason: null } : { index, text: p, logprobs: textLogprobs(lp, offset), finish_reason: null });
      offset += p.length;
    });
    chunk(chat ? { index, delta: {}, logprobs: null, finish_reason: c.finish } : { index, text: '', logprobs: null, finish_reason: c.finish === 'tool_calls' ? 'stop' : c.finish });
  });
  if (includeUsage) events.push(formatSse(JSON.stringify({ ...base, choices: [], usage: usageOf(m, g) })));
  events.push('data: [DONE]\n\n');
  return events;
}
