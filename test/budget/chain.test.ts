import { describe, expect, it } from 'vitest';
import { BudgetTracker, type ReserveResult } from '../../src/domain/budget/index.js';
import { expectAtMost, expectIs } from '../helpers/cheap-expect.js';
import { granted, LONG } from '../helpers/waits.js';

// Central budgets in the one tracker: an agent's account linked to the central accounts that
// cover it (a lease from a control panel). A call is taken from the whole chain, all or nothing.

const TEAM = 'central:team@0';
const label = 'team budget team ($1.00/month)';

/** Agents a and b (each with `agentLimit`, null: unlimited) both under one central account of lease `lease` and ceiling `ceiling`. */
function shared(lease: number, ceiling: number | null, agentLimit: number | null = null): BudgetTracker {
  const t = new BudgetTracker();
  t.setCentral(TEAM, { key: 'team@0', label, limitMicros: lease, ceilingMicros: ceiling });
  for (const id of ['a', 'b']) {
    t.setLimit(id, agentLimit);
    t.link(id, [TEAM]);
  }
  return t;
}

const waits = (r: ReserveResult | Promise<ReserveResult>) => {
  expect(r).toBeInstanceOf(Promise);
  return r as Promise<ReserveResult>;
};

describe('a reservation takes its amount from the whole chain', () => {
  it('is granted within the lease, from the agent and the central account alike, and settles on both', () => {
    const t = shared(100, null);
    const g = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 60, openReservations: 1 });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 60 });
    expect(t.centralKeys('a', g.reservationId)).toEqual(['team@0']);
    const s = t.settle(g.reservationId, 45);
    expect(s.central).toEqual([{ id: TEAM, key: 'team@0', chargedMicros: 45, overshootMicros: 0 }]);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 45, reservedMicros: 0, openReservations: 0 });
    expect(t.snapshot('a')).toMatchObject({ spentMicros: 45, reservedMicros: 0 });
  });

  it('with a hard lease (no ceiling), a call beyond it is refused naming the central budget, and nothing is held', () => {
    const t = shared(100, null);
    const r = t.acquire('a', { amountMicros: 150 }, LONG);
    expect(r).toMatchObject({ ok: false, code: 'budget_exceeded', agentId: 'a', central: { id: TEAM, key: 'team@0', label } });
    expect((r as { message: string }).message).toMatch(/^team budget team \(\$1\.00\/month\) would be exceeded/);
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 0 });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 0 });
  });

  it("the agent's own limit still refuses, naming the agent's budget", () => {
    const t = shared(1_000, null, 100);
    expect(t.acquire('a', { amountMicros: 150 }, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.acquire('a', { amountMicros: 150 }, LONG)).not.toHaveProperty('central');
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 0 });
  });

  it('waits beyond the lease while within the ceiling, and goes through when the lease is raised', async () => {
    const t = shared(50, 500);
    const w = waits(t.acquire('a', { amountMicros: 80 }, LONG));
    expect(t.central(TEAM)).toMatchObject({ waitingCalls: 1, needMicros: 80, needSumMicros: 80 });
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 200, ceilingMicros: 500 });
    expect(await w).toMatchObject({ ok: true, amountMicros: 80 });
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 80, waitingCalls: 0 });
  });

  it('a call beyond the ceiling is refused at once; lowering the ceiling refuses the waiters it no longer covers', async () => {
    const t = shared(50, 500);
    expect(t.acquire('a', { amountMicros: 600 }, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded', central: { id: TEAM } });
    const w = waits(t.acquire('a', { amountMicros: 300 }, LONG));
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 50, ceilingMicros: 200 });
    expect(await w).toMatchObject({ ok: false, code: 'budget_exceeded', central: { id: TEAM } });
  });

  it('never passes the lease: concurrent calls of two agents fill it and the rest wait', async () => {
    const t = shared(100, 1_000);
    const out: Array<ReserveResult | Promise<ReserveResult>> = [];
    for (let i = 0; i < 10; i++) out.push(t.acquire(i % 2 ? 'a' : 'b', { amountMicros: 30 }, LONG));
    const now = out.filter((r) => !(r instanceof Promise));
    expect(now).toHaveLength(3);
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 90, waitingCalls: 7 });
    // Settling (for all they held) frees the lease for the oldest waiters, never beyond it.
    for (const r of now) if (r instanceof Promise || !r.ok) throw new Error('granted');
    for (const r of now) t.settle((r as { reservationId: number }).reservationId, 30);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 90, reservedMicros: 0 });
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 300, ceilingMicros: 1_000 });
    const c = t.central(TEAM)!;
    expect(c.spentMicros + c.reservedMicros).toBeLessThanOrEqual(300);
    expect(c).toMatchObject({ reservedMicros: 210, waitingCalls: 0 });
  });

  it('a change to the central account drains every agent queue linked to it, oldest call first', async () => {
    const t = shared(100, 1_000);
    const hold = granted(t.acquire('a', { amountMicros: 100 }, LONG));
    const order: string[] = [];
    const b1 = waits(t.acquire('b', { amountMicros: 60 }, LONG)).then((r) => (order.push('b1'), r));
    const a1 = waits(t.acquire('a', { amountMicros: 30 }, LONG)).then((r) => (order.push('a1'), r));
    const b2 = waits(t.acquire('b', { amountMicros: 10 }, LONG)).then((r) => (order.push('b2'), r));
    t.settle(hold.reservationId, 0);
    const got = await Promise.all([b1, a1, b2]);
    expect(got.map((r) => r.ok)).toEqual([true, true, true]);
    expect(order).toEqual(['b1', 'a1', 'b2']);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 0, reservedMicros: 100 });
  });

  it('a small newcomer of another agent does not pass an older call waiting on the shared account', async () => {
    const t = shared(100, 1_000);
    const hold = granted(t.acquire('a', { amountMicros: 50 }, LONG));
    const big = waits(t.acquire('a', { amountMicros: 80 }, LONG));
    // b's own queue is empty and 20 would fit the lease, but a's older call waits on it.
    const small = waits(t.acquire('b', { amountMicros: 20 }, LONG));
    t.settle(hold.reservationId, 0);
    expect(await big).toMatchObject({ ok: true, amountMicros: 80 });
    expect(await small).toMatchObject({ ok: true, amountMicros: 20 });
  });

  it("an older call that waits on its agent's own budget does not hold the shared account for others", () => {
    const t = shared(1_000, null);
    t.setLimit('a', 100);
    granted(t.acquire('a', { amountMicros: 90 }, LONG));
    void t.acquire('a', { amountMicros: 50 }, LONG); // waits on a's own budget
    expect(t.acquire('b', { amountMicros: 500 }, LONG)).toMatchObject({ ok: true, amountMicros: 500 });
  });

  it('a lease that lapsed (limit dropped to spent + held) holds calls; one that waits the bound is refused no_lease, naming the budget', async () => {
    const t = shared(100, 1_000);
    const g = granted(t.acquire('a', { amountMicros: 40 }, LONG));
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 40, ceilingMicros: 1_000, unavailableSince: Date.now() - 42_000 });
    const r = await waits(t.acquire('b', { amountMicros: 10 }, { timeoutMs: 30, maxWaiting: 10 }));
    expect(r).toMatchObject({ ok: false, code: 'no_lease', agentId: 'b', central: { id: TEAM } });
    expect((r as { message: string }).message).toMatch(/^team budget team \(\$1\.00\/month\): the control panel has not answered for 4[23] s/);
    // Calls in flight settle as usual.
    t.settle(g.reservationId, 40);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 40, reservedMicros: 0 });
  });

  it('with no wait allowed (wait_ms 0), a call short of lease is refused no_lease, not as congestion', () => {
    const t = shared(10, 1_000);
    expect(t.acquire('a', { amountMicros: 30 }, { timeoutMs: 0, maxWaiting: 10 })).toMatchObject({ ok: false, code: 'no_lease' });
  });

  it('a gate (no key, lease 0) holds every call until the agent is linked to what really covers it', async () => {
    const t = new BudgetTracker();
    t.setCentral('central:@gate', { key: null, label: "the control panel's budgets", limitMicros: 0, ceilingMicros: Number.MAX_SAFE_INTEGER });
    t.linkWith(() => ['central:@gate']);
    t.setLimit('a', null);
    expect(t.linksOf('a')).toEqual(['central:@gate']);
    const w = waits(t.acquire('a', { amountMicros: 30 }, LONG));
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 100, ceilingMicros: null });
    t.link('a', [TEAM]);
    const r = await w;
    expect(r).toMatchObject({ ok: true });
    expect(t.centralKeys('a', (r as { reservationId: number }).reservationId)).toEqual(['team@0']);
    t.dropCentral('central:@gate');
    expect(t.centralIds()).toEqual([TEAM]);
  });
});

