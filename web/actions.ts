// Whether each action the page offers can still be taken, derived from the live store at every
// render, never from the moment its button was drawn: an approval given in another tab, over the
// API or by the demo's stage hand, a breaker closed by its recovery probe, a secret rotated by
// someone else, all turn the button off with a short reason. The server refuses the same stale
// actions (409 `stale`); this is what keeps the page from offering them.
import { mayApprove } from '../src/domain/policy/rules.js';
import { outcomeText } from './approval-lists.js';
import { money, time } from './format.js';
import { LIVE_STATUSES, STATUS } from './status.js';
import { type State, state } from './store.js';
import type { Approval, Toast } from './toasts.js';
import type { AnyEvent, ApprovalView, FeedEvent, PausedView, Secret } from './types.js';

/** An action that can be taken now, or the reason it cannot, in a few words. */
export type Availability = { ok: true } | { ok: false; reason: string };

const ok: Availability = { ok: true };
const no = (reason: string): Availability => ({ ok: false, reason });

/** Dollars compared as the server keeps them, in micro-dollars: 50 + 25 is 75, float noise aside. */
export const micros = (usd: number): number => Math.round(usd * 1_000_000);
const sameUsd = (a: number | null, b: number | null) => (a === null || b === null ? a === b : micros(a) === micros(b));

/** The newest event of `type` for `agentId` still in the page (the log keeps the last MAX_EVENTS). */
function latest<T extends AnyEvent['type']>(
  s: Readonly<State>,
  type: T,
  agentId: string | null,
  where: (e: Extract<AnyEvent, { type: T }>) => boolean = () => true,
): Extract<AnyEvent, { type: T }> | null {
  for (let i = s.events.length - 1; i >= 0; i--) {
    const e = s.events[i] as FeedEvent;
    if (e.type === type && e.agentId === agentId && !('truncated' in e.data && e.data.truncated === true) && where(e as Extract<AnyEvent, { type: T }>)) return e as Extract<AnyEvent, { type: T }>;
  }
  return null;
}

/** The agent is still there to act on; else why not ("Agent completed"). */
export function agentLive(agentId: string | null, s: Readonly<State> = state): Availability {
  const agent = s.agents.find((a) => a.id === agentId);
  if (!agent) return no('The agent is not known to this page');
  return LIVE_STATUSES.has(agent.status) ? ok : no(`Agent ${STATUS[agent.status].label.toLowerCase()}: nothing to act on`);
}

/**
 * Approve is offered while the limit is still the one the warning was about. Once anyone has
 * changed it, the button says who and what it is now, and stays off.
 *
 * @example
 *   approveAvailability('lg-1', { increaseUsd: 25, fromLimitUsd: 50, toLimitUsd: 75 })
 *   // { ok: false, reason: 'Approved by admin demo: budget is now $75.00' } once it was
 */
export function approveAvailability(agentId: string, a: Approval, s: Readonly<State> = state): Availability {
  const live = agentLive(agentId, s);
  if (!live.ok) return live;
  const agent = s.agents.find((x) => x.id === agentId)!;
  const now = agent.budget?.limitUsd ?? null;
  if (sameUsd(now, a.fromLimitUsd)) return ok;
  const changed = latest(s, 'budget.changed', agentId, (e) => sameUsd(e.data.limitUsd, now));
  const by = changed ? ` by ${changed.data.by}` : '';
  if (sameUsd(now, a.toLimitUsd)) return no(`Approved${by}: budget is now ${money(now!)}`);
  return no(`Budget changed${by}: ${now === null ? 'no limit now' : `now ${money(now)}`}`);
}

/**
 * Whether a pop-up has outlived its subject: its agent's run has ended, so what it warned about
 * or offered is over (its panels and the event log keep what it said). It then says why and goes
 * by itself, like an info pop-up, rather than staying over the page after the run. The news of
 * the end itself (a crash) stays until closed; a pop-up about no agent (a page error) is not
 * settled by any run.
 *
 * @example
 *   toastSettled(budgetWarning) // 'Agent completed: nothing to act on' once the run has ended
 */
export function toastSettled(t: Pick<Toast, 'agentId' | 'endOfRun'>, s: Readonly<State> = state): string | null {
  if (t.agentId === null || t.endOfRun) return null;
  if (!s.agents.some((a) => a.id === t.agentId)) return null;
  const live = agentLive(t.agentId, s);
  return live.ok ? null : live.reason;
}

