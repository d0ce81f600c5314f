// The approval queue in the store: the calls a policy rule holds for a person, loaded from REST at
// every (re)connect and kept live by the feed's events (`approval.requested` adds one,
// `approval.decided` moves it to the decisions), each approval's pop-up gone once anyone decided.
// The lists themselves are approval-lists.ts's; what the page may do with one (decide it or not,
// and why) is actions.ts's decideAvailability.
import { DECIDED_SHOWN, ordered, PENDING_MAX, withEvent, withView } from './approval-lists.js';
import { api, ApiError } from './api.js';
import { changed, dismissToastKey, set, state } from './store.js';
import type { AnyEvent, ApprovalView } from './types.js';

const enc = encodeURIComponent;
const toastKey = (id: string) => `approval:${id}`;

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
