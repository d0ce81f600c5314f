import { describe, expect, it } from 'vitest';
import { answerText } from '../../src/demo/text.js';
import { countTextTokens } from '../../src/domain/budget/index.js';
import { expectAtMost, expectIs } from '../helpers/cheap-expect.js';

// The demo LLM's answers (src/demo/text.ts): their token count is the sum of their words' counts
// under a BPE tokenizer, never the whole text tokenized. What holds that sum exact is checked here
// against the whole count, for every encoding the demo's models use and the estimate, with and
// without the scenario's PII line ahead of the prose.

const MODELS = ['gpt-4o-mini', 'gpt-4', 'gpt-5', 'claude-sonnet-4-5'];
const PII_LINE = 'Contact: jane.doe@example.com, +1 415 555 0100 (café, 你好, ünïcode) ';

describe('the demo LLM answers', () => {
  it('say their exact token count and fit max_tokens', () => {
    for (const model of MODELS) {
      for (let i = 0; i < 12; i++) {
        for (const max of [0, 1, 2, 3, 7, 160, 1_000 + 233 * i]) {
          for (const insert of [undefined, PII_LINE]) {
            const a = answerText(model, `{"lead":${i},"max":${max}}`, max, insert);
            const whole = countTextTokens(a.text, model);
            expectIs(a.tokens, whole, `${model} ${max} ${insert ?? ''}`);
            const head = insert ? countTextTokens(`${insert}\n\n`, model) : 0;
            if (head <= max) expectAtMost(a.tokens, max);
          }
        }
      }
    }
  });

  it('are the same for the same request, and differ between prompts', () => {
    const a = answerText('gpt-4o-mini', 'lead 1', 300);
    expect(answerText('gpt-4o-mini', 'lead 1', 300)).toBe(a);
    expect(answerText('gpt-4o-mini', 'lead 2', 300).text).not.toBe(a.text);
    expect(a.text).toMatch(/^[A-Z][a-z]+( [a-z]+)+\.$/);
  });
});
