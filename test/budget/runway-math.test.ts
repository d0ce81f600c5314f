import { describe, expect, it } from 'vitest';
import { BurnWindow, formatRunway, lastResultName, runway, RunwayAlarm, stepOf } from '../../src/domain/budget/index.js';

describe('BurnWindow', () => {
  it('sums the last five minutes of spend, dropping each second as the clock passes it', () => {
    const w = new BurnWindow();
    const t0 = 1_700_000_000_000;
    w.add(t0, 100);
    w.add(t0 + 1_000, 200);
    w.add(t0 + 120_000, 300);
    expect(w.read(t0 + 120_000)).toEqual({ micros: 600, windowMs: 120_000 });
    // At t0 + 300.5 s the second of t0 has left the window, that of t0 + 1 s not yet.
    expect(w.read(t0 + 300_500).micros).toBe(500);
    expect(w.read(t0 + 301_500).micros).toBe(300);
    expect(w.read(t0 + 301_500).windowMs).toBe(300_000);
    // Long idle: everything left.
    expect(w.read(t0 + 3_600_000).micros).toBe(0);
    w.add(t0 + 3_600_000, 7);
    expect(w.read(t0 + 3_600_000).micros).toBe(7);
  });

  it('measures over at least a minute, from the first call’s start', () => {
    const w = new BurnWindow();
    w.add(10_000, 50, 9_000);
    expect(w.read(10_001)).toEqual({ micros: 50, windowMs: 60_000 });
    expect(w.read(99_000).windowMs).toBe(90_000);
  });
});

describe('runway', () => {
  it('at the rate of the window: time, units left at the average per unit done, the next call at worst', () => {
    const r = runway({ limitMicros: 10e6, spentMicros: 4e6, windowMicros: 3e6, windowMs: 300_000, progress: { done: 20, unit: 'leads' }, lastReservedMicros: 40_000 });
    expect(r).toEqual({ ratePerMinMicros: 600_000, remainingMicros: 6e6, runwayMs: 600_000, unitsLeft: 30, unit: 'leads', nextCallWorstMicros: 40_000 });
    expect(formatRunway(r)).toBe('≈ 30 more leads, 10 min at $0.60/min · next call ≤ $0.04');
    const idle = runway({ limitMicros: 10e6, spentMicros: 4e6, windowMicros: 0, windowMs: 300_000, progress: null, lastReservedMicros: null });
    expect(idle).toMatchObject({ ratePerMinMicros: 0, runwayMs: null, unitsLeft: null, unit: null });
    expect(formatRunway(idle)).toBe('no spend in the last 5 min');
    expect(formatRunway(runway({ limitMicros: 1e6, spentMicros: 1e6, windowMicros: 5, windowMs: 60_000, progress: null, lastReservedMicros: 9 }))).toBe('budget used up');
  });
});

describe('RunwayAlarm', () => {
  it('fires once under the alert, re-arms above twice the alert (or at rate 0) or on a new limit; 0 is off', () => {
    const a = new RunwayAlarm();
    const m = 60_000;
    expect(a.check(20 * m, 10 * m)).toBe(false);
    expect(a.check(9 * m, 10 * m)).toBe(true);
    expect(a.check(5 * m, 10 * m)).toBe(false);
    expect(a.check(15 * m, 10 * m)).toBe(false); // above the alert but not twice it: still disarmed
    expect(a.check(9 * m, 10 * m)).toBe(false);
    expect(a.check(21 * m, 10 * m)).toBe(false); // re-armed
    expect(a.check(9 * m, 10 * m)).toBe(true);
    expect(a.check(null, 10 * m)).toBe(false); // rate 0: re-armed
    expect(a.check(1 * m, 10 * m)).toBe(true);
    a.rearm();
    expect(a.check(1 * m, 10 * m)).toBe(true);
    expect(new RunwayAlarm().check(1, 0)).toBe(false);
  });
});

describe('steps and chains', () => {
  it('step: done + 1, null before any report', () => {
    expect(stepOf(null)).toBeNull();
    expect(stepOf({ done: 0, total: null, unit: 'items' })).toBeNull();
    expect(stepOf({ done: 0, total: 5, unit: 'leads' })).toBe(1);
    expect(stepOf({ done: 37, total: null, unit: 'items' })).toBe(38);
  });

  it('chain: the function whose result the request carries last (tool message or result block)', () => {
    const call = (id: string, name: string) => ({ type: 'call' as const, id, name, input: '{}' });
    expect(lastResultName({ messages: [{ role: 'user', parts: [{ type: 'text', text: 'hi' }] }] })).toBeNull();
    expect(
      lastResultName({
        messages: [
          { role: 'assistant', parts: [call('a', 'search'), call('b', 'fetch_page')] },
          { role: 'tool', callId: 'b', parts: [{ type: 'text', text: '…' }] },
          { role: 'tool', callId: 'a', parts: [{ type: 'text', text: '…' }] },
          { role: 'user', parts: [{ type: 'text', text: 'go on' }] },
        ],
      }),
    ).toBe('search');
    // Anthropic: a result block inside a user message.
    expect(
      lastResultName({
        messages: [
          { role: 'assistant', parts: [call('toolu_1', 'lookup_lead')] },
          { role: 'user', parts: [{ type: 'result', callId: 'toolu_1', parts: [] }] },
        ],
      }),
    ).toBe('lookup_lead');
    // A result whose call is not in the request: no name.
    expect(lastResultName({ messages: [{ role: 'tool', callId: 'gone', parts: [] }] })).toBeNull();
  });
});
