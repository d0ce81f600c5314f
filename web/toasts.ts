// Which events raise a pop-up, and what it says. Info pop-ups go away by themselves; warnings
// and errors stay until closed.
import { approvalOf, callLabel } from './approval-lists.js';
import { breakerName, count, duration, money } from './format.js';
import type { Agent, AnyEvent, ApprovalView } from './types.js';

/** What a budget warning's Approve button asks for: from the limit it warned about to the one it recommends. */
export interface Approval {
  increaseUsd: number;
  /** The limit when the warning was raised: the expected limit the request carries. */
  fromLimitUsd: number;
  toLimitUsd: number;
}

export interface Toast {
  id: number;
  /** Pop-ups with the same key replace each other (one per breaker, one per agent's PII). */
  key: string;
  kind: 'breaker' | 'pii' | 'budget' | 'runway' | 'watch' | 'approval' | 'info';
  severity: 'info' | 'warn' | 'error';
  title: string;
  body: string;
  ts: string;
  agentId: string | null;
  autoDismiss: boolean;
  /**
   * Budget actions, offered to admins. Whether each still applies is decided at every render
   * from the live store (actions.ts), not here: by then the limit may have been raised by anyone.
   */
  approve?: Approval;
  stop?: boolean;
  /** "Show in timeline": the event's own row (`ev:<seq>`), whose links are the calls it is about. */
  jump?: { ms: number; key: string };
  /**
   * A call waiting for a person, as its request said it: Approve and Deny act on the
   * queue's live copy of it (approvals.ts), and the pop-up goes once anyone has decided.
   */
  approval?: ApprovalView;
  /** The pop-up is the news of the run's end itself (a crash): it stays when the run has ended, until closed. */
  endOfRun?: boolean;
}

let nextId = 1;

function make(ev: AnyEvent, t: Omit<Toast, 'id' | 'ts' | 'agentId' | 'autoDismiss'>): Toast {
  return { ...t, id: nextId++, ts: ev.ts, agentId: ev.agentId, autoDismiss: t.severity === 'info' };
}

/** Where "Show in timeline" lands: the event's row, at its time. */
const here = (ev: AnyEvent) => ({ ms: Date.parse(ev.ts), key: `ev:${ev.seq}` });
const POLICY = { warn: '', pause: ' · the agent is paused', stop: ' · the agent was stopped' } as const;

/** A pop-up the page itself raises (not an event's): info ones go away by themselves. */
export function pageToast(t: Pick<Toast, 'key' | 'kind' | 'severity' | 'title' | 'body'>): Toast {
  return { ...t, id: nextId++, ts: new Date().toISOString(), agentId: null, autoDismiss: t.severity === 'info' };
}

export function errorToast(title: string, body: string): Toast {
  return pageToast({ key: `error:${title}`, kind: 'info', severity: 'error', title, body });
}

/**
 * The pop-up for an event, or null.
 *
 * @example
 *   const t = toastFor(event, agents); if (t) show(t);
 */
