import { describe, expect, it } from 'vitest';
import { covers, leaseState, nextAsk, period, runway, scopeLine, shares, windowEnd } from '../../web/budgets.js';

// How the fleet page says a central budget: who it covers, its window, the bar's shares, the
// runway at the current rate, a lease's state, and when the page asks the panel again.

const at = Date.parse('2026-12-10T12:00:00.000Z');
const month = Date.parse('2026-12-01T00:00:00.000Z');
const day = Date.parse('2026-12-10T00:00:00.000Z');

describe('covers and period', () => {
  it('names what each scope covers', () => {
    expect(covers({ scope: 'fleet', agents: [], users: [] })).toBe('every runtime');
    expect(covers({ scope: 'agent', agents: ['lead-gen'], users: [] })).toBe('agent lead-gen');
    expect(covers({ scope: 'user', agents: [], users: ['ann'] })).toBe('user ann');
    expect(covers({ scope: 'team', agents: ['a', 'b'], users: ['ann'] })).toBe('agents a, b · user ann');
    expect(covers({ scope: 'team', agents: [], users: ['ann', 'bob'] })).toBe('users ann, bob');
    // The budget's line says its scope once: never "agent: agent lead-gen".
    expect(scopeLine({ scope: 'agent', agents: ['researcher'], users: [] })).toBe('agent researcher');
    expect(scopeLine({ scope: 'user', agents: [], users: ['ann'] })).toBe('user ann');
    expect(scopeLine({ scope: 'fleet', agents: [], users: [] })).toBe('the whole fleet');
    expect(scopeLine({ scope: 'team', agents: ['a'], users: ['ann', 'bob'] })).toBe('team: agent a · users ann, bob');
  });

  it('says the window and when it resets (UTC midnight, the 1st of the next month, never)', () => {
    expect(windowEnd({ period: 'day', window: day })).toBe(Date.parse('2026-12-11T00:00:00.000Z'));
    expect(windowEnd({ period: 'month', window: month })).toBe(Date.parse('2027-01-01T00:00:00.000Z'));
    expect(windowEnd({ period: 'none', window: 0 })).toBeNull();
    expect(period({ period: 'day', window: day }, at)).toBe('today (UTC), resets in 12h00m');
    expect(period({ period: 'month', window: month }, at)).toBe('this month (UTC), resets in 22 days');
    expect(period({ period: 'none', window: 0 }, at)).toBe('no period: one window');
  });
});

describe('runway', () => {
  const b = { runwaySeconds: 660, ratePerMinMicros: 420_000, spentMicros: 1_000_000, limitMicros: 5_620_000, period: 'none' as const, window: 0 };

  it('says how long the unspent part lasts at the rate, counting down from the panel’s answer', () => {
    expect(runway(b, at, at)).toEqual({ text: '≈ 11 min at $0.42/min', note: null });
    expect(runway(b, at, at + 5 * 60_000).text).toBe('≈ 6 min at $0.42/min');
    expect(runway(b, at, at + 630_000).text).toBe('≈ 30s at $0.42/min');
    expect(runway(b, at, at + 700_000).text).toBe('none left at $0.42/min');
  });

  it('says "—" while nothing spends and "none left" once the limit is spent', () => {
    expect(runway({ ...b, runwaySeconds: null, ratePerMinMicros: 0 }, at, at).text).toBe('—');
    expect(runway({ ...b, spentMicros: 5_620_000, runwaySeconds: 0 }, at, at).text).toBe('none left');
  });

  it('notes a window that resets before the runway ends', () => {
    const slow = { ...b, runwaySeconds: 24 * 3600, period: 'day' as const, window: day };
    expect(runway(slow, at, at)).toEqual({ text: '≈ 24h00m at $0.42/min', note: 'outlasts this window (resets in 12h00m)' });
    expect(runway({ ...slow, runwaySeconds: 3600 }, at, at).note).toBeNull();
  });
});

describe('shares', () => {
  it('splits the limit into spent, leased out and unleased', () => {
    expect(shares({ limitMicros: 10_000_000, spentMicros: 2_500_000, leasedMicros: 5_000_000 })).toEqual({ spent: 25, leased: 50, unleased: 25, overMicros: 0 });
    expect(shares({ limitMicros: 10_000_000, spentMicros: 0, leasedMicros: 0 })).toEqual({ spent: 0, leased: 0, unleased: 100, overMicros: 0 });
  });

  it('never draws past the bar, and says what late rows spent over the limit', () => {
    expect(shares({ limitMicros: 10_000_000, spentMicros: 10_400_000, leasedMicros: 300_000 })).toEqual({ spent: 100, leased: 0, unleased: 0, overMicros: 400_000 });
    expect(shares({ limitMicros: 10_000_000, spentMicros: 9_000_000, leasedMicros: 2_000_000 })).toEqual({ spent: 90, leased: 10, unleased: 0, overMicros: 0 });
  });
});

describe('leaseState', () => {
  it('is online until its expiry, then expired for as long as it has been', () => {
    expect(leaseState({ expiresAt: at + 25_000, online: true }, at)).toEqual({ online: true, label: 'Online', detail: 'lease ends in 25s unless renewed' });
    expect(leaseState({ expiresAt: at, online: true }, at)).toEqual({ online: false, label: 'Expired', detail: '0s ago' });
    expect(leaseState({ expiresAt: at - 120_000, online: true }, at)).toEqual({ online: false, label: 'Expired', detail: '2 min ago' });
  });

  it('is expired once the panel said so, whatever this page’s clock (a tick behind) says', () => {
    expect(leaseState({ expiresAt: at + 400, online: false }, at).label).toBe('Expired');
  });
});

describe('nextAsk', () => {
  const lease = (expiresAt: number) => ({ runtime: 'rt', grantedMicros: 0, spentMicros: 0, heldMicros: 0, waiting: 0, expiresAt, online: true });

  it('asks nothing while there is no budget, else every poll', () => {
    expect(nextAsk([], at, 0, 5_000)).toBeNull();
    expect(nextAsk([{ leases: [] }], at, 0, 5_000)).toBe(at + 5_000);
  });

  it('asks a second before a live lease expires (a renewed one never shows expired), else just after', () => {
    expect(nextAsk([{ leases: [lease(at + 3_000)] }], at, 0, 5_000)).toBe(at + 2_000);
    expect(nextAsk([{ leases: [lease(at + 30_000)] }], at, 0, 5_000)).toBe(at + 5_000);
    expect(nextAsk([{ leases: [lease(at + 1_100)] }], at, 0, 5_000)).toBe(at + 1_200);
    expect(nextAsk([{ leases: [lease(at - 60_000)] }], at, 0, 5_000)).toBe(at + 5_000);
  });

  it('reads expiries on the server’s clock', () => {
    // The server runs 10 s ahead: its expiry 13 s ahead of this browser is 3 s away.
    expect(nextAsk([{ leases: [lease(at + 13_000)] }], at, 10_000, 5_000)).toBe(at + 2_000);
  });
});