/** Stop is offered while the agent is live and nobody has asked it to stop yet. */
export function stopAvailability(agentId: string, s: Readonly<State> = state): Availability {
  const live = agentLive(agentId, s);
  if (!live.ok) return live;
  const started = latest(s, 'agent.started', agentId);
  const stopping = latest(s, 'agent.stopping', agentId);
  if (stopping && (!started || stopping.seq > started.seq)) return no(`Stopping (asked by ${stopping.data.requestedBy})`);
  return ok;
}

/** Reset is offered while the tool service's circuit is not CLOSED. */
export function resetAvailability(service: string, s: Readonly<State> = state): Availability {
  const b = s.breakers?.find((x) => x.service === service);
  if (!b) return no(`No circuit ${service}`);
  return b.state === 'CLOSED' ? no('Already closed') : ok;
}

/** Reset is offered while the LLM provider's circuit is not CLOSED. */
export function providerResetAvailability(provider: string, s: Readonly<State> = state): Availability {
  const b = s.providers?.find((x) => x.provider === provider);
  if (!b) return no(`No circuit for provider ${provider}`);
  return b.state === 'CLOSED' ? no('Already closed') : ok;
}

/** Reset is offered while the MCP server's circuit is not CLOSED. */
export function mcpResetAvailability(server: string, s: Readonly<State> = state): Availability {
  const m = s.mcp?.find((x) => x.name === server);
  if (!m) return no(`No MCP server ${server}`);
  return m.breaker.state === 'CLOSED' ? no('Already closed') : ok;
}

/**
 * A dialog that replaces a secret's value (edit, rotate) acts on the version it was opened on:
 * once the secret was changed or deleted since, saving would overwrite a value the user never
 * saw, so it is turned off until the dialog is opened again.
 */
export function secretAvailability(opened: Pick<Secret, 'id' | 'name' | 'updatedAt'>, s: Readonly<State> = state): Availability {
  const v = s.secrets;
  if (v.status !== 'ok') return no(v.status === 'loading' ? 'Loading…' : v.message);
  const live = v.list.find((x) => x.id === opened.id);
  if (!live) return no(`${opened.name} was deleted since this was opened`);
  if (live.updatedAt !== opened.updatedAt) {
    const by = latest(s, 'secret.updated', null, (e) => e.data.name === live.name && e.data.environment === live.environment);
    return no(`${opened.name} was changed at ${time(live.updatedAt)}${by ? ` by ${by.data.by}` : ''} since this was opened: close and open it again`);
  }
  return ok;
}

/**
 * Whether the agent's calls wait at the gate now. The agent's status object says it (every
 * agent.* event carries it); the watch view is asked for when the page has no status object yet.
 */
export function pausedOf(agentId: string | null, s: Readonly<State> = state): PausedView | null {
  const agent = s.agents.find((a) => a.id === agentId);
  if (agent && agent.paused !== undefined) return agent.paused;
  return (agentId && s.watch[agentId]?.paused) || null;
}

/** Pause is offered to admins while the agent runs and is not paused already. */
export function pauseAvailability(agentId: string, s: Readonly<State> = state): Availability {
  const live = agentLive(agentId, s);
  if (!live.ok) return live;
  const p = pausedOf(agentId, s);
  return p ? no(`Paused already (by ${p.by})`) : ok;
}

/** Resume: an admin's, while the agent is paused; a viewer sees why not. */
export function resumeAvailability(agentId: string, s: Readonly<State> = state): Availability {
  if (s.role !== 'admin') return no('Read-only: only an admin can resume');
  const live = agentLive(agentId, s);
  if (!live.ok) return live;
  return pausedOf(agentId, s) ? ok : no('Not paused');
}

/**
 * Approve and Deny are offered while the approval waits, to whoever its rule names (an
 * admin by role, or a named user: the page knows its login's name, the server checks it is a
 * login). Once anyone has decided it (another tab, the API, its timeout), the buttons say who.
 *
 * @example
 *   decideAvailability(a) // { ok: false, reason: 'Read-only: only admins may decide' } for a viewer
 */
export function decideAvailability(a: ApprovalView, s: Readonly<State> = state, now = Date.now()): Availability {
  if (a.status !== 'pending') return no(outcomeText(a));
  if (s.role === null) return no('Checking who you are…');
  if (s.role !== 'admin' && s.role !== 'viewer') return no("An agent's token never decides an approval");
  if (!mayApprove(a.approvers, { role: s.role, user: s.user })) return no(`${s.role === 'viewer' ? 'Read-only: only' : 'Only'} ${a.approversText} may decide`);
  if (Date.parse(a.expiresAt) <= now) return no('Timed out: nobody decided in time');
  return ok;
}
