import { describe, expect, it } from 'vitest';
import { clampFloor, clampMinimum, clampPrompt, flatSchedule, usdPerMillion } from '../../src/domain/budget/index.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { granted, LONG, tracker } from '../helpers/waits.js';

// Review of the wait queue: a throwing notice, an agent forgotten or exited, a late charge, a
// fallback swapping its reservation, and clamping while other calls are in flight.

describe('the wait queue keeps every grant alive', () => {
  it('a wait notice that throws (an event write that failed) still leaves a call that is granted when headroom comes back', async () => {
    const t = tracker(100);
    const first = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const second = t.acquire(
      'a',
      { amountMicros: 60 },
      {
        ...LONG,
        onWait: () => {
          throw new Error('disk I/O error');
        },
      },
    );
    expect(second).toBeInstanceOf(Promise);
    t.settle(first.reservationId, 10);
    const r = await second;
    expect(r).toMatchObject({ ok: true, amountMicros: 60 });
    expect(t.snapshot('a')).toMatchObject({ waitingCalls: 0, reservedMicros: 60, openReservations: 1 });
  });

  it('releaseAll grants a waiter only a reservation that stays open', async () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const w = t.acquire('a', { amountMicros: 60 }, LONG);
    expect(t.releaseAll('a')).toBe(1);
    const r = await w;
    if (!r.ok) throw new Error(r.message);
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 60, openReservations: 1 });
    expect(t.settle(r.reservationId, 5).chargedMicros).toBe(5);
  });

  it('forget refuses the waiting calls and grants them nothing', async () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const w = t.acquire('a', { amountMicros: 60 }, LONG);
    t.forget('a');
    expect(await w).toMatchObject({ ok: false, code: 'unknown_agent' });
  });

  it('a late charge that leaves the head no room ever refuses it at once', async () => {
    const t = tracker(100);
    granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const w = t.acquire('a', { amountMicros: 60 }, LONG);
    t.charge('a', 50);
    expect(await w).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.snapshot('a')!.waitingCalls).toBe(0);
  });
});

describe('a fallback swaps its reservation without letting go of it', () => {
  it('a waiter does not get the headroom the call itself holds', async () => {
    const t = tracker(100);
    const call = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const w = t.acquire('a', { amountMicros: 60 }, LONG);
    let waiterDone = false;
    void Promise.resolve(w).then(() => (waiterDone = true));
    const r = await t.replace(call.reservationId, 50, LONG);
    expect(r).toMatchObject({ ok: true, reservationId: call.reservationId, amountMicros: 50 });
    await Promise.resolve();
    expect(waiterDone).toBe(false);
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 50, openReservations: 1, waitingCalls: 1 });
    t.settle(call.reservationId, 5);
    expect(await w).toMatchObject({ ok: true, amountMicros: 60 });
  });

  it('a dearer fallback waits for the difference when other calls hold it, and is refused when its own worst case passes the limit', async () => {
    const t = tracker(100);
    const call = granted(t.acquire('a', { amountMicros: 30 }, LONG));
    const other = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const bigger = t.replace(call.reservationId, 60, LONG);
    expect(bigger).toBeInstanceOf(Promise);
    t.settle(other.reservationId, 20);
    expect(await bigger).toMatchObject({ ok: true, reservationId: call.reservationId, amountMicros: 60 });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 60, openReservations: 1 });
    expect(t.replace(call.reservationId, 90, LONG)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 0, openReservations: 0 });
  });
});

