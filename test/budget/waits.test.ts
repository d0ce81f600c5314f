import { describe, expect, it } from 'vitest';
import { BudgetTracker, clampMinimum, clampOutput, flatSchedule, usdPerMillion } from '../../src/domain/budget/index.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { responsesWire } from '../../src/gateway/wire/responses/wire.js';
import { granted, LONG, tracker } from '../helpers/waits.js';

describe('waiting for budget held by in-flight calls', () => {
  it('a call that only lacks headroom held by reservations waits, then gets it when they settle', async () => {
    const t = tracker(100);
    const first = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const second = t.acquire('a', { amountMicros: 60 }, LONG);
    expect(second).toBeInstanceOf(Promise);
    expect(t.snapshot('a')).toMatchObject({ waitingCalls: 1, reservedMicros: 60 });
    t.settle(first.reservationId, 5);
    const r = await second;
    expect(r).toMatchObject({ ok: true, amountMicros: 60 });
    expect(t.snapshot('a')).toMatchObject({ waitingCalls: 0, spentMicros: 5, reservedMicros: 60 });
  });

  it('first come, first served: a small call that would fit queues behind a waiting big one', async () => {
    const t = tracker(100);
    const first = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const order: string[] = [];
    const big = Promise.resolve(t.acquire('a', { amountMicros: 60 }, LONG)).then((r) => (order.push('big'), r));
    const small = Promise.resolve(t.acquire('a', { amountMicros: 10 }, LONG)).then((r) => (order.push('small'), r));
    expect(t.snapshot('a')!.waitingCalls).toBe(2);
    t.settle(first.reservationId, 1);
    expect((await big).ok && (await small).ok).toBe(true);
    expect(order).toEqual(['big', 'small']);
  });

  it('is refused at once, without waiting, only when settled spend plus its worst case passes the limit', async () => {
    const t = tracker(100);
    t.settle(granted(t.acquire('a', { amountMicros: 80 }, LONG)).reservationId, 80);
    const r = t.acquire('a', { amountMicros: 30 }, LONG);
    expect(r).not.toBeInstanceOf(Promise);
    expect(r).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect((r as { message: string }).message).toMatch(/would be exceeded: \$0\.000080 spent, \$0\.000030 requested/);
  });

  it('a waiting call is refused when settles leave too little for it after all', async () => {
    const t = tracker(100);
    const first = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const second = t.acquire('a', { amountMicros: 50 }, LONG);
    t.settle(first.reservationId, 60);
    expect(await second).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.snapshot('a')).toMatchObject({ waitingCalls: 0, reservedMicros: 0 });
  });

  it('the wait is bounded: past wait_ms the call is refused, saying it waited', async () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const r = await t.acquire('a', { amountMicros: 60 }, { timeoutMs: 20, maxWaiting: 10 });
    expect(r).toMatchObject({ ok: false, code: 'wait_timeout' });
    expect((r as { message: string }).message).toMatch(/waited 20 ms for in-flight requests to settle/);
    expect(t.snapshot('a')!.waitingCalls).toBe(0);
  });

  it('so is the queue: past max_waiting the next call is refused at once; wait_ms 0 refuses as before', () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 60 }, LONG));
    expect(t.acquire('a', { amountMicros: 60 }, { timeoutMs: 60_000, maxWaiting: 1 })).toBeInstanceOf(Promise);
    expect(t.acquire('a', { amountMicros: 60 }, { timeoutMs: 60_000, maxWaiting: 1 })).toMatchObject({ ok: false, code: 'queue_full' });
    const u = tracker(100);
    granted(u.acquire('a', { amountMicros: 60 }, LONG));
    expect(u.acquire('a', { amountMicros: 60 }, { timeoutMs: 0, maxWaiting: 10 })).toMatchObject({ ok: false, code: 'budget_exceeded' });
  });

  it('a caller that goes away leaves the queue, and the call behind it moves up', async () => {
    const t = tracker(100);
    const first = granted(t.acquire('a', { amountMicros: 50 }, LONG));
    const gone = new AbortController();
    const leaving = t.acquire('a', { amountMicros: 90 }, { ...LONG, signal: gone.signal });
    const staying = t.acquire('a', { amountMicros: 40 }, LONG);
    expect(t.snapshot('a')!.waitingCalls).toBe(2);
    gone.abort();
    expect(await leaving).toMatchObject({ ok: false, code: 'aborted' });
    // 50 held + 40 fits 100 once the 90 in front of it has gone.
    expect(await staying).toMatchObject({ ok: true, amountMicros: 40 });
    expect(t.snapshot('a')).toMatchObject({ waitingCalls: 0, reservedMicros: 90, openReservations: 2 });
    t.release(first.reservationId);
  });

  it('raising the limit lets waiting calls through', async () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 100 }, LONG));
    const w = t.acquire('a', { amountMicros: 50 }, LONG);
    t.setLimit('a', 200);
    expect(await w).toMatchObject({ ok: true });
  });

  it('never lets settled spend pass the limit: 50 calls, 16 at a time, random costs', async () => {
    const t = tracker(10_000);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let answered = 0;
    let refused = 0;
    const worker = async (n: number) => {
      for (let i = n; i < 50; i += 16) {
        const worst = 500 + Math.floor(rand() * 1500);
        const r = await t.acquire('a', { amountMicros: worst }, LONG);
        if (!r.ok) {
          refused++;
          continue;
        }
        await new Promise((x) => setImmediate(x));
        t.settle(r.reservationId, Math.floor(worst * rand()));
        expect(t.snapshot('a')!.settledMicros).toBeLessThanOrEqual(10_000);
        answered++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, n) => worker(n)));
    expect(answered + refused).toBe(50);
    const s = t.snapshot('a')!;
    expect(s.overshootMicros).toBe(0);
    expect(s.spentMicros).toBeLessThanOrEqual(10_000);
    expect(s).toMatchObject({ reservedMicros: 0, waitingCalls: 0 });
  });
});

