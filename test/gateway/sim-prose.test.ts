import { describe, expect, it } from 'vitest';
import { generate } from '../../src/gateway/providers/sim/generate.js';

// The simulated provider's answers read like answers to the prompt asked, since
// presenters read them aloud; and the same prompt always gets the same answer.
const ask = (text: string, n = 1) =>
  generate({
    model: 'gpt-4o',
    turns: [{ role: 'user', text }],
    tools: [],
    toolChoice: 'auto',
    parallelToolCalls: true,
    format: { type: 'text' },
    n,
    logprobs: null,
    maxTokens: null,
    seed: text,
  } as never).choices.map((c) => c.text);

describe('simulated prose answers the prompt asked', () => {
  it('a weather question gets a weather report for the place named', () => {
    const [a] = ask("What's the weather like in Lisbon today?");
    expect(a).toMatch(/^In Lisbon it is -?\d+°C and [a-z ]+, with .+; .+, around -?\d+°C at the warmest\.$/);
    expect(ask('Will it rain tomorrow?')[0]).toMatch(/^Right now it is \d+°C/);
  });

  it('a sum its result, a date never read as one', () => {
    expect(ask('What is 12 * 4?')[0]).toBe('12 × 4 = 48.');
    expect(ask('calculate 7+5')[0]).toBe('7 + 5 = 12.');
    expect(ask('9 - 3')[0]).toBe('9 - 3 = 6.');
    expect(ask('what is 1 / 0')[0]).toMatch(/no answer/);
    expect(ask('What is on the agenda for 2026-11-25?')[0]).not.toMatch(/=/);
  });

  it('answers a sum only when the question is that sum: no date, thousands or longer sum read as another one', () => {
    // A date with slashes is not a division, nor is a number's thousands separator a sum's edge.
    expect(ask("What's on the calendar for 11/25?")[0]).not.toMatch(/=/);
    expect(ask('What is 1,000 + 2?')[0]).not.toMatch(/000 \+ 2 = 2/);
    expect(ask('What is 1,000 + 2?')[0]).not.toMatch(/=/);
    // Part of a longer sum is not its answer (2 + 3 * 4 is 14, never "2 + 3 = 5").
    expect(ask('What is 2 + 3 * 4?')[0]).not.toMatch(/= 5\./);
    expect(ask('What is 2026-11-25 + 3?')[0]).not.toMatch(/=/);
    // The sums it does answer, with what may follow the question.
    expect(ask('What is 12 * 4? Thanks')[0]).toBe('12 × 4 = 48.');
    expect(ask("what's 6 x 7?")[0]).toBe('6 × 7 = 42.');
    expect(ask('How much is 2.5 + 0.25 =')[0]).toBe('2.5 + 0.25 = 2.75.');
    expect(ask('compute 10 / 4')[0]).toBe('10 ÷ 4 = 2.5.');
  });

  it('a greeting a greeting, a summary its gist, a sales question sales notes, anything else a plain answer', () => {
    expect(ask('Hello!')[0]).toBe('Hello! How can I help you today?');
    expect(ask('Summarize: Q3 revenue grew 12% while costs stayed flat.')[0]).toBe('In short: Q3 revenue grew 12% while costs stayed flat.');
    expect(ask('Qualify this lead: Acme Corp, 50 employees')[0]).toMatch(/\b(company|team|pitch|pilot|funding|budget|follow-up|tools|fiscal|reliability)\b/i);
    const general = ask('How should I structure my database migrations?')[0]!;
    expect(general.split('. ').length).toBeGreaterThanOrEqual(2);
    expect(general).not.toMatch(/\b(pitch|fiscal year|funding)\b/);
  });

  it('is deterministic, and n choices differ where the answer can', () => {
    expect(ask('Tell me about vector databases')).toEqual(ask('Tell me about vector databases'));
    const three = ask('Tell me about vector databases', 3);
    expect(new Set(three).size).toBe(3);
  });
});
