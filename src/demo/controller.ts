import { randomBytes } from 'node:crypto';
import type { IronEvent } from '../core/events.js';
import { formatDuration, usd } from './format.js';
import type { Scenario } from './scenario.js';

// The demo's stage hand. It watches the event bus, knows which lead the agent is on, and at
// the scenario's leads does what an admin would do in the dashboard, through the same REST
// API with the run's admin token: rotate the OpenAI key, approve the budget increase. It also
// narrates each trigger on the terminal (the prompt injection and the policy refusal it leads
// to need no hand: the cage does it all). It never changes a figure: those come from the calls.
//
// A DEMO line says what no other line says: the lead, what the stage hand does, where to look.
// It never repeats a figure, an excerpt or a delivery the product's own line has just printed
// (the circuit's WARN, the PII WARN, the injection's WARN and its excerpt, the policy's refusal,
// "Budget set to …", "Budget alert e-mailed to …").

export type Pace = 'fast' | 'default' | 'talk';

/** What the controller saw: the lead each trigger fired at (null: not yet). */
export interface TriggerLeads {
  breaker: number | null;
  rotation: number | null;
  pii: number | null;
  budgetWarning: number | null;
  approval: number | null;
  /** The scenario's prompt injection, flagged in the service's answer. */
  injection: number | null;
  /** The first of the agent's tool calls a policy refused once it had read the injection. */
  refusal: number | null;
}

/** What the controller saw of the injection moment (for the results). */
export interface InjectionSeen {
  /** What the cage flagged: the detector's signals, and the service whose answer carried it. */
  finding: { service: string; signals: string[] } | null;
  /** The rule that refused the agent's calls afterwards, and the service it refused. */
  rule: { name: string; service: string } | null;
}

export interface ControllerOptions {
  subscribe(listener: (ev: IronEvent) => void): () => void;
  /** Base URL of the running iron-cage and an admin token for it. */
  url: string;
  adminToken: string;
  agentId: string;
  /** The secrets environment the agent runs in. */
  environment: string;
  scenario: Scenario;
  pace: Pace;
  say(text: string): void;
  /** At talk pace: how long to wait for the presenter's click before approving. */
  approveTimeoutMs?: number;
}

export const DEFAULT_APPROVE_TIMEOUT_MS = 90_000;

/** A service as a line names it: `clearbit` → `Clearbit`. */
export const titled = (service: string): string => service.charAt(0).toUpperCase() + service.slice(1);

/**
 * Start watching; `stop()` unsubscribes and cancels a pending approval. `failures` lists what
 * the controller could not do (the demo reports them and fails).
 *
 * @example
 * const c = startController({ subscribe: (l) => rt.state.subscribe(l), url: rt.url, adminToken: rt.adminToken,
 *   agentId: rt.agentId!, environment: 'development', scenario, pace: 'fast', say: terminal.say });
 * await rt.agentDone; c.stop(); console.log(c.triggers);
 */
