import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

describe('formatDuration (terminal, demo and dashboard)', () => {
  it('writes seconds, minutes and hours the one way', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(-5_000)).toBe('0s');
    expect(formatDuration(42_400)).toBe('42s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(3_599_000)).toBe('59m59s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });
});

describe('parseDuration (--lease-ttl, --lease-reclaim-after)', () => {
  it('reads a whole number with a unit, or milliseconds, and nothing else', () => {
    expect(['500ms', '30s', '2m', '1h', '1d', '250', ' 3s '].map(parseDuration)).toEqual([500, 30_000, 120_000, 3_600_000, 86_400_000, 250, 3_000]);
    for (const bad of ['', '1.5s', '-1s', '30 sec', 's', '1w', '10000000000']) expect(parseDuration(bad), bad).toBeNull();
  });
});
