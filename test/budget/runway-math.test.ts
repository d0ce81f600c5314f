import { describe, expect, it } from 'vitest';
import { Runways } from '../../src/budget/runway.js';
import { BurnWindow, formatRunway, lastResultName, projectSpend, runway, RunwayAlarm, stepOf } from '../../src/domain/budget/index.js';

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
    expect(r).toEqual({ ratePerMinMicros: 600_000, remainingMicros: 6e6, runwayMs: 600_000, unitsLeft: 30, unit: 'leads', unitsToGo: null, covers: null, nextCallWorstMicros: 40_000 });
    expect(formatRunway(r)).toBe('≈ 30 more leads, 10 min at $0.60/min · next call ≤ $0.04');
    const idle = runway({ limitMicros: 10e6, spentMicros: 4e6, windowMicros: 0, windowMs: 300_000, progress: null, lastReservedMicros: null });
    expect(idle).toMatchObject({ ratePerMinMicros: 0, runwayMs: null, unitsLeft: null, unit: null });
    expect(formatRunway(idle)).toBe('no spend in the last 5 min');
    expect(formatRunway(runway({ limitMicros: 1e6, spentMicros: 1e6, windowMicros: 5, windowMs: 60_000, progress: null, lastReservedMicros: 9 }))).toBe('budget used up');
  });
});

describe('runway against the work left', () => {
  const base = { limitMicros: 10e6, spentMicros: 4e6, windowMicros: 3e6, windowMs: 300_000, lastReservedMicros: 40_000 };
  it('covers the units still to do when what is left pays for them at the average so far', () => {
    // 20 done for $4 ($0.20 each), 80 in all: 60 to go cost $12 > $6 left; 40 in all: 20 to go cost $4 ≤ $6.
    const short = runway({ ...base, progress: { done: 20, total: 80, unit: 'leads' } });
    expect(short).toMatchObject({ unitsLeft: 30, unitsToGo: 60, covers: false });
    expect(formatRunway(short)).toBe('≈ 30 more leads of the 60 left, 10 min at $0.60/min · next call ≤ $0.04');
    const fits = runway({ ...base, progress: { done: 20, total: 40, unit: 'leads' } });
    expect(fits).toMatchObject({ unitsLeft: 30, unitsToGo: 20, covers: true, runwayMs: 600_000 });
    expect(formatRunway(fits)).toBe('covers the 20 leads left (room for ≈ 30) · next call ≤ $0.04');
    // The projection at the limit exactly: over budget, as the projection says it (red), not covered.
    expect(runway({ ...base, progress: { done: 20, total: 49, unit: 'leads' } }).covers).toBe(true);
    expect(runway({ ...base, progress: { done: 20, total: 50, unit: 'leads' } }).covers).toBe(false);
    // One to go, said in the singular; all done.
    expect(formatRunway(runway({ ...base, progress: { done: 20, total: 21, unit: 'leads' } }))).toBe('covers the 1 lead left (room for ≈ 30) · next call ≤ $0.04');
    expect(formatRunway(runway({ ...base, progress: { done: 20, total: 20, unit: 'leads' } }))).toBe('the work is done; $6.00 left');
    // Nothing done yet: unknown, the rate alone judges.
    expect(runway({ ...base, progress: { done: 0, total: 40, unit: 'leads' } })).toMatchObject({ covers: null, unitsLeft: null });
  });

  it('agrees with the projection on every split of spend and progress', () => {
    for (let done = 1; done <= 30; done++)
      for (const total of [done, done + 1, 37, 50, 90])
        for (const spent of [1, 999_999, 3_333_333, 9_999_999]) {
          const r = runway({ ...base, spentMicros: spent, progress: { done, total, unit: 'leads' } });
          const p = projectSpend(spent, 10e6, { done, total, unit: 'leads' });
          expect(r.covers).toBe(p.status !== 'over_budget' || total <= done);
        }
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

describe('Runways: the burn-rate alarm and the work left', () => {
  it('says nothing while what is left pays for the units still to do, once when it no longer does, not again as the projection hovers at the limit', () => {
    let now = 1_700_000_000_000;
    let progress = { done: 0, total: 100 as number | null, unit: 'leads', succeeded: null, failed: null };
    const fired: number[] = [];
    const r = new Runways({
      state: { record: () => 0 as never, getAgent: () => null, progressOf: () => progress } as never,
      thresholds: [0.9],
      alertMs: 600_000,
      alert: (a) => fired.push(a.spentMicros),
      now: () => now,
    });
    const limit = 50e6;
    let spent = 0;
    // $0.49 a lead, a lead a second: the $50 would be gone in under two minutes at this rate, but
    // 100 leads cost $49: covered all along, no alarm.
    const lead = (cost: number) => {
      now += 1_000;
      spent += cost;
      progress = { ...progress, done: progress.done + 1 };
      r.settled({ agentId: 'a', costMicros: cost, reservedMicros: 10_000, latencyMs: 5 }, { limitMicros: limit, spentMicros: spent, firedThresholds: [] } as never);
    };
    for (let i = 0; i < 40; i++) lead(490_000);
    expect(fired).toEqual([]);
    // Dearer leads: the projection passes the limit, the alarm fires once.
    lead(900_000);
    expect(fired).toHaveLength(1);
    // Back and forth around the limit: covered, not covered, ... said once all the same.
    for (let i = 0; i < 10; i++) lead(i % 2 === 0 ? 100_000 : 900_000);
    expect(fired).toHaveLength(1);
    // A new limit arms it again; the work left fits it: still nothing.
    r.limitChanged('a');
    expect(r.view('a', { limitMicros: 200e6, spentMicros: spent, firedThresholds: [] })).toMatchObject({ covers: true, unitsToGo: 49 });
  });
});
