import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/core/duration.js';

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
