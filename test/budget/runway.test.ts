import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, loadConfig, type Config } from '../../src/config/index.js';
import { parsePriceOverrides, SPEC_PRICE_OVERRIDES } from '../../src/domain/budget/index.js';
import { sqliteOf } from '../helpers/db.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, tempDir, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// The runway (GET /api/agents/:id/budget), the burn-rate alarm and the thresholds against a live
// runtime: figures compared with the ledger, alerts counted on a real webhook.

let t: TestRuntime | undefined;
let hook: FakeService | undefined;
afterEach(async () => {
  await t?.stop();
  await hook?.close();
  t = undefined;
  hook = undefined;
});

const policy = (extra: Partial<Config['gateway']['budgetPolicy']>): Config['gateway']['budgetPolicy'] => ({ ...DEFAULTS.gateway.budgetPolicy, ...extra });

const chat = async (a: AgentToken, body: object) => {
  const r = await fetch(`${t!.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4', max_tokens: 20, ...body }),
  });
  await r.text();
  return r.status;
};

const ledger = (agentId: string) =>
  sqliteOf(t!.rt.state).prepare('SELECT cost_micros AS cost, reserved_micros AS reserved FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as Array<{ cost: number; reserved: number }>;
const eventsOf = async (agentId: string, type: string) => {
  const { events } = await (await t!.api(`/api/events?agentId=${agentId}&limit=1000`)).json();
  return events.filter((e: any) => e.type === type);
};

describe('runway with the simulated provider', () => {
  it('rate, remaining, runway, units left and the next call at worst equal the ledger; the alarm fires once per arming', async () => {
    hook = await FakeService.start();
    t = await startTestRuntime({
      config: {
        gateway: { ...DEFAULTS.gateway, pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), budgetPolicy: policy({ runwayAlertMinutes: 10 }) },
        alerts: { webhookUrl: `${hook.url}/slack`, email: null },
      },
    });
    // No limit: no runway.
    const free = await agentToken(t, { budgetUsd: null });
    const none = await (await t.api(`/api/agents/${free.agentId}/budget`)).json();
    expect(none).toMatchObject({ limitUsd: null, runway: null });

    const a = await agentToken(t, { budgetUsd: 1 });
    const before = await (await t.api(`/api/agents/${a.agentId}/budget`)).json();
    expect(before.runway).toMatchObject({ rateUsdPerMin: 0, remainingUsd: 1, runwayMs: null, unitsLeft: null, nextCallWorstUsd: null, alertMs: 600_000, thresholds: [0.9, 1], firedThresholds: [] });
    expect(before.runway.text).toMatch(/no spend/);

    expect(await chat(a, { messages: [{ role: 'user', content: 'first' }] })).toBe(200);
    const one = ledger(a.agentId)[0]!;
    // One call of ~$0.002 against $1 over the minute the rate is measured over at least: hundreds of minutes left.
    expect((await eventsOf(a.agentId, 'budget.runway')).length).toBe(0);
    const r = await t.api(`/api/agents/${a.agentId}/progress`, { method: 'POST', token: a.token, body: JSON.stringify({ done: 4, total: 100, unit: 'leads' }) });
    expect(r.status).toBe(200);
    // Bring the runway under 10 min: lower the limit close to the spend (the alarm is armed by a new limit).
    const lowered = await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: (one.cost * 6) / 1e6 }) });
    expect(lowered.status).toBe(200);
    expect(await chat(a, { messages: [{ role: 'user', content: 'second' }] })).toBe(200);
    const fired = await until(async () => {
      const e = await eventsOf(a.agentId, 'budget.runway');
      return e.length > 0 ? e : null;
    });
    const rows = ledger(a.agentId);
    const spent = rows.reduce((n, x) => n + x.cost, 0);
    const limit = one.cost * 6;
    expect(fired).toHaveLength(1);
    expect(fired[0].severity).toBe('warn');
    expect(fired[0].data).toMatchObject({ spentUsd: spent / 1e6, limitUsd: limit / 1e6, remainingUsd: (limit - spent) / 1e6, alertMs: 600_000, unit: 'leads' });
    expect(fired[0].data.runwayMs).toBeLessThan(600_000);
    expect(fired[0].message).toMatch(/gone in/);

    const b = (await (await t.api(`/api/agents/${a.agentId}/budget`)).json()).runway;
    // Every settled call is inside the window: the rate is the ledger's spend over the window's length.
    expect(b.windowMs).toBeGreaterThanOrEqual(60_000);
    expect(b.windowMs).toBeLessThanOrEqual(300_000);
    expect(b.rateUsdPerMin).toBeCloseTo(((spent / 1e6) * 60_000) / b.windowMs, 6);
    expect(b.remainingUsd).toBe((limit - spent) / 1e6);
    expect(b.runwayMs).toBeCloseTo((((limit - spent) / 1e6) * 60_000) / b.rateUsdPerMin, -3);
    // 4 leads done for what was spent: what is left pays for this many more.
    expect(b.unitsLeft).toBe(Math.floor(((limit - spent) * 4) / spent));
    expect(b.unit).toBe('leads');
    expect(b.nextCallWorstUsd).toBe(rows.at(-1)!.reserved / 1e6);
    // 96 of the 100 leads are still to do, more than what is left pays for: said beside it.
    expect(b.unitsToGo).toBe(96);
    expect(b.covers).toBe(false);
    expect(b.text).toMatch(new RegExp(`^≈ ${b.unitsLeft} more leads? of the 96 left, .* at \\$[\\d.]+/min · next call ≤ \\$`));

    // Once per arming: another call under the alert says nothing more.
    expect(await chat(a, { messages: [{ role: 'user', content: 'third' }] })).toBe(200);
    expect(await eventsOf(a.agentId, 'budget.runway')).toHaveLength(1);
    // A new limit arms it again; far above the spend: no alarm; back near it: the second one.
    const spentNow = ledger(a.agentId).reduce((n, x) => n + x.cost, 0);
    expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: 1000 }) })).status).toBe(200);
    expect(await chat(a, { messages: [{ role: 'user', content: 'fourth' }] })).toBe(200);
    expect(await eventsOf(a.agentId, 'budget.runway')).toHaveLength(1);
    expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: (spentNow + 4 * one.cost) / 1e6 }) })).status).toBe(200);
    expect(await chat(a, { messages: [{ role: 'user', content: 'fifth' }] })).toBe(200);
    await until(async () => ((await eventsOf(a.agentId, 'budget.runway')).length === 2 ? true : null));

    // Each alarm left by the webhook (and nothing else did: no threshold was crossed).
    const runwayHooks = await until(() => {
      const h = hook!.json().filter((m) => /runway/i.test(m.text));
      return h.length === 2 ? h : null;
    });
    expect(runwayHooks[0].text).toMatch(/gone in/);
    expect(Array.isArray(runwayHooks[0].blocks)).toBe(true);
  });

  it('runway_alert_minutes: 0 turns the alarm off; a bad value fails the config with the key named', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway, budgetPolicy: policy({ runwayAlertMinutes: 0 }) } } });
    const a = await agentToken(t, { budgetUsd: 0.0005 });
    for (let i = 0; i < 3; i++) await chat(a, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] });
    expect(await eventsOf(a.agentId, 'budget.runway')).toHaveLength(0);
    const b = await (await t.api(`/api/agents/${a.agentId}/budget`)).json();
    expect(b.runway.alertMs).toBeNull();
    expect(b.runway.rateUsdPerMin).toBeGreaterThan(0);
    expect((await t.api('/api/agents/nobody/budget')).status).toBe(404);
    const { dir, cleanup } = tempDir();
    try {
      for (const [v, why] of [
        ['-1', 'must be 0 \\(off\\) or more'],
        ['20000', 'must be at most 10080'],
        ['soon', 'expected number'],
      ]) {
        writeFileSync(join(dir, 'c.yaml'), `budget_policy: { runway_alert_minutes: ${v} }\n`);
        expect(() => loadConfig({ configPath: 'c.yaml', env: {}, cwd: dir })).toThrow(new RegExp(`budget_policy\\.runway_alert_minutes: ${why}`));
      }
    } finally {
      cleanup();
    }
  });
});

const upstream = useFakeLlm();

describe('thresholds at 50/80/90/100%', () => {
  it('each fires its event and its alert once', async () => {
    hook = await FakeService.start();
    t = await startTestRuntime({
      config: {
        gateway: upstream.gateway(
          { key: 'sk-test', timeoutMs: 2000 },
          { pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), budgetPolicy: policy({ thresholds: [0.5, 0.8, 0.9, 1], runwayAlertMinutes: 0 }) },
        ),
        alerts: { webhookUrl: `${hook.url}/slack`, email: null },
      },
    });
    const a = await agentToken(t, { budgetUsd: 1 });
    // $0.03/1K prompt tokens at the spec GPT-4 price: 10,000 tokens = $0.30, then $0.15 steps.
    const spend = async (tokens: number) => {
      upstream.answer({ text: 'x', usage: { prompt_tokens: tokens, completion_tokens: 0 } });
      expect(await chat(a, { max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })).toBe(200);
    };
    await spend(10_000); // 30%
    await spend(10_000); // 60%: crosses 50%
    await spend(5_000); // 75%
    await spend(2_000); // 81%: crosses 80%
    await spend(3_000); // 90%: crosses 90%
    await spend(3_000); // 99%
    await spend(1_000); // 100% (what is over is overshoot): crosses 100%
    const crossed = await until(async () => {
      const e = await eventsOf(a.agentId, 'budget.threshold');
      return e.length === 4 ? e : null;
    });
    expect(crossed.map((e: any) => e.data.threshold)).toEqual([0.5, 0.8, 0.9, 1]);
    expect(crossed.map((e: any) => e.severity)).toEqual(['warn', 'warn', 'warn', 'critical']);
    // The budget's alerts (the same prompt sent seven times is also a loop the watch reports).
    const budgetHooks = () => hook!.json().filter((h) => /% used|exhausted/i.test(h.text));
    const hooks = await until(() => (budgetHooks().length === 4 ? budgetHooks() : null));
    expect(hooks.map((h) => h.text.match(/(\d+)% used|exhausted/i)?.[0])).toEqual(['50% used', '80% used', '90% used', 'exhausted']);
    const b = await (await t.api(`/api/agents/${a.agentId}/budget`)).json();
    expect(b.runway.thresholds).toEqual([0.5, 0.8, 0.9, 1]);
    expect(b.runway.firedThresholds).toEqual([0.5, 0.8, 0.9, 1]);
  });
});
