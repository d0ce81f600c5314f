import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { keyHash, startDemoServices, type DemoServices } from '../../src/demo/services.js';
import { loadScenario, predictCalls, predictSpend } from '../../src/demo/scenario.js';
import { ROOT, startTestRuntime, tempDir, until, WsProbe } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The real demo agent (python3) through a real iron-cage runtime configured by the demo's own
// config, at zero pace, against the demo's in-process services: the spend after every lead is
// what the scenario predicts from the price table, and each scripted moment lands on its lead
// (the prompt injection with the e-mails the config's after_injection rule refuses after it).

const KEY = 'demo-core test master key 3f9a';
const OPENAI_KEY = 'sk-demo-original-0000000000000001';
const ROTATED_KEY = 'sk-demo-rotated-0000000000000002';
const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const { dir, cleanup } = tempDir();
let svc: DemoServices | undefined;
afterAll(async () => {
  await svc?.close();
  cleanup();
});

describe('the lead-gen agent through the cage', () => {
  it('spends what the scenario predicts, lead by lead, and hits every trigger on its lead', async () => {
    const s = loadScenario(join(ROOT, 'demo/scenario.yaml'));
    svc = await startDemoServices(s);
    const base = loadConfig({ configPath: join(ROOT, 'demo/iron-cage.yaml'), env: {}, cwd: dir });
    const config = {
      ...base,
      port: 0,
      db: join(dir, 'iron_demo.db'),
      // The budget's one source is the scenario (iron-cage demo writes it into the config it runs).
      budgetMicros: Math.round(s.budgetUsd * 1e6),
      gateway: {
        ...base.gateway,
        providers: { ...base.gateway.providers, openai: { ...base.gateway.providers.openai!, baseUrl: svc.llmUrl } },
      },
      alerts: { ...base.alerts, email: null },
      tools: {
        ...base.tools,
        linkedin: { ...base.tools.linkedin!, url: svc.linkedinUrl },
        clearbit: { ...base.tools.clearbit!, url: svc.clearbitUrl },
        mailer: { ...base.tools.mailer!, url: svc.mailerUrl },
      },
    };

    // The demo's secrets go in through the API before the agent needs them.
    const setup = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY }, config });
    for (const [name, value] of [
      ['OPENAI_API_KEY', OPENAI_KEY],
      ['LINKEDIN_TOKEN', 'li-demo-token-00000001'],
      ['CLEARBIT_KEY', 'cb-demo-key-00000001'],
      ['MAILER_KEY', 'ml-demo-key-00000001'],
    ]) {
      expect((await setup.api('/api/secrets', { method: 'POST', ...json({ name, value }) })).status).toBe(201);
    }
    await setup.stop();

    const t = await startTestRuntime({ dir, env: { IRON_CAGE_MASTER_KEY: KEY, DEMO_PACE_S: '0' }, config, agent: { script: join(ROOT, 'demo/lead_gen_agent.py') } });
    const ws = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    try {
      await ws.opened;
      const agentId = t.rt.agentId!;
      // Rotate the OpenAI key once the agent is at the rotation lead, as an admin would.
      const rotated = (async () => {
        await until(() => (t.rt.state.getAgent(agentId)?.progress?.done ?? 0) >= s.triggers.rotation.lead - 1, 120_000, 5);
        const id = (await (await t.api('/api/secrets')).json()).secrets.find((x: any) => x.name === 'OPENAI_API_KEY').id;
        expect((await t.api(`/api/secrets/${id}`, { method: 'PUT', ...json({ value: ROTATED_KEY }) })).status).toBe(200);
      })();
      // Approve the increase as the demo's controller does, as soon as the warning comes.
      const warning = await ws.waitForEvent((e) => e.type === 'budget.threshold' && e.data.threshold === 0.9, 120_000);
      const raise = await t.api(`/api/agents/${agentId}/budget`, { method: 'POST', ...json({ limitUsd: s.budgetUsd + s.triggers.budgetWarning.approveUsd }) });
      expect(raise.status).toBe(200);
      await rotated;
      await until(() => t.rt.state.getAgent(agentId)?.status === 'completed', 120_000);
      const agent = t.rt.state.getAgent(agentId)!;
      expect(agent.progress).toMatchObject({ done: s.leads, total: s.leads, succeeded: s.leads, failed: 0 });

      // Every call is the one predicted, with the usage the upstream reported and the ledger kept.
      const calls = svc.llmCalls();
      const predicted = predictCalls(s);
      expect(calls.map((c) => [c.lead, c.model, c.promptTokens, c.completionTokens, c.pii])).toEqual(predicted.map((c) => [c.lead, c.request.model, c.promptTokens, c.completionTokens, c.pii]));
      const rows = sqliteOf(t.rt.state).prepare('SELECT model, status, prompt_tokens, completion_tokens, cost_micros FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as any[];
      expect(rows.map((r) => [r.model, r.status, r.prompt_tokens, r.completion_tokens])).toEqual(calls.map((c) => [c.model, 'ok', c.promptTokens, c.completionTokens]));

      // The cumulative spend after each lead, from the ledger, is the prediction to the micro-dollar.
      const perLead = new Array<number>(s.leads).fill(0);
      for (const [i, r] of rows.entries()) perLead[calls[i]!.lead! - 1]! += r.cost_micros;
      const cumulative = perLead.map(
        (
          (sum) => (v: number) =>
            (sum += v)
        )(0),
      );
      expect(cumulative.map((m) => m / 1e6)).toEqual(predictSpend(s));
      const costs = await (await t.api(`/api/agents/${agentId}/costs`)).json();
      expect(Math.round(costs.spentUsd * 1e6)).toBe(cumulative.at(-1));

      // 90% of the budget is crossed by a call of the warning's lead; the event says so.
      const warnAt = Math.ceil(s.budgetUsd * 1e6 * 0.9);
      expect(cumulative.findIndex((v) => v >= warnAt) + 1).toBe(s.triggers.budgetWarning.lead);
      expect(warning.data.spentUsd).toBeGreaterThanOrEqual(s.budgetUsd * 0.9);
      expect(warning.data.spentUsd).toBeLessThanOrEqual(cumulative[s.triggers.budgetWarning.lead - 1]! / 1e6);
      // Without the approval the run would have gone past the budget before its last lead.
      expect(cumulative.at(-1)! / 1e6).toBeGreaterThan(s.budgetUsd);

      // LinkedIn: live until the breaker lead, then its status until the circuit opened after
      // five failures; nothing reached it afterwards, and Clearbit stood in from that lead on.
      const b = s.triggers.breaker;
      const linkedin = svc.toolCalls().filter((c) => c.service === 'linkedin');
      expect(linkedin.map((c) => [c.lead, c.status])).toEqual([...Array.from({ length: b.lead - 1 }, (_, i) => [i + 1, 200]), ...Array.from({ length: 5 }, (_, i) => [b.lead + i, b.status])]);
      const open = ws.events().filter((e) => e.type === 'breaker.transition' && e.data.to === 'OPEN');
      expect(open).toHaveLength(1);
      expect(open[0].data).toMatchObject({ service: 'linkedin', consecutiveFailures: 5 });
      expect(
        svc
          .toolCalls()
          .filter((c) => c.service === 'clearbit')
          .map((c) => c.lead),
      ).toEqual(Array.from({ length: s.leads - b.lead + 1 }, (_, i) => b.lead + i));

      // PII: the one answer that carried the CEO's e-mail was redacted before the agent saw it.
      expect(calls.filter((c) => c.pii).map((c) => c.lead)).toEqual([s.triggers.pii.lead]);
      const audit = sqliteOf(t.rt.state).prepare('SELECT type, location FROM pii_audit').all() as any[];
      expect(audit).toHaveLength(1);
      expect(audit[0]).toEqual({ type: 'EMAIL', location: 'llm.output' });
      expect(t.log()).toContain(`lead ${s.triggers.pii.lead}: the model's answer held personal data, redacted by the cage`);
      expect(t.log()).toContain('[EMAIL_REDACTED]');
      expect(t.log()).not.toContain('ceo.office@');

      // The injection: flagged once, in Clearbit's answer for its lead, before that lead was done.
      // From then on the after_injection rule refused each e-mail the agent sent (nothing reached
      // the mail API); every e-mail before it went out, and each refused lead still counts as done.
      const inj = s.triggers.injection;
      const events = ws.events();
      const found = events.filter((e) => e.type === 'injection.detected');
      expect(found).toHaveLength(1);
      expect(found[0].agentId).toBe(agentId);
      expect(found[0].data).toMatchObject({ source: 'tool.response', action: 'detected', requestRef: 'tool:clearbit' });
      expect(found[0].data.signals).toContain('hidden-html');
      const doneBefore = (e: any) => events.filter((x) => x.type === 'agent.progress' && x.seq < e.seq).at(-1)?.data.done ?? 0;
      expect(doneBefore(found[0])).toBe(inj.lead - 1);
      expect(svc.mails().map((m) => m.lead)).toEqual(Array.from({ length: inj.lead - 1 }, (_, i) => i + 1));
      const decisions = events.filter((e) => e.type === 'policy.decision');
      expect(decisions.map((e) => [doneBefore(e) + 1, e.data.rule, e.data.action, e.data.service])).toEqual(
        Array.from({ length: s.leads - inj.lead + 1 }, (_, i) => [inj.lead + i, 'no-mail-after-injection', 'deny', 'mailer']),
      );
      const protection = await (await t.api(`/api/agents/${agentId}/protection`)).json();
      expect(protection.promptInjectionAttempts).toBe(1);
      expect(t.log()).toContain(`lead ${inj.lead}: mailer POST /mail/send is refused by policy rule no-mail-after-injection`);
      expect(t.log()).toContain(`outreach e-mails: ${inj.lead - 1} sent, ${s.leads - inj.lead + 1} refused by the cage's policy, 0 failed`);

      // Every call carried the vault's key, never the agent's own token: the original one, then
      // from some call at or after the rotation lead on, the rotated one, without a restart.
      const keys = svc.keysSeen();
      const switched = keys.findIndex((k) => k.key === keyHash(ROTATED_KEY));
      expect(switched).toBeGreaterThan(0);
      expect(keys[switched]!.lead).toBeGreaterThanOrEqual(s.triggers.rotation.lead);
      expect(keys.slice(0, switched).every((k) => k.key === keyHash(OPENAI_KEY))).toBe(true);
      expect(keys.slice(switched).every((k) => k.key === keyHash(ROTATED_KEY))).toBe(true);
      expect(agent.restarts).toBe(0);
    } finally {
      await ws.close();
      await t.stop();
    }
  }, 240_000);
});
