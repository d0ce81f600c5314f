import { describe, expect, it } from 'vitest';
import { type QuickMemo, quickChatChunk } from '../../src/gateway/wire/openai/quick.js';
import { quickResponsesDelta, withSeq } from '../../src/gateway/wire/responses/quick.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { partIndex, responsesWire } from '../../src/gateway/wire/responses/wire.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', system_fingerprint: 'fp_1' };
const chunk = (choices: unknown[], extra: object = {}) => JSON.stringify({ ...base, ...extra, choices });
const text = (content: string, more: object = {}) => ({ index: 0, delta: { content }, logprobs: null, finish_reason: null, ...more });

const QUICK = [
  chunk([text('Hello')]),
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
  chunk([text(' wörld ☕ ')], { usage: null }),
  chunk([text('a')], { service_tier: 'default', obfuscation: 'aZ09+/' }),
];
const SLOW = [
  chunk([text('bye', { finish_reason: 'stop' })]),
  chunk([], { usage: { prompt_tokens: 3, completion_tokens: 2 } }),
  chunk([text('a'), { ...text('b'), index: 1 }]),
  chunk([text('say "hi"')]),
  chunk([text('line\nbreak')]),
  chunk([{ index: 0, delta: { content: 'x', tool_calls: [{ index: 0, function: { arguments: '{}' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"content":"x"}' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: { refusal: 'no' }, finish_reason: null }]),
  chunk([{ index: 0, text: 'completion', finish_reason: null }]),
  chunk([{ index: 2, delta: { content: 'x' }, finish_reason: null }]),
  JSON.stringify({ ...base, choices: [text('x')] }, null, 1),
  chunk([text('a')], { obfuscation: 'x\\"y' }),
  `${chunk([text('a')])} mail me at ann@example.com`,
  JSON.stringify({ choices: [text('a')], usage: { prompt_tokens: 3, completion_tokens: 2 } }),
  JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 2 }, choices: [text('a')] }),
  chunk([text('a')], { error: 'mail ann@example.com' }),
  chunk([text('a')], { citations: 'https://example.com/ann' }),
  '[DONE]',
];

/** What the relay needs from an inspection: the slots' texts, the ends, usage and the last flag. */
const shape = (i: ReturnType<typeof openaiWire.inspect>) => ({
  slots: i.slots.map((s) => [s.index, s.text]),
  ends: i.ends.map((e) => e.index),
  usage: i.usage,
  last: i.last,
  finals: (i.finals ?? []).map((s) => s.text),
  seq: i.seq?.n,
});

describe('quickChatChunk', () => {
  it('reads a text-only chat chunk as the wire would, and leaves its bytes alone until the text is set', () => {
    for (const data of QUICK) {
      const q = quickChatChunk(data);
      expect(q, data).not.toBeNull();
      expect(shape(q!.inspection)).toEqual(shape(openaiWire.inspect({ raw: `data: ${data}\n\n`, event: null, data }, JSON.parse(data))));
      expect(q!.data()).toBe(data);
    }
  });

  it('rewrites only the text when it is set, escaping what the new text needs', () => {
    for (const data of QUICK) {
      const q = quickChatChunk(data)!;
      q.inspection.slots[0]!.set('[EMAIL] said "ok"\n');
      const want = JSON.parse(data);
      want.choices[0].delta.content = '[EMAIL] said "ok"\n';
      expect(JSON.parse(q.data())).toEqual(want);
    }
  });

  it('declines everything else (a finish, usage, several choices, escapes, tool calls, refusals, completions, spaced JSON, text after the JSON, a string that is not structural), which the wire then reads in full', () => {
    for (const data of SLOW) expect(quickChatChunk(data), data).toBeNull();
  });

  it('answers the same with a stream’s memo as without, whatever came before (a head it passed is not read again, any other head is)', () => {
    const all = [...QUICK, ...SLOW];
    // Every chunk after every other, so a remembered head meets every head that differs from it.
    const memo: QuickMemo = {};
    for (const before of all) {
      for (const data of all) {
        quickChatChunk(before, memo);
        const q = quickChatChunk(data, memo);
        const fresh = quickChatChunk(data);
        expectIs(q === null, fresh === null, `${before} then ${data}`);
        if (q && fresh) {
          expectEqual(shape(q.inspection), shape(fresh.inspection));
          expectIs(q.data(), fresh.data());
        }
      }
    }
    // A head with a provider's own string after a plain one with the same fields: still declined.
    const plain = chunk([text('a')]);
    const odd = chunk([text('a')], { citations: 'https://example.com/ann' });
    const m: QuickMemo = {};
    expect(quickChatChunk(plain, m)).not.toBeNull();
    expect(quickChatChunk(odd, m)).toBeNull();
  });

  it('is never wrong where it answers: any cut of a real chunk is declined, or is JSON read as the wire reads it', () => {
    for (const data of [...QUICK, ...SLOW]) {
      for (let cut = 1; cut < data.length; cut++) {
        const d = data.slice(0, cut) + data.slice(cut + 1);
        const q = quickChatChunk(d);
        if (!q) continue;
        // Only whole JSON is read quickly: the relay scans anything else whole, as text.
        const parsed: unknown = JSON.parse(d);
        expectEqual(shape(q.inspection), shape(openaiWire.inspect({ raw: '', event: null, data: d }, parsed)), d);
      }
    }
  });
});

const rdelta = (delta: unknown, extra: object = {}) =>
  JSON.stringify({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta, logprobs: [], sequence_number: 5, ...extra });
/** As OpenAI writes them: the number second, the padding last. */
const openaiDelta = (delta: string) =>
  JSON.stringify({ type: 'response.output_text.delta', sequence_number: 12, item_id: 'msg_1', output_index: 2, content_index: 1, delta, logprobs: [], obfuscation: 'aZ09+/' });
const RQUICK = [rdelta('Hello'), rdelta(' wörld ☕ '), rdelta(''), openaiDelta('x'), rdelta('a', { output_index: null }), rdelta('a', { sequence_number: 123456789 })];
const RSLOW = [
  rdelta('say "hi"'),
  rdelta('line\nbreak'),
  rdelta('a', { logprobs: [{ token: 'a', logprob: -0.1 }] }),
  rdelta('a', { extra: 'mail ann@example.com' }),
  rdelta('a', { obfuscation: 'x\\"y' }),
  rdelta(5),
  JSON.stringify({ type: 'response.output_text.delta', delta: 'a', nested: { delta: 'b' } }),
  JSON.stringify({ type: 'response.refusal.delta', output_index: 0, content_index: 0, delta: 'no' }),
  JSON.stringify({ item_id: 'm', type: 'response.output_text.delta', delta: 'a' }),
  JSON.stringify(JSON.parse(rdelta('a')), null, 1),
  `${rdelta('a')} ann@example.com`,
  '{"type":"response.output_text.delta","delta":"a","delta":"ann@example.com"}',
];
const rinspect = (data: string) => responsesWire.inspect({ raw: '', event: 'response.output_text.delta', data }, JSON.parse(data));

describe('quickResponsesDelta', () => {
  it('reads a plain text delta as the wire would (its part, its text, its number), and leaves its bytes alone until something is set', () => {
    for (const data of RQUICK) {
      const q = quickResponsesDelta(data, partIndex);
      expect(q, data).not.toBeNull();
      expect(shape(q!.inspection)).toEqual(shape(rinspect(data)));
      expect(q!.data()).toBe(data);
    }
  });

  it('rewrites the text and the number in place, escaping what the new text needs', () => {
    for (const data of RQUICK) {
      const q = quickResponsesDelta(data, partIndex)!;
      q.inspection.slots[0]!.set('[EMAIL] said "ok"\n "sequence_number":1');
      q.inspection.seq!.set(77);
      expect(JSON.parse(q.data())).toEqual({ ...JSON.parse(data), delta: '[EMAIL] said "ok"\n "sequence_number":1', sequence_number: 77 });
      const only = quickResponsesDelta(data, partIndex)!;
      only.inspection.seq!.set(6);
      expect(only.data()).toBe(data.replace(/"sequence_number":\d+/, '"sequence_number":6'));
    }
  });

  it('declines everything else (escapes, tokens, strings that are not structural, a nested or repeated delta, other types, spaced JSON, text after the JSON)', () => {
    for (const data of RSLOW) expect(quickResponsesDelta(data, partIndex), data).toBeNull();
  });

  it('is never wrong where it answers: any cut of a delta is declined, or is JSON read as the wire reads it', () => {
    for (const data of [...RQUICK, ...RSLOW]) {
      for (let cut = 1; cut < data.length; cut++) {
        const d = data.slice(0, cut) + data.slice(cut + 1);
        const q = quickResponsesDelta(d, partIndex);
        if (!q) continue;
        expectEqual(shape(q.inspection), shape(rinspect(d)), d);
      }
    }
  });
});

describe('withSeq', () => {
  it('renumbers the one sequence_number in place, and declines where it cannot be sure which or how it is written', () => {
    const ev = JSON.stringify({ type: 'response.completed', response: { id: 'r', output: [] }, sequence_number: 27 });
    expect(withSeq(ev, 27, 28)).toBe(ev.replace('"sequence_number":27', '"sequence_number":28'));
    expect(JSON.parse(withSeq(ev, 27, 28)!)).toEqual({ ...JSON.parse(ev), sequence_number: 28 });
    expect(withSeq(ev, 2, 3)).toBeNull();
    expect(withSeq('{"sequence_number":27,"item":{"sequence_number":27}}', 27, 28)).toBeNull();
    expect(withSeq('{"sequence_number": 27}', 27, 28)).toBeNull();
    expect(withSeq('{"type":"x"}', 27, 28)).toBeNull();
  });
});
