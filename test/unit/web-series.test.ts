import { describe, expect, it } from 'vitest';
import { thin } from '../../web/series.js';

// The spend chart draws a run of any length with at most one point per pixel column.
describe('thin (the spend chart)', () => {
  const rising = (n: number): Array<[number, number]> => Array.from({ length: n }, (_, i) => [1_000_000 + i * 250, (i + 1) * 0.01]);

  it('keeps a short series as it is', () => {
    const s = rising(50);
    expect(thin(s, 600)).toBe(s);
  });

  it('draws 10,000 points with at most one per column, keeping the first and the last', () => {
    const s = rising(10_000);
    const out = thin(s, 600);
    expect(out.length).toBeLessThanOrEqual(601);
    expect(out[0]).toEqual(s[0]);
    expect(out.at(-1)).toEqual(s.at(-1));
    // Each kept point is the highest (latest) of its column, so the line never understates spend.
    for (let i = 1; i < out.length; i++) expect(out[i]![0]).toBeGreaterThan(out[i - 1]![0]);
    const columnOf = (t: number) => Math.floor(((t - s[0]![0]) / (s.at(-1)![0] - s[0]![0])) * 599);
    const lastPerColumn = new Map<number, [number, number]>();
    for (const p of s) lastPerColumn.set(columnOf(p[0]), p);
    expect(out.slice(1)).toEqual([...lastPerColumn.values()]);
  });
});
