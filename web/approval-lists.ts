// The approval queue's lists as the page keeps them, from its state alone: the calls a policy rule
// holds for a person (oldest first) and the latest decisions (newest first), each event or view
// put in its place, and an outcome in words. Pure: approvals.ts keeps them in the store (loaded from
// REST at every (re)connect, kept live by the feed's events); the pop-ups (toasts.ts) read them too.
import { approversText, callLabel } from '../src/domain/policy/rules.js';
import type { Agent, AnyEvent, ApprovalView } from './types.js';

export { callLabel };

/** What the queue asks for: every approval waiting (a queue longer than this is a policy to rethink), and the latest decisions. */
export const PENDING_MAX = 200;
export const DECIDED_SHOWN = 20;

export interface ApprovalLists {
  /** Oldest first: the one waiting longest leads. */
  pending: ApprovalView[];
  /** Newest decision first. */
  decided: ApprovalView[];
}

/**
 * The view an `approval.requested` event stands for: what GET /api/approvals/:id answers then,
 * the agent named as the page knows it.
 */
export function approvalOf(ev: Extract<AnyEvent, { type: 'approval.requested' }>, agents: readonly Agent[]): ApprovalView {
  return {
    ...ev.data,
    agentId: ev.agentId ?? '',
    agentName: agents.find((a) => a.id === ev.agentId)?.name ?? ev.agentId ?? '',
    approversText: approversText(ev.data.approvers),
    requestedAt: ev.ts,
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    reason: null,
    waitedMs: 0,
    usedAt: null,
  };
}

const when = (a: ApprovalView) => a.decidedAt ?? a.requestedAt;

/** Both lists in their order, the decisions cut to DECIDED_SHOWN. */
export function ordered(l: ApprovalLists): ApprovalLists {
  return {
    pending: [...l.pending].sort((a, b) => a.requestedAt.localeCompare(b.requestedAt)),
    decided: [...l.decided].sort((a, b) => when(b).localeCompare(when(a))).slice(0, DECIDED_SHOWN),
  };
}

/** The lists with `v`, one approval as it is now, in its place (a decided one leaves the queue). */
export function withView(l: ApprovalLists, v: ApprovalView): ApprovalLists {
  const pending = l.pending.filter((x) => x.id !== v.id);
  const decided = l.decided.filter((x) => x.id !== v.id);
  return ordered(v.status === 'pending' ? { pending: [...pending, v], decided } : { pending, decided: [...decided, v] });
}

/**
 * The lists with one event applied: a request added (once), a decision moving its approval to
 * the decisions. A decision of an approval the lists never held adds nothing: the refetch each
 * approval event causes brings it.
 */
export function withEvent(l: ApprovalLists, ev: AnyEvent, agents: readonly Agent[]): ApprovalLists {
  if (ev.type === 'approval.requested') {
    if (l.pending.some((x) => x.id === ev.data.id) || l.decided.some((x) => x.id === ev.data.id)) return l;
    return withView(l, approvalOf(ev, agents));
  }
  if (ev.type === 'approval.decided') {
    const d = ev.data;
    const was = l.pending.find((x) => x.id === d.id);
    if (!was) return l;
    return withView(l, { ...was, status: d.status, decidedBy: d.by, decidedAt: ev.ts, reason: d.reason, waitedMs: d.waitedMs });
  }
  return l;
}

/** `Approved by admin alice`, `Expired`: an outcome in a few words. */
export function outcomeText(a: Pick<ApprovalView, 'status' | 'decidedBy'>): string {
  const word = a.status === 'pending' ? 'Waiting' : `${a.status[0]!.toUpperCase()}${a.status.slice(1)}`;
  return a.decidedBy ? `${word} by ${a.decidedBy}` : word;
}
