import { describe, expect, it } from 'vitest';
import { typesInShortText } from '../../src/domain/pii/index.js';

// A short text an agent chose (an id, a model name, a header) is read for PII whole and number by
// number: what every exported span attribute and metric label passes (observability/exported.ts),
// and what a model name is refused by. The machines' own random ids must pass it: a conversation id
// flagged as a card is exported as [PII_REDACTED], and a trace then no longer says which
// conversation it was (test/observability/trace-pii.test.ts failed so, about once in 1,400 runs).

/** A seeded generator: the same ids on every run. */
function hexOf(seed: number): (n: number) => string {
  let x = seed >>> 0;
  return (n) => {
    let s = '';
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      s += ((x >>> 0) & 15).toString(16);
    }
    return s;
  };
}

describe('the PII in a short text', () => {
  it("passes the machines' random ids of every kind: conversation and response ids, UUIDs, trace ids, completions' ids", () => {
    const hex = hexOf(20261128);
    const kinds: Record<string, () => string> = {
      conversation: () => `conv_${hex(48)}`,
      response: () => `resp_${hex(48)}`,
      uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      'upper-case UUID': () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`.toUpperCase(),
      'trace id': () => hex(32),
      'completion id': () => `cmpl-${hex(32)}`,
    };
    const flagged: string[] = [];
    for (const [kind, make] of Object.entries(kinds)) {
      for (let i = 0; i < 3000; i++) {
        const id = make();
        const types = typesInShortText(id);
        if (types.length > 0) flagged.push(`${kind}: ${id} (${types.join(', ')})`);
      }
    }
    // The ids found flagged before (a run of digits read alone as a card, two UUID groups as a phone).
    for (const id of [
      'conv_7ac22f5bc879673fc806220bfb395054419349873498f04b',
      'conv_1bff7a858c497b60491422706346844b29c6add455334b1e',
      'resp_ceb0e871f49009668b8aaa36166656959605ff0a949bbc1f',
      '4357219966363c3df395e91787a74b31',
      'f0527276-860d-4656-bc88-51142e3d9dac',
      '09e86fc2-1ef0-434f-9526-77204d3b7cca',
    ]) {
      const types = typesInShortText(id);
      if (types.length > 0) flagged.push(`${id} (${types.join(', ')})`);
    }
    expect(flagged).toEqual([]);
  });

  it('still finds the PII an agent wrote into an id, beside one or on its own', () => {
    const cases: Array<[string, string]> = [
      ['resp_123-45-6789', 'SSN'],
      ['conv_4111 1111 1111 1111', 'CREDIT_CARD'],
      ['conv_4111111111111111', 'CREDIT_CARD'],
      ['conv_c4111111111111111', 'CREDIT_CARD'],
      ['card4111111111111111', 'CREDIT_CARD'],
      ['id-ab4111111111111111', 'CREDIT_CARD'],
      ['ab-123-45-6789', 'SSN'],
      ['user_+1 (415) 555-2671', 'PHONE'],
      ['f0527276-860d-4656-bc88-51142e3d9dac-4111111111111111', 'CREDIT_CARD'],
      ['4111111111111111-f0527276-860d-4656-bc88-51142e3d9dac', 'CREDIT_CARD'],
      ['conv_jane@example.com', 'EMAIL'],
      [`conv_${'7ac22f5bc879673f'}-123-45-6789`, 'SSN'],
    ];
    for (const [text, type] of cases) expect(typesInShortText(text), text).toContain(type);
  });
});
