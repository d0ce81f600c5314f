import { describe, expect, it } from 'vitest';
import { formatDuration, formatElapsed, formatRoughly, parseDuration } from '../../src/core/duration.js';
import { runTimeOf } from '../../src/runtime/index.js';

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

describe("formatElapsed (an agent's exit line and the run summary's Run time)", () => {
  it('says tenths below ten seconds, then as formatDuration', () => {
    expect([0, 412, 949, 950, 9_949, 9_950, 42_400, 65_000, -3].map(formatElapsed)).toEqual(['0.0s', '0.4s', '0.9s', '1.0s', '9.9s', '10s', '42s', '1m05s', '0.0s']);
  });

  it("a run summary counts from the first launch to the end the agent's row says, not from iron-cage's own start", () => {
    const startedAt = '2025-01-01T00:00:00.000Z';
    expect(formatElapsed(runTimeOf({ startedAt, endedAt: '2025-01-01T00:00:00.412Z' }, 1_300))).toBe('0.4s');
    // Still running (Ctrl-C before it ended): up to now. Never started: what the command measured.
    expect(runTimeOf({ startedAt, endedAt: null }, 0, Date.parse(startedAt) + 2_000)).toBe(2_000);
    expect(runTimeOf({ startedAt: null, endedAt: null }, 1_300)).toBe(1_300);
  });
});

describe('parseDuration (--lease-ttl, --lease-reclaim-after)', () => {
  it('reads a whole number with a unit, or milliseconds, and nothing else', () => {
    expect(['500ms', '30s', '2m', '1h', '1d', '250', ' 3s '].map(parseDuration)).toEqual([500, 30_000, 120_000, 3_600_000, 86_400_000, 250, 3_000]);
    for (const bad of ['', '1.5s', '-1s', '30 sec', 's', '1w', '10000000000']) expect(parseDuration(bad), bad).toBeNull();
  });
});

describe('formatRoughly (a runway, a reset: the terminal, the dashboard, the fleet page)', () => {
  it('says seconds, minutes, hours and minutes, then days', () => {
    expect([0, -5_000, 42_000, 60_000, 660_000, 3_599_000, 3_600_000, 11_130_000, 47 * 3_600_000, 13 * 86_400_000].map(formatRoughly)).toEqual([
      '0s',
      '0s',
      '42s',
      '1 min',
      '11 min',
      '1h00m',
      '1h00m',
      '3h06m',
      '47h00m',
      '13 days',
    ]);
  });
});