export function toastFor(ev: AnyEvent, agents: Agent[]): Toast | null {
  const agent = ev.agentId ? agents.find((a) => a.id === ev.agentId) : undefined;
  switch (ev.type) {
    case 'breaker.transition': {
      const d = ev.data;
      if (d.to === 'OPEN') {
        const why = [
          `${d.consecutiveFailures} consecutive failure${d.consecutiveFailures === 1 ? '' : 's'}`,
          d.failureRate !== null ? `failure rate ${Math.round(d.failureRate * 100)}%` : null,
          d.lastFailure ? `last: ${d.lastFailure}` : null,
          `retry in ${Math.round(d.cooldownMs / 1000)} s`,
        ].filter(Boolean);
        const then =
          d.kind === 'mcp'
            ? 'Its tools/calls fail at once, never reaching it, until then.'
            : d.kind === 'provider'
              ? 'Its calls go to the next model in model_fallbacks, or are refused at once until then.'
              : 'Calls are answered by the fallback.';
        return make(ev, { key: `breaker:${d.kind}:${d.service}`, kind: 'breaker', severity: 'warn', title: `Circuit OPEN: ${breakerName(d)}`, body: `${why.join(' · ')}. ${then}` });
      }
      if (d.to === 'CLOSED')
        return make(ev, {
          key: `breaker:${d.kind}:${d.service}`,
          kind: 'breaker',
          severity: 'info',
          title: `Circuit CLOSED: ${breakerName(d)}`,
          body: d.kind === 'mcp' ? 'The MCP server answers again; its tools/calls go through.' : 'The service answers again; live calls resumed.',
        });
      return null;
    }
    case 'pii.detected': {
      const types = Object.entries(ev.data.types)
        .map(([t, n]) => `${n} ${t}`)
        .join(', ');
      return make(ev, { key: `pii:${ev.agentId}`, kind: 'pii', severity: 'warn', title: `PII ${ev.data.action}: ${types}`, body: ev.data.preview, jump: here(ev) });
    }
    case 'budget.threshold': {
      const d = ev.data;
      if (d.threshold < 0.9) return null;
      return make(ev, {
        key: `budget:${ev.agentId}`,
        kind: 'budget',
        severity: 'warn',
        title: `Budget ${Math.round(d.percentUsed)}% used`,
        body: `${money(d.spentUsd)} of ${money(d.limitUsd)}${d.projectionUsd !== null ? ` · projection ${money(d.projectionUsd)}` : ''}`,
        approve: d.recommendedIncreaseUsd > 0 ? { increaseUsd: d.recommendedIncreaseUsd, fromLimitUsd: d.limitUsd, toLimitUsd: d.action.body.limitUsd } : undefined,
        stop: true,
      });
    }
    case 'tool.refused':
      return make(ev, { key: `refused:${ev.agentId}`, kind: 'info', severity: 'warn', title: 'Unauthorized action refused', body: ev.message });
    // Their own keys: a refusal must not replace the warning that carries the Approve button.
    case 'budget.refused':
      return make(ev, { key: `budget-refused:${ev.agentId}`, kind: 'budget', severity: 'error', title: 'LLM call refused: budget', body: ev.message });
    case 'budget.exhausted':
      return make(ev, { key: `budget-exhausted:${ev.agentId}`, kind: 'budget', severity: 'error', title: 'Budget exhausted', body: ev.message, stop: ev.data.policy !== 'stop' });
    case 'agent.exited': {
      if (ev.data.status !== 'crashed') return null;
      const again = agent?.status === 'restarting';
      return make(ev, {
        key: `agent:${ev.agentId}`,
        kind: 'info',
        severity: again ? 'warn' : 'error',
        title: again ? 'Agent crashed: restarting' : 'Agent crashed',
        body: ev.message,
        endOfRun: !again,
      });
    }
    // The crash's pop-up, replaced by what happens next: when, and from where (its checkpoint or the start).
    case 'agent.restarting':
      if (ev.data.delayMs <= 0) return null;
      return make(ev, { key: `agent:${ev.agentId}`, kind: 'info', severity: 'warn', title: 'Agent crashed: restarting', body: ev.message });
    case 'watch.loop': {
      const d = ev.data;
      return make(ev, {
        key: `watch:${ev.agentId}:${d.key}`,
        kind: 'watch',
        severity: d.policy === 'warn' ? 'warn' : 'error',
        title: `Loop: ${d.count}× the same ${d.kind === 'prompt' ? 'prompt' : d.kind === 'tool' ? 'tool call' : 'function call'}`,
        body: `${d.label} · ${money(d.wastedUsd)} wasted in ${duration(Date.now() - Date.parse(d.firstTs))}${POLICY[d.policy]}`,
        jump: here(ev),
      });
    }
    case 'watch.stall':
      return make(ev, {
        key: `watch-stall:${ev.agentId}`,
        kind: 'watch',
        severity: ev.data.policy === 'warn' ? 'warn' : 'error',
        title: 'Agent stalled',
        body: `No progress report and no call for ${duration(ev.data.idleMs)}${POLICY[ev.data.policy]}`,
        jump: here(ev),
      });
    case 'watch.spike': {
      const d = ev.data;
      return make(ev, {
        key: `watch-spike:${ev.agentId}`,
        kind: 'watch',
        severity: d.policy === 'warn' ? 'warn' : 'error',
        title: `Spend spike: ${d.factor.toFixed(1)}× its recent rate`,
        body: `${money(d.rateUsdPerMin)}/min against ${money(d.baselineUsdPerMin)}/min${POLICY[d.policy]}`,
        jump: here(ev),
      });
    }
    case 'agent.paused':
      return make(ev, {
        key: `paused:${ev.agentId}`,
        kind: 'watch',
        severity: 'warn',
        title: `Agent paused by ${ev.data.by}`,
        body: ev.data.reason || 'Its next calls wait until an admin resumes it.',
        jump: here(ev),
      });
    case 'agent.resumed':
      return make(ev, {
        key: `paused:${ev.agentId}`,
        kind: 'watch',
        severity: 'info',
        title: `Agent resumed by ${ev.data.by}`,
        body: `after ${duration(ev.data.pausedMs)}${ev.data.held > 0 ? `; ${count(ev.data.held)} held call${ev.data.held === 1 ? '' : 's'} go on` : ''}`,
      });
    case 'budget.runway':
      return make(ev, { key: `runway:${ev.agentId}`, kind: 'runway', severity: 'warn', title: `Budget gone in ${duration(ev.data.runwayMs)} at this rate`, body: ev.message, jump: here(ev) });
    case 'approval.requested': {
      const a = approvalOf(ev, agents);
      return make(ev, {
        key: `approval:${a.id}`,
        kind: 'approval',
        severity: 'warn',
        title: `${a.ahead ? 'Approval asked ahead' : 'Approval needed'}: ${callLabel(a)}`,
        body: `${a.agentName} · rule ${a.rule} · ${a.approversText} may decide${a.note ? ` · ${a.note}` : ''}`,
        approval: a,
      });
    }
    case 'secret.rotated':
      return make(ev, { key: `secret:${ev.data.name}`, kind: 'info', severity: 'info', title: `Secret rotated: ${ev.data.name}`, body: ev.message });
    default:
      return null;
  }
}
