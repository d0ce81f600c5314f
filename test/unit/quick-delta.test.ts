import { describe, expect, it } from 'vitest';
import { quickDelta, responsesWire } from '../../src/gateway/wire/responses.js';

const T = 'response.output_text.delta';
const delta = (extra: object = {}, order: 'openai' | 'seq-last' = 'openai') =>
  JSON.stringify(
    order === 'openai'
      ? { type: T, sequence_number: 7, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello', logprobs: [], ...extra }
      : { type: T, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello', logprobs: [], ...extra, sequence_number: 7 },
  );

const QUICK = [
  delta(),
  delta({}, 'seq-last'),
  delta({ delta: ' wörld ☕ ' }),
  delta({ delta: 'say "hi"\nthen \\ go \u2028' }),
  delta({ output_index: 3, content_index: 2 }),
  delta({ obfuscation: 'aZ09+/', logprobs: null, extra: true, other: false, n: 1.5e3 }),
  JSON.stringify({ type: T, delta: 'no numbers at all' }),
  `{"type":"${T}","__proto__":"a","constructor":1,"delta":"b","toString":"\\u0041"}`,
  JSON.stringify({ type: T, sequence_number: 1, item_id: 'm', output_index: 0, content_index: 0, delta: 'x' }, null, 2),
];
const SLOW = [
  delta({ logprobs: [{ token: 'Hello', logprob: -0.1 }] }),
  delta({ type: 'response.refusal.delta' }),
  JSON.stringify({ type: 'response.output_text.done', item_id: 'm', output_index: 0, content_index: 0, text: 'Hello' }),
  `{"type":"${T}","delta":"a","delta":"b"}`,
  `{"type":"${T}","\\u0064elta":"a","delta":"b"}`,
  `{"type":"${T}","delta":"a","sequence_number":1.0}`,
  `{"type":"${T}","delta":"a","sequence_number":1e2}`,
  `{"type":"${T}","delta":"a","sequence_number":-1}`,
  `{"type":"${T}","delta":"a","output_index":01}`,
  `{"type":"${T}","delta":"a","output_index":null}`,
  `{"type":"${T}","delta":null}`,
  `{"type":"${T}","delta":"a","meta":{"x":1}}`,
  `{"type":"${T}","delta":"a"} mail me at ann@example.com`,
  `{"type":"${T}","delta":"a\u0001"}`,
  `{"type":"${T}","delta":"a`,
  `{"type":"${T}"}`,
  '[DONE]',
  '',
];

const shape = (i: ReturnType<typeof responsesWire.inspect>) => ({
  slots: i.slots.map((s) => [s.index, s.key, s.kind, s.text]),
  ends: i.ends.map((e) => e.index),
  usage: i.usage,
  last: i.last,
  seq: i.seq?.n,
  finals: (i.finals ?? []).map((s) => s.text),
});
const full = (data: string) => responsesWire.inspect({ raw: `event: ${T}\ndata: ${data}\n\n`, event: T, data }, JSON.parse(data));

describe('quickDelta (a Responses text delta read without JSON.parse)', () => {
  it('reads a plain text delta as the wire would, and leaves its bytes alone until something is set', () => {
    for (const data of QUICK) {
      const q = quickDelta(data);
      expect(q, data).not.toBeNull();
      expect(shape(q!.inspection)).toEqual(shape(full(data)));
      expect(q!.data()).toBe(data);
    }
  });

  it('rewrites the delta and the sequence number it is given, in either order, escaping what the new text needs', () => {
    for (const data of QUICK) {
      for (const [text, n] of [
        ['[EMAIL] said "ok"\n', 12],
        [null, 9],
        ['x', null],
      ] as const) {
        const q = quickDelta(data)!;
        if (text !== null) q.inspection.slots[0]!.set(text);
        if (n !== null && q.inspection.seq) q.inspection.seq.set(n);
        const want = JSON.parse(data);
        if (text !== null) want.delta = text;
        if (n !== null && 'sequence_number' in want) want.sequence_number = n;
        expect(JSON.parse(q.data()), data).toEqual(want);
      }
    }
  });

  it('declines everything else (tokens in logprobs, other types, a member twice or spelled with an escape, numbers that are not plain integers, objects, text after the JSON, broken JSON), which the wire then reads in full', () => {
    for (const data of SLOW) expect(quickDelta(data), data).toBeNull();
  });

  it('never reads a delta differently from JSON.parse, for every cut of a real event (the bytes as they come)', () => {
    const data = delta({ delta: 'Ann "A." <ann@example.com>\t\\o/' });
    for (let i = 0; i <= data.length; i++) {
      for (const s of [data.slice(0, i), data.slice(i), data.slice(0, i) + data.slice(i + 1)]) {
        const q = quickDelta(s);
        if (q === null) continue;
        const json = JSON.parse(s);
        expect(shape(q.inspection), s).toEqual(shape(responsesWire.inspect({ raw: '', event: T, data: s }, json)));
      }
    }
  });
});
