// #44: the approval queue's data: the calls a policy rule holds for a person, loaded from REST at
// every (re)connect and kept live by the feed's events (`approval.requested` adds one,
// `approval.decided` moves it to the decisions), each approval's pop-up gone once anyone decided.
// What the page may do with one (decide it or not, and why) is actions.ts's decideAvailability.
import { approversText, type Approvers, callLabel } from '../src/domain/policy/rules.js';
import { api, ApiError } from './api.js';
import { changed, dismissToastKey, set, state } from './store.js';
import type { Agent, AnyEvent, ApprovalView } from './types.js';

export { callLabel };

/** What the queue asks for: every approval waiting (a queue longer than this is a policy to rethink), and the latest decisions. */
const PENDING_MAX = 200;
export const DECIDED_SHOWN = 20;

export interface ApprovalLists {
  /** Oldest first: the one waiting longest leads. */
  pending: ApprovalView[];
  /** Newest decision first. */
  decided: ApprovalView[];
}

const enc = encodeURIComponent;
const toastKey = (id: string) => `approval:${id}`;

/**
 * The view an `approval.requested` event stands for: what GET /api/approvals/:id answers then,
 * the agent named as the page knows it.
 */
export function approvalOf(ev: Extract<AnyEvent, { type: 'approval.requested' }>, agents: readonly Agent[]): ApprovalView {
  const d = ev.data;
  const approvers = d.approvers as Approvers;
  return {
    id: d.id,
    agentId: ev.agentId ?? '',
    agentName: agents.find((a) => a.id === ev.agentId)?.name ?? ev.agentId ?? '',
    kind: d.kind,
    service: d.service,
    tool: d.tool,
    method: d.method,
    args: d.args,
    rule: d.rule,
    approvers,
    approversText: approversText(approvers),
    ahead: d.ahead,
    note: d.note,
    requestedAt: ev.ts,
    expiresAt: d.expiresAt,
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
function ordered(l: ApprovalLists): ApprovalLists {
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

/** Approval events that came while the lists were on their way: applied on top of the answer, which may predate them. */
let cameMeanwhile: AnyEvent[] | null = null;

/** GET the queue and the latest decisions (refresh.ts calls it at every (re)connect and approval event, one at a time). */
export async function loadApprovals(): Promise<void> {
  cameMeanwhile = [];
  try {
    const [pending, decided] = await Promise.all([
      api<{ approvals: ApprovalView[] }>(`/api/approvals?status=pending&limit=${PENDING_MAX}`),
      api<{ approvals: ApprovalView[] }>(`/api/approvals?status=decided&limit=${DECIDED_SHOWN}`),
    ]);
    let l = ordered({ pending: pending.approvals, decided: decided.approvals });
    for (const ev of cameMeanwhile) l = withEvent(l, ev, state.agents);
    set({ approvals: { status: 'ok', ...l } });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401) throw e;
    set({ approvals: { status: 'error', message: e.message } });
  } finally {
    cameMeanwhile = null;
  }
}

/** A live approval event (feed.ts), into the lists at once; a decision takes its pop-up away, whoever made it. */
export function approvalEvent(ev: AnyEvent): void {
  if (ev.type !== 'approval.requested' && ev.type !== 'approval.decided') return;
  cameMeanwhile?.push(ev);
  const a = state.approvals;
  if (a.status === 'ok') state.approvals = { status: 'ok', ...withEvent(a, ev, state.agents) };
  if (ev.type === 'approval.decided') dismissToastKey(toastKey(ev.data.id));
}

/** The server's view of one approval (a decision's answer, a refusal's refetch), into the lists; decided, its pop-up goes. */
export function putApproval(v: ApprovalView): void {
  const a = state.approvals;
  if (a.status === 'ok') state.approvals = { status: 'ok', ...withView(a, v) };
  changed();
  if (v.status !== 'pending') dismissToastKey(toastKey(v.id));
}

/** The queue's live copy of an approval, else `fallback` (a pop-up's, before the queue has loaded). */
export function liveApproval(id: string, fallback: ApprovalView | null = null): ApprovalView | null {
  const a = state.approvals;
  if (a.status !== 'ok') return fallback;
  return a.pending.find((x) => x.id === id) ?? a.decided.find((x) => x.id === id) ?? fallback;
}

/** Approve or deny, with the reason typed (if any); the answer is the approval decided. */
export async function decideApproval(id: string, decision: 'approve' | 'deny', reason: string): Promise<ApprovalView> {
  const why = reason.trim();
  const v = await api<ApprovalView>(`/api/approvals/${enc(id)}/${decision}`, { method: 'POST', body: why ? { reason: why } : {} });
  putApproval(v);
  return v;
}

/** The approval as it is now, from REST: after a refusal as stale (409), the page learns who decided it. */
export async function refetchApproval(id: string): Promise<ApprovalView | null> {
  try {
    const v = await api<ApprovalView>(`/api/approvals/${enc(id)}`);
    putApproval(v);
    return v;
  } catch {
    return null;
  }
}

/** `Approved by admin alice`, `Expired`: an outcome in a few words. */
export function outcomeText(a: Pick<ApprovalView, 'status' | 'decidedBy'>): string {
  const word = a.status === 'pending' ? 'Waiting' : `${a.status[0]!.toUpperCase()}${a.status.slice(1)}`;
  return a.decidedBy ? `${word} by ${a.decidedBy}` : word;
}
