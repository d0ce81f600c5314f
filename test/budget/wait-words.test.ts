import { describe, expect, it } from 'vitest';
import { BudgetNotices, waitsFor } from '../../src/budget/notices.js';
import type { NewEvent } from '../../src/core/events.js';
import { BudgetTracker } from '../../src/domain/budget/index.js';
import type { StateManager } from '../../src/state/index.js';
import { granted, LONG } from '../helpers/waits.js';

// What a `budget.waiting` event says a call waits for: its agent's budget held by in-flight calls,
// a central budget's lease, or the control panel's first answer, which is not a wait for in-flight
// calls, and which, when it is short, is not said at all.

const GATE = 'central:@panel';

/** A tracker whose agents all wait at the gate a runtime opens until its panel first answers (src/report/leases.ts). */
function gated(): BudgetTracker {
  const t = new BudgetTracker();
  t.setCentral(GATE, { key: null, label: "this runtime's central budgets", limitMicros: 0, ceilingMicros: Number.MAX_SAFE_INTEGER, unavailableSince: Date.now() });
  t.linkWith(() => [GATE]);
  return t;
}

function notices(tracker: BudgetTracker): { n: BudgetNotices; said: NewEvent[] } {
  const said: NewEvent[] = [];
  const state = { record: (e: NewEvent) => said.push(e) } as unknown as StateManager;
  const n = new BudgetNotices({ state, tracker, policy: { onExhausted: 'refuse', minIncreaseMicros: 0 } as never, alert: () => undefined, stopAgent: () => undefined });
  return { n, said };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('what a waiting call waits for', () => {
  it('names the in-flight calls only when they are what it waits for', async () => {
    const t = new BudgetTracker();
    t.setLimit('a', 100);
    const first = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const second = t.acquire('a', { amountMicros: 60 }, LONG);
    expect(t.waitsFor('a')).toEqual([{ kind: 'own', label: null, since: null }]);
    const { n, said } = notices(t);
    n.waiting('a', 60, 'gpt-4o-mini');
    expect(said.map((e) => e.message)).toEqual(['1 LLM call waits for budget ($0.000060 held by 1 in-flight request): $0.000060 needed']);
    expect(said[0]!.data).toMatchObject({ waiting: 1, inFlight: 1, on: ['own'] });
    t.settle(first.reservationId, 1);
    await second;
    n.waiting('a', 0, null);
    expect(said.at(-1)!.message).toBe('No LLM call waits for budget any more');
  });

  it("a runtime's first call to its panel waits for the panel's answer, and says nothing when that comes within a second", async () => {
    const t = gated();
    t.setLimit('a', null);
    const call = t.acquire('a', { amountMicros: 60 }, LONG);
    expect(call).toBeInstanceOf(Promise);
    expect(t.waitsFor('a')).toEqual([{ kind: 'panel', label: "this runtime's central budgets", since: expect.any(Number) }]);
    const { n, said } = notices(t);
    n.waiting('a', 60, 'gpt-4o-mini');
    await sleep(50);
    // The panel answers: no central budget covers this agent.
    t.link('a', []);
    expect(await call).toMatchObject({ ok: true });
    n.waiting('a', 0, null);
    await sleep(1_100);
    expect(said).toEqual([]);
  });

  it('says what it waits for once the panel has kept it a second: never "held by 0 in-flight requests"', async () => {
    const t = gated();
    t.setLimit('a', null);
    const call = t.acquire('a', { amountMicros: 60 }, LONG);
    const { n, said } = notices(t);
    n.waiting('a', 60, 'gpt-4o-mini');
    await sleep(1_150);
    expect(said.map((e) => e.message)).toEqual(["1 LLM call waits for the control panel to answer (this runtime's central budgets): $0.000060 needed"]);
    expect(said[0]!.data).toMatchObject({ on: ['panel'] });
    t.link('a', []);
    await call;
    n.waiting('a', 0, null);
    expect(said.at(-1)!.message).toBe('No LLM call waits for budget any more');
  });

  it("a call the panel never answered is refused in the user's words: no internal account, no limit that is no budget's", async () => {
    const t = gated();
    t.setLimit('a', null);
    const r = await t.acquire('a', { amountMicros: 60 }, { timeoutMs: 30, maxWaiting: 10 });
    if (r.ok) throw new Error('expected a refusal');
    expect(r.code).toBe('no_lease');
    expect(r.message).toMatch(/^this runtime's central budgets: the control panel has not answered for \d+ s, so no lease covers this call \(waited 30 ms\): \$0\.000060 requested$/);
    expect(r.limitMicros).toBeNull();
    const { n, said } = notices(t);
    n.refused(r, 'gpt-4o-mini');
    expect(said).toHaveLength(1);
    expect(said[0]!.data).toEqual({ requestedUsd: 0.00006, spentUsd: 0, limitUsd: null, model: 'gpt-4o-mini' });
    expect(n.refusalMessage(r, 'gpt-4o-mini')).toMatch(
      /^Iron Cage held back this gpt-4o-mini call \(nothing was sent to the provider\): this runtime's central budgets: the control panel has not answered for \d+ s, .* no call goes out before the panel has answered once; check that it is up and that this runtime reaches it\.$/,
    );
    expect(JSON.stringify(said[0])).not.toContain('central:');
  });

  it('a short lease names the budget it waits on', () => {
    expect(waitsFor([{ kind: 'lease', label: 'team budget sales ($500.00/month)', since: null }], null)).toBe('for the control panel to lease more of team budget sales ($500.00/month)');
    expect(
      waitsFor(
        [
          { kind: 'own', label: null, since: null },
          { kind: 'lease', label: 'user budget ann ($50.00/day)', since: null },
        ],
        { reservedMicros: 400_000, openReservations: 2 },
      ),
    ).toBe('for budget ($0.40 held by 2 in-flight requests) and for the control panel to lease more of user budget ann ($50.00/day)');
  });
});