describe('near_limit: clamp', () => {
  const gpt4o = flatSchedule({ input: usdPerMillion(2.5), output: usdPerMillion(10) });

  it('grants what is free down to the minimum instead of refusing, only when the whole worst case can never fit', async () => {
    const t = tracker(100);
    t.settle(granted(t.acquire('a', { amountMicros: 90 }, LONG)).reservationId, 90);
    expect(t.acquire('a', { amountMicros: 30, minMicros: 5 }, LONG)).toMatchObject({ ok: true, amountMicros: 10 });
    // Nothing free now: it waits for the clamped one rather than being refused.
    const w = t.acquire('a', { amountMicros: 30, minMicros: 5 }, LONG);
    expect(w).toBeInstanceOf(Promise);
    // Below even the minimum: refused.
    const u = tracker(100);
    u.settle(granted(u.acquire('a', { amountMicros: 98 }, LONG)).reservationId, 98);
    expect(u.acquire('a', { amountMicros: 30, minMicros: 5 }, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded' });
  });

  it('the clamped output limit is the largest whose worst case fits, in every limit field the request carries', () => {
    const c = clampOutput(gpt4o, 100, 1, 2000, 5_000);
    expect(c.costMicros).toBeLessThanOrEqual(5_000);
    expect(clampOutput(gpt4o, 100, 1, 2000, 5_000 + 10).perChoice).toBe(c.perChoice + 1);
    expect(clampOutput(gpt4o, 100, 1, 2000, 1_000_000).perChoice).toBe(2000);
    expect(clampMinimum(gpt4o, 100, 2000, 1)).toBe(Math.ceil((100 * 2.5 + 16 * 10) / 1)); // micro-dollars
    expect(openaiWire.limitOutput('chat', { model: 'gpt-4o', max_tokens: 2000, max_completion_tokens: 2000 }, 300)).toMatchObject({ max_tokens: 300, max_completion_tokens: 300 });
    expect(openaiWire.limitOutput('chat', { model: 'o3-mini' }, 300)).toEqual({ model: 'o3-mini', max_completion_tokens: 300 });
    expect(responsesWire.limitOutput('responses', { model: 'gpt-4o' }, 300)).toEqual({ model: 'gpt-4o', max_output_tokens: 300 });
    expect(anthropicWire.limitOutput('messages', { model: 'claude-3-5-haiku-latest', max_tokens: 1024 }, 40)).toMatchObject({ max_tokens: 40 });
  });
});

describe('taking back a charge whose row could not be written', () => {
  it('restores spend and re-arms the thresholds it crossed, and lets waiting calls through', async () => {
    const t = new BudgetTracker({ thresholds: [0.5, 1] });
    t.setLimit('a', 100);
    const first = granted(t.acquire('a', { amountMicros: 50 }, LONG));
    const second = granted(t.acquire('a', { amountMicros: 50 }, LONG));
    const waiting = t.acquire('a', { amountMicros: 50 }, LONG);
    const charged = t.settle(first.reservationId, 50);
    expect(charged.notices.map((n) => n.threshold)).toEqual([0.5]);
    // 50 spent + 50 held: the waiting call still waits.
    expect(t.snapshot('a')!.waitingCalls).toBe(1);
    t.uncharge('a', charged);
    expect(await waiting).toMatchObject({ ok: true });
    t.release(second.reservationId);
    expect(t.snapshot('a')).toMatchObject({ spentMicros: 0, firedThresholds: [], reservedMicros: 50 });
  });
});
