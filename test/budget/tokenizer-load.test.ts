import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it, vi } from 'vitest';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';

const plain = { disallowedSpecial: new Set<string>() };

describe('a BPE table is loaded when a model of its family is first counted', () => {
  it('loads nothing for estimated models, o200k for gpt-4o, cl100k only for gpt-4, and counts exactly', async () => {
    // A fresh copy of the budget module: no count made in this process has loaded a table yet.
    vi.resetModules();
    const budget = await import('../../src/domain/budget/index.js');
    expect(budget.loadedEncodings()).toEqual([]);

    const text = 'Zürich – naïve café, 東京タワー, emoji 🚀 and <|endoftext|> as plain text';
    const prompt = (model: string) => budget.countPromptTokens(model, openaiWire.prompt('chat', { model, messages: [{ role: 'user', content: text }] }));

    // Anthropic and local models are estimated: no table.
    expect(prompt('claude-sonnet-4-20250514').method).toBe('estimate');
    expect(budget.countTextTokens(text, 'llama-3.1-8b')).toBe(budget.estimateTokens(text));
    expect(budget.loadedEncodings()).toEqual([]);

    // The first gpt-4o count loads o200k, and only it.
    expect(budget.countTextTokens(text, 'gpt-4o-mini')).toBe(encodeO200k(text, plain).length);
    expect(budget.loadedEncodings()).toEqual(['o200k_base']);
    // A chat prompt of one user message: its text's tokens and 7 of the format's (as tokens.test.ts).
    expect(prompt('gpt-4o')).toEqual({ tokens: encodeO200k(text, plain).length + 7, method: 'bpe', encoding: 'o200k_base' });
    expect(budget.loadedEncodings()).toEqual(['o200k_base']);

    // gpt-4 is the other family: its table now, with the same counts as gpt-tokenizer's own.
    expect(budget.countTextTokens(text, 'gpt-4')).toBe(encodeCl100k(text, plain).length);
    expect(budget.loadedEncodings()).toEqual(['o200k_base', 'cl100k_base']);
    expect(prompt('gpt-4')).toEqual({ tokens: encodeCl100k(text, plain).length + 7, method: 'bpe', encoding: 'cl100k_base' });
  });
});
