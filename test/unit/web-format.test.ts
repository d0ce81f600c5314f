import { describe, expect, it } from 'vitest';
import { budgetFigures, runwayMoves, runwayNow } from '../../web/figures.js';
import { ago, breakerOfKey, callsSub } from '../../web/format.js';

// How the dashboard says when something last happened.
describe('ago', () => {
  const now = Date.parse('2026-11-23T12:00:00.000Z');
  const at = (ms: number) => new Date(now + ms).toISOString();

  it('counts back from now in seconds, minutes, hours and days', () => {
    expect([ago(at(-5_000), now), ago(at(-3 * 60_000), now), ago(at(-2 * 3_600_000), now), ago(at(-3 * 86_400_000), now)]).toEqual(['5s ago', '3m ago', '2h ago', '3d ago']);
  });

  it('says "now" for a moment after now (the page ticks once a second; a server clock may run ahead), never "in 1 second"', () => {
    expect([ago(at(0), now), ago(at(700), now), ago(at(30_000), now)]).toEqual(['now', 'now', 'now']);
  });
});

describe('callsSub (refusals counted beside calls and errors)', () => {
  it('says refusals whenever there were some, errors always', () => {
    expect(callsSub({ calls: 21, errors: 0, refused: 19 }, true)).toBe('21 calls · 19 refused · 0 errors');
    expect(callsSub({ calls: 1, errors: 1, refused: 0 }, true)).toBe('1 call · 1 error');
    expect(callsSub({ calls: 5, errors: 2, refused: 1 })).toBe('1 refused · 2 errors');
  });
});

describe('budgetFigures and runwayNow (one derivation, from the status the events move)', () => {
  const agent = (limitUsd: number | null, spentUsd: number, done: number, total: number | null) =>
    ({ budget: { limitUsd, spentUsd, reservedUsd: 0, waiting: 0 }, progress: { done, total, unit: 'leads', succeeded: null, failed: null } }) as never;
  it('recomputes projection and runway against a new limit at once', () => {
    // Lead 85 of 100 at $45.41: over a $50 budget, under $75.
    expect(budgetFigures(agent(50, 45.41, 85, 100))).toMatchObject({ projectionUsd: 53.423529, status: 'over_budget', avgPerUnit: '$0.53 avg/lead' });
    expect(budgetFigures(agent(75, 45.41, 85, 100))).toMatchObject({ projectionUsd: 53.423529, status: 'under_budget' });
    const view = {
      rateUsdPerMin: 45.41,
      windowMs: 60_000,
      remainingUsd: 4.59,
      runwayMs: 6065,
      unitsLeft: 8,
      unit: 'leads',
      unitsToGo: 15,
      covers: false,
      nextCallWorstUsd: 0.23,
      alertMs: 600_000,
      thresholds: [0.9],
      firedThresholds: [0.9],
      text: 'old',
    };
    const before = runwayNow(agent(50, 45.41, 85, 100), view)!;
    expect(before).toMatchObject({ covers: false, unitsLeft: 8, unitsToGo: 15, short: true });
    expect(before.text).toMatch(/^≈ 8 more leads of the 15 left, /);
    const after = runwayNow(agent(75, 45.41, 85, 100), view)!;
    expect(after).toMatchObject({ covers: true, unitsLeft: 55, short: false, text: 'covers the 15 leads left (room for ≈ 55) · next call ≤ $0.23' });
    expect(runwayNow(agent(null, 1, 1, 10), view)).toBeNull();
  });
});

describe('runwayMoves: the runway asked again with no event', () => {
  it('while a live agent has spent in its window (the window moves on, the rate falls), never for one that stopped or spends nothing', () => {
    expect(runwayMoves({ status: 'running' }, { rateUsdPerMin: 0.21 })).toBe(true);
    expect(runwayMoves({ status: 'restarting' }, { rateUsdPerMin: 0.21 })).toBe(true);
    expect(runwayMoves({ status: 'running' }, { rateUsdPerMin: 0 })).toBe(false);
    expect(runwayMoves({ status: 'running' }, null)).toBe(false);
    expect(runwayMoves({ status: 'completed' }, { rateUsdPerMin: 0.21 })).toBe(false);
    expect(runwayMoves({ status: 'crashed' }, { rateUsdPerMin: 0.21 })).toBe(false);
  });
});

describe('breakerOfKey: a circuit named from the key a runtime saves it under', () => {
  it('says whose an LLM provider’s and an MCP server’s are; a tool service keeps its name', () => {
    expect(breakerOfKey('llm:openai')).toBe('openai (LLM provider)');
    expect(breakerOfKey('mcp:github')).toBe('MCP server github');
    expect(breakerOfKey('linkedin')).toBe('linkedin');
    // Only the first colon is the kind's: an MCP server's own name may hold one.
    expect(breakerOfKey('mcp:a:b')).toBe('MCP server a:b');
  });
});