describe('the chain a reservation was granted with', () => {
  it('settles, releases and shrinks on it however the agent is linked later', () => {
    const t = shared(100, null);
    const g = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    t.setCentral('central:other@0', { key: 'other@0', label: 'fleet budget other ($9.00/day)', limitMicros: 1_000, ceilingMicros: null });
    t.link('a', ['central:other@0']);
    t.shrink(g.reservationId, 20);
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 20 });
    expect(t.central('central:other@0')).toMatchObject({ reservedMicros: 0 });
    expect(t.centralKeys('a', g.reservationId)).toEqual(['team@0']);
    expect(t.centralKeys('a', null)).toEqual(['other@0']);
    const s = t.settle(g.reservationId, 15);
    expect(s.central.map((c) => c.id)).toEqual([TEAM]);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 15, reservedMicros: 0 });
    expect(t.central('central:other@0')).toMatchObject({ spentMicros: 0 });
    // A charge with no reservation goes to the links as they are now.
    expect(t.charge('a', 5).central.map((c) => c.id)).toEqual(['central:other@0']);
  });

  it('uncharge takes a charge back from each central account it went to', () => {
    const t = shared(100, null);
    const s = t.settle(granted(t.acquire('a', { amountMicros: 60 }, LONG)).reservationId, 50);
    t.uncharge('a', s);
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 0 });
    expect(t.snapshot('a')).toMatchObject({ spentMicros: 0 });
  });

  it('release and releaseAll give the amount back to every account of the chain, and drain waiters of other agents', async () => {
    const t = shared(100, 1_000);
    const g1 = granted(t.acquire('a', { amountMicros: 50 }, LONG));
    granted(t.acquire('a', { amountMicros: 50 }, LONG));
    const w = waits(t.acquire('b', { amountMicros: 60 }, LONG));
    expect(t.release(g1.reservationId)).toBe(true);
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 50, waitingCalls: 1 });
    expect(t.releaseAll('a')).toBe(1);
    expect(await w).toMatchObject({ ok: true, amountMicros: 60 });
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 60, openReservations: 1 });
  });

  it('forget drops the agent, its waiters and its holds on the central account', async () => {
    const t = shared(100, 1_000);
    granted(t.acquire('a', { amountMicros: 100 }, LONG));
    const wa = waits(t.acquire('a', { amountMicros: 10 }, LONG));
    const wb = waits(t.acquire('b', { amountMicros: 100 }, LONG));
    t.forget('a');
    expect(await wa).toMatchObject({ ok: false, code: 'unknown_agent' });
    expect(await wb).toMatchObject({ ok: true, amountMicros: 100 });
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 100, openReservations: 1 });
  });

  it('a fallback replace takes its extra from the reservation chain, waiting for lease like any call', async () => {
    const t = shared(100, 1_000);
    const g = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    granted(t.acquire('b', { amountMicros: 30 }, LONG));
    const r = t.replace(g.reservationId, 90, LONG);
    expect(r).toBeInstanceOf(Promise);
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 200, ceilingMicros: 1_000 });
    expect(await r).toMatchObject({ ok: true, reservationId: g.reservationId, amountMicros: 90 });
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 120, openReservations: 2 });
    // Beyond the ceiling: refused, and what it held is let go.
    expect(t.replace(g.reservationId, 2_000, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded', central: { id: TEAM } });
    expect(t.central(TEAM)).toMatchObject({ reservedMicros: 30, openReservations: 1 });
  });

  it('clamp (near_limit: clamp) takes the least free across the chain', () => {
    const t = shared(70, null, 200);
    // The call can never run whole (the lease is hard at 70): with nothing in flight it gets the lease's 70.
    expect(t.acquire('a', { amountMicros: 150, minMicros: 20 }, LONG)).toMatchObject({ ok: true, amountMicros: 70 });
    const u = shared(500, null, 90);
    // Here the agent's own budget is the tighter one.
    expect(u.acquire('a', { amountMicros: 150, minMicros: 20 }, LONG)).toMatchObject({ ok: true, amountMicros: 90 });
  });

  it('a settle above its reservation never charges the central account past its lease: the rest is overshoot', () => {
    const t = shared(100, null);
    const g = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    granted(t.acquire('b', { amountMicros: 40 }, LONG));
    const s = t.settle(g.reservationId, 90);
    expect(s.central[0]).toMatchObject({ chargedMicros: 60, overshootMicros: 30 });
    expect(t.central(TEAM)).toMatchObject({ spentMicros: 90 });
  });

  it('dropping a central account unlinks it; open reservations still settle on it', () => {
    const t = shared(100, null);
    const g = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    t.dropCentral(TEAM);
    expect(t.linksOf('a')).toEqual([]);
    expect(t.settle(g.reservationId, 10).central).toEqual([{ id: TEAM, key: 'team@0', chargedMicros: 10, overshootMicros: 0 }]);
    expect(() => t.link('a', [TEAM])).toThrow(/no central budget account/);
  });

  it('a restored central account starts from the spend its rows recorded', () => {
    const t = new BudgetTracker();
    t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 100, ceilingMicros: null, spentMicros: 70 });
    t.setLimit('a', null);
    t.link('a', [TEAM]);
    expect(t.acquire('a', { amountMicros: 40 }, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.acquire('a', { amountMicros: 30 }, LONG)).toMatchObject({ ok: true });
  });
});

