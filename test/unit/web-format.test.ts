import { describe, expect, it } from 'vitest';
import { ago } from '../../web/format.js';

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