describe('a fallback near the limit under near_limit: clamp', () => {
  it('is granted what is left when nothing else is in flight, and refused below its minimum', () => {
    const t = tracker(100);
    t.charge('a', 30);
    const call = granted(t.acquire('a', { amountMicros: 40 }, LONG));
    // Worst case 90 does not fit the 70 left; a minimum of 20 does: all 70 are the call's.
    expect(t.replace(call.reservationId, 90, LONG, 20)).toMatchObject({ ok: true, reservationId: call.reservationId, amountMicros: 70 });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 70, openReservations: 1 });
    // A minimum that does not fit either is a refusal, and the call holds nothing any more.
    expect(t.replace(call.reservationId, 90, LONG, 80)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 0, openReservations: 0 });
  });

  it('is not clamped while another call holds part of the budget: that one may settle for less', () => {
    const t = tracker(100);
    const call = granted(t.acquire('a', { amountMicros: 40 }, LONG));
    granted(t.acquire('a', { amountMicros: 30 }, LONG));
    expect(t.replace(call.reservationId, 110, LONG, 20)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    // The refused fallback let go of its 40; the other call still holds its 30.
    expect(t.snapshot('a')).toMatchObject({ reservedMicros: 30, openReservations: 1 });
  });

  it('does not take what is left ahead of a call already waiting: first come, first served', async () => {
    const t = tracker(100);
    const call = granted(t.acquire('a', { amountMicros: 60 }, LONG));
    const waiting = t.acquire('a', { amountMicros: 50 }, LONG);
    expect(waiting).toBeInstanceOf(Promise);
    // Its worst case passes the limit and a call waits: no clamp, a refusal that frees the 60.
    expect(t.replace(call.reservationId, 120, LONG, 30)).toMatchObject({ ok: false, code: 'budget_exceeded' });
    expect(await waiting).toMatchObject({ ok: true, amountMicros: 50 });
  });
});

describe('near_limit: clamp waits for in-flight calls before truncating', () => {
  it('clamps to what is free only once nothing is in flight', async () => {
    const t = tracker(100);
    t.settle(granted(t.acquire('a', { amountMicros: 80 }, LONG)).reservationId, 80);
    const held = granted(t.acquire('a', { amountMicros: 10 }, LONG));
    // 80 spent, 10 held, 10 free; it wants 30 (at least 5) and can never have all of it, but the hold may settle for less.
    const w = t.acquire('a', { amountMicros: 30, minMicros: 5 }, LONG);
    expect(w).toBeInstanceOf(Promise);
    t.settle(held.reservationId, 2);
    expect(await w).toMatchObject({ ok: true, amountMicros: 18 });
  });
});

describe('clamp limits providers accept', () => {
  it('floors: 16 tokens, 1024 for reasoning models, above Anthropic thinking.budget_tokens', () => {
    expect(clampFloor('gpt-4o', 0)).toBe(16);
    for (const model of ['o1', 'o3-mini', 'o4-mini-2025-04-16', 'gpt-5', 'gpt-5-mini', 'openai/o3', 'deepseek-reasoner']) expect(clampFloor(model, 0)).toBe(1024);
    expect(clampFloor('omni-moderation-latest', 0)).toBe(16);
    const thinking = (t: unknown) => anthropicWire.output('messages', { model: 'claude-sonnet-4-0', max_tokens: 4096, thinking: t }).thinking;
    expect(clampFloor('claude-sonnet-4-0', thinking({ type: 'enabled', budget_tokens: 2048 }))).toBe(2049);
    expect(clampFloor('claude-sonnet-4-0', thinking({ type: 'disabled' }))).toBe(16);
  });

  it('OpenAI chat without a limit field gets max_completion_tokens; Anthropic gets max_tokens; a field the request used is kept', () => {
    expect(openaiWire.limitOutput('chat', { model: 'gpt-4o' }, 300)).toEqual({ model: 'gpt-4o', max_completion_tokens: 300 });
    expect(openaiWire.limitOutput('chat', { model: 'ft:o4-mini:acme::x' }, 300)).toEqual({ model: 'ft:o4-mini:acme::x', max_completion_tokens: 300 });
    expect(anthropicWire.limitOutput('messages', { model: 'claude-3-5-haiku-latest' }, 300)).toEqual({ model: 'claude-3-5-haiku-latest', max_tokens: 300 });
    expect(openaiWire.limitOutput('chat', { model: 'gpt-4o', max_tokens: 2000 }, 300)).toEqual({ model: 'gpt-4o', max_tokens: 300 });
  });

  it('plans the prompt with a margin: 10% and 4 tokens a message', () => {
    expect(clampPrompt(100, openaiWire.prompt('chat', { messages: [{}, {}] }).messages.length)).toBe(118);
    expect(clampPrompt(100, openaiWire.prompt('embeddings', { input: 'hi' }).messages.length)).toBe(114);
    const gpt4o = flatSchedule({ input: usdPerMillion(2.5), output: usdPerMillion(10) });
    expect(clampMinimum(gpt4o, 100, 4000, 1, 1025)).toBe(Math.ceil(100 * 2.5 + 1025 * 10));
  });
});