describe('no overshoot of a lease, whatever the order', () => {
  it('random interleavings of calls, settles, releases, lease grants and lapses keep spent + held within the lease', async () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const t = new BudgetTracker();
      t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 100, ceilingMicros: 10_000 });
      for (const id of ['a', 'b', 'c']) {
        t.setLimit(id, rnd(2) ? null : 400);
        t.link(id, [TEAM]);
      }
      const open: Array<{ id: number; amount: number }> = [];
      const pending: Array<Promise<ReserveResult>> = [];
      let lease = 100;
      const take = (r: ReserveResult) => {
        if (r.ok) open.push({ id: r.reservationId, amount: r.amountMicros });
      };
      for (let step = 0; step < 200; step++) {
        const op = rnd(6);
        if (op <= 1) {
          const r = t.acquire(['a', 'b', 'c'][rnd(3)]!, { amountMicros: 1 + rnd(60), minMicros: rnd(2) ? 5 : undefined }, LONG);
          if (r instanceof Promise) pending.push(r.then((x) => (take(x), x)));
          else take(r);
        } else if (op === 2 && open.length > 0) {
          const [r] = open.splice(rnd(open.length), 1);
          t.settle(r!.id, rnd(r!.amount + 1));
        } else if (op === 3 && open.length > 0) {
          const [r] = open.splice(rnd(open.length), 1);
          t.release(r!.id);
        } else if (op === 4) {
          // The panel grants more, or the lease lapses to what is spent and held.
          const c = t.central(TEAM)!;
          lease = rnd(3) ? lease + rnd(80) : c.spentMicros + c.reservedMicros;
          t.setCentral(TEAM, { key: 'team@0', label, limitMicros: lease, ceilingMicros: 10_000 });
        } else {
          await Promise.resolve();
        }
        await Promise.resolve();
        const c = t.central(TEAM)!;
        expectAtMost(c.spentMicros + c.reservedMicros, Math.max(lease, c.spentMicros));
        expectIs(
          c.reservedMicros,
          open.reduce((s, r) => s + r.amount, 0),
        );
      }
      // Every waiter ends (granted or refused) once the holds go and the lease is large.
      t.setCentral(TEAM, { key: 'team@0', label, limitMicros: 1_000_000, ceilingMicros: null });
      for (let i = 0; i < 100 && t.central(TEAM)!.waitingCalls > 0; i++) {
        for (const r of open.splice(0)) t.release(r.id);
        await Promise.resolve();
      }
      await Promise.all(pending);
      expect(t.central(TEAM)!.waitingCalls).toBe(0);
    }
  });
});