export function startController(o: ControllerOptions): {
  triggers: TriggerLeads;
  /** The injection's finding and the rule that governed the agent's calls after it. */
  injection: InjectionSeen;
  failures: string[];
  /** Resolves when the e-mail for the warning threshold was delivered (or failed): true if delivered. */
  warningMailed: Promise<boolean>;
  settled(): Promise<void>;
  /** Rotate now, as lead `rotation.lead` is about to begin (once); resolves when the API answered. */
  rotate(): Promise<void>;
  stop(): void;
} {
  const t = o.scenario.triggers;
  const triggers: TriggerLeads = { breaker: null, rotation: null, pii: null, budgetWarning: null, approval: null, injection: null, refusal: null };
  const injection: InjectionSeen = { finding: null, rule: null };
  const failures: string[] = [];
  const pending: Array<Promise<unknown>> = [];
  let done = 0;
  let approveTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  let warningThreshold: number | null = null;
  let mailed: (ok: boolean) => void = () => {};
  const warningMailed = new Promise<boolean>((resolve) => (mailed = resolve));
  // The one truth for every line's lead number: the lead under way. It begins once the one
  // before is done, or once the rotation, which belongs to the lead about to begin, has started.
  let begun = 0;
  const lead = (): number => Math.min(Math.max(done + 1, begun), o.scenario.leads);

  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${o.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json?.error?.message ?? ''}`.trim());
    return json;
  };
  const act = (what: string, fn: () => Promise<void>): Promise<void> => {
    const p = fn().catch((err: unknown) => {
      failures.push(`${what}: ${(err as Error).message}`);
      o.say(`Could not ${what}: ${(err as Error).message}`);
    });
    pending.push(p);
    return p;
  };

  let rotation: Promise<void> | null = null;
  const rotate = (): Promise<void> => {
    if (rotation || stopped) return rotation ?? Promise.resolve();
    // Between lead rotation.lead - 1 and the next: the rotation belongs to the lead about to begin,
    // and so does every line said from now on (the rotated key's own event comes before lead
    // rotation.lead - 1 reports its progress).
    begun = Math.max(begun, t.rotation.lead);
    triggers.rotation = lead();
    // What follows is the product's own line (secret.rotated): the key stays in the gateway, no agent is signalled or restarted.
    o.say(`Lead ${lead()}: an admin rotates ${t.rotation.secret} through the secrets API (PUT /api/secrets/:id), as in the dashboard; the agent never holds the key, so nothing in it restarts`);
    rotation = act(`rotate ${t.rotation.secret}`, async () => {
      const list = (await api('GET', `/api/secrets?environment=${encodeURIComponent(o.environment)}`)) as { secrets: Array<{ id: string; name: string; environment: string }> };
      const secret = list.secrets.find((s) => s.name === t.rotation.secret && s.environment === o.environment);
      if (!secret) throw new Error(`no secret ${t.rotation.secret} in environment ${o.environment}`);
      await api('PUT', `/api/secrets/${secret.id}`, { value: `sk-demo-rotated-${randomBytes(12).toString('hex')}` });
    });
    return rotation;
  };

  // What the warning's Approve button offers (the product's recommendation), as a presenter would click it.
  let offered = t.budgetWarning.approveUsd;
  const approve = (limitUsd: number, why: string): void => {
    if (triggers.approval !== null) return;
    triggers.approval = lead();
    if (approveTimer) clearTimeout(approveTimer);
    approveTimer = null;
    const next = limitUsd + offered;
    o.say(`Lead ${lead()}: ${why}: approving the ${usd(offered)} increase, as the presenter would click it (POST /api/agents/:id/budget)`);
    act('approve the budget increase', async () => {
      try {
        // The limit it decided from goes with it: an approval someone else gave first is refused, not doubled.
        await api('POST', `/api/agents/${encodeURIComponent(o.agentId)}/budget`, { limitUsd: next, expectedLimitUsd: limitUsd });
      } catch (err) {
        // The presenter's click landed first (talk pace): the increase is approved, which is all this was for.
        if (!/: 409 budget not changed: /.test((err as Error).message)) throw err;
      }
    });
  };

  const onWarning = (ev: IronEvent<'budget.threshold'>): void => {
    if (triggers.budgetWarning !== null || ev.data.threshold < 0.9) return;
    triggers.budgetWarning = lead();
    const d = ev.data;
    warningThreshold = d.threshold;
    if (d.recommendedIncreaseUsd > 0) offered = d.recommendedIncreaseUsd;
    o.say(`Lead ${lead()}: the ${Math.round(d.threshold * 100)}% warning: on the dashboard a pop-up with "Approve ${usd(offered)} increase" and Stop, and an e-mail to the ops list`);
    if (o.pace !== 'talk') return approve(d.limitUsd, `${o.pace} pace`);
    const wait = o.approveTimeoutMs ?? DEFAULT_APPROVE_TIMEOUT_MS;
    o.say(`Waiting for the presenter to click "Approve ${usd(offered)} increase" on the dashboard (approved automatically in ${formatDuration(wait)})`);
    approveTimer = setTimeout(() => approve(d.limitUsd, 'no click in time'), wait);
  };

  const onEvent = (ev: IronEvent): void => {
    if (stopped) return;
    switch (ev.type) {
      case 'agent.progress': {
        if (ev.agentId !== o.agentId) return;
        done = (ev as IronEvent<'agent.progress'>).data.done;
        // Lead N begins once N-1 are done: the rotation happens before its first call.
        // (The demo rotates earlier, as the last call of the lead before is answered: see rotate.)
        if (triggers.rotation === null && done >= t.rotation.lead - 1) void rotate();
        return;
      }
      case 'breaker.transition': {
        const d = (ev as IronEvent<'breaker.transition'>).data;
        if (d.kind !== 'tool' || d.service !== t.breaker.service || d.to !== 'OPEN' || triggers.breaker !== null) return;
        triggers.breaker = lead();
        o.say(`Lead ${lead()}: with the circuit to ${d.service} open, its calls are answered from the fallback without reaching it; the agent carries on`);
        return;
      }
      case 'pii.detected': {
        const d = (ev as IronEvent<'pii.detected'>).data;
        if (ev.agentId !== o.agentId || d.location !== 'llm.output' || triggers.pii !== null) return;
        triggers.pii = lead();
        // The product's WARN quotes the redacted excerpt; this says only where to look.
        o.say(`Lead ${lead()}: the cage ${d.action} it before the agent saw it; on the dashboard: the pop-up, the PII counter, the audit row`);
        return;
      }
      case 'injection.detected': {
        const d = (ev as IronEvent<'injection.detected'>).data;
        const service = d.requestRef?.startsWith('tool:') ? d.requestRef.slice(5) : null;
        if (ev.agentId !== o.agentId || d.source !== 'tool.response' || service !== t.injection.service || triggers.injection !== null) return;
        triggers.injection = lead();
        injection.finding = { service, signals: d.signals };
        // The product's WARN quotes the excerpt; this says whose answer it was and where to look.
        const company = o.scenario.leadList?.[lead() - 1]?.company;
        o.say(
          `Lead ${lead()}: ${titled(service)}'s record${company ? ` for ${company}` : ''} hides instructions for the AI assistant (an indirect prompt injection); the cage flagged it on its way to the agent: on the dashboard, the Protection panel's Prompt injection counter and its finding`,
        );
        return;
      }
      case 'policy.decision': {
        const d = (ev as IronEvent<'policy.decision'>).data;
        if (ev.agentId !== o.agentId || d.action !== 'deny' || triggers.injection === null || triggers.refusal !== null) return;
        triggers.refusal = lead();
        injection.rule = { name: d.rule, service: d.service };
        // The product's WARN names the call and the rule; this says why the rule applies now, and for how long.
        o.say(
          `Lead ${lead()}: the rule matches only after an injection (after_injection): having read one, the agent may no longer send e-mail on its own, so each of its outreach e-mails to the end of the run is refused like this one; on the dashboard: the Protection panel's Unauthorized actions, and each refusal in the Event log`,
        );
        return;
      }
      case 'budget.threshold':
        if (ev.agentId === o.agentId) onWarning(ev as IronEvent<'budget.threshold'>);
        return;
      case 'budget.changed': {
        const d = (ev as IronEvent<'budget.changed'>).data;
        // The presenter's click at talk pace (ours is recorded too; approve() ignores a repeat).
        if (ev.agentId !== o.agentId || triggers.budgetWarning === null || triggers.approval !== null) return;
        triggers.approval = lead();
        if (approveTimer) clearTimeout(approveTimer);
        approveTimer = null;
        // "Budget set to … by …" is the product's line; this says only that the wait is over.
        o.say(`Lead ${lead()}: ${d.by} approved: the demo does not approve again`);
        return;
      }
      case 'alert.delivery': {
        // Said by the product's own line ("Budget alert e-mailed to …"): the demo only waits for it.
        const d = (ev as IronEvent<'alert.delivery'>).data;
        if (d.channel !== 'email') return;
        // The alert's id ends with its threshold (budget:<agent>:warning:0.9).
        if (warningThreshold !== null && d.alertId.endsWith(`:${warningThreshold}`)) mailed(d.ok);
        return;
      }
      default:
    }
  };

  const unsubscribe = o.subscribe(onEvent);
  return {
    triggers,
    injection,
    failures,
    warningMailed,
    settled: async () => void (await Promise.all(pending)),
    rotate,
    stop() {
      stopped = true;
      if (approveTimer) clearTimeout(approveTimer);
      unsubscribe();
    },
  };
}
