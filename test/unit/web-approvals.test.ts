import { describe, expect, it } from 'vitest';
import { decideAvailability } from '../../web/actions.js';
import { type ApprovalLists, approvalOf, DECIDED_SHOWN, withEvent, withView } from '../../web/approval-lists.js';
import type { State } from '../../web/store.js';
import { toastFor } from '../../web/toasts.js';
import type { Agent, AnyEvent, ApprovalView } from '../../web/types.js';

// Approvals in the page, from its state alone: the queue kept by the feed's events, who may press
// Approve / Deny and why not, and the pop-up. test/browser/approvals.test.ts drives the same
// through a runtime in Chromium.

const agents = [{ id: 'ag-1', name: 'writer' }] as unknown as Agent[];
let seq = 0;
const requested = (id: string, o: Partial<{ approvers: { roles: string[]; users: string[] }; ahead: boolean; note: string | null; ts: string }> = {}) =>
  ({
    seq: ++seq,
    ts: o.ts ?? '2026-11-24T10:00:00.000Z',
    agentId: 'ag-1',
    type: 'approval.requested',
    severity: 'warn',
    message: 'Waiting for approval: crm POST /contacts',
    data: {
      id,
      kind: 'http',
      service: 'crm',
      tool: 'contacts',
      method: 'POST',
      args: '{"name":"Ada"}',
      rule: 'crm-writes',
      approvers: o.approvers ?? { roles: ['admin'], users: [] },
      expiresAt: '2026-11-24T10:10:00.000Z',
      ahead: o.ahead ?? false,
      note: o.note ?? null,
    },
  }) as AnyEvent;
const decided = (id: string, status: 'approved' | 'denied' | 'expired' | 'withdrawn', by: string | null, reason: string | null) =>
  ({
    seq: ++seq,
    ts: '2026-11-24T10:00:05.000Z',
    agentId: 'ag-1',
    type: 'approval.decided',
    severity: 'info',
    message: 'decided',
    data: { id, status, by, reason, waitedMs: 5000, service: 'crm', tool: 'contacts', rule: 'crm-writes' },
  }) as AnyEvent;
const none: ApprovalLists = { pending: [], decided: [] };
const view = (id: string, o: Partial<ApprovalView> = {}): ApprovalView => ({ ...approvalOf(requested(id) as Extract<AnyEvent, { type: 'approval.requested' }>, agents), ...o });
const state = (o: Partial<State>): State => ({ agents, role: 'admin', user: 'runtime', ...o }) as State;
const at = Date.parse('2026-11-24T10:01:00.000Z');

describe('the queue, kept by the events', () => {
  it('a request adds its approval once, as GET /api/approvals/:id would show it; its decision moves it to the decisions, newest first', () => {
    let l = withEvent(none, requested('apr_1'), agents);
    expect(l.pending).toHaveLength(1);
    expect(l.pending[0]).toMatchObject({ id: 'apr_1', agentName: 'writer', approversText: 'admins', status: 'pending', requestedAt: '2026-11-24T10:00:00.000Z' });
    expect(withEvent(l, requested('apr_1'), agents)).toBe(l);
    l = withEvent(l, requested('apr_0', { ts: '2026-11-24T09:59:00.000Z' }), agents);
    expect(l.pending.map((x) => x.id)).toEqual(['apr_0', 'apr_1']);
    l = withEvent(l, decided('apr_1', 'denied', 'admin alice', 'not this one'), agents);
    expect(l.pending.map((x) => x.id)).toEqual(['apr_0']);
    expect(l.decided[0]).toMatchObject({ id: 'apr_1', status: 'denied', decidedBy: 'admin alice', reason: 'not this one', waitedMs: 5000 });
    // A decision of an approval the page never held adds nothing (the refetch brings it); a second decision changes nothing.
    expect(withEvent(l, decided('apr_x', 'approved', 'admin alice', null), agents)).toBe(l);
    expect(withEvent(l, decided('apr_1', 'approved', 'admin bob', null), agents)).toBe(l);
  });

  it('keeps the latest decisions only, and puts a server view in its place', () => {
    let l = none;
    for (let i = 0; i < DECIDED_SHOWN + 5; i++) l = withView(l, view(`apr_${i}`, { status: 'approved', decidedAt: new Date(at + i * 1000).toISOString() }));
    expect(l.decided).toHaveLength(DECIDED_SHOWN);
    expect(l.decided[0]!.id).toBe(`apr_${DECIDED_SHOWN + 4}`);
    l = withView({ pending: [view('apr_p')], decided: [] }, view('apr_p', { status: 'expired' }));
    expect(l).toEqual({ pending: [], decided: [view('apr_p', { status: 'expired' })] });
  });
});

describe('Approve and Deny', () => {
  it('are offered to whom the rule names while the approval waits; everyone else sees why not', () => {
    const a = view('apr_1');
    expect(decideAvailability(a, state({}), at)).toEqual({ ok: true });
    expect(decideAvailability(a, state({ role: 'viewer', user: 'projector' }), at)).toEqual({ ok: false, reason: 'Read-only: only admins may decide' });
    expect(decideAvailability(a, state({ role: 'agent' as never }), at)).toEqual({ ok: false, reason: "An agent's token never decides an approval" });
    expect(decideAvailability(a, state({ role: null }), at)).toEqual({ ok: false, reason: 'Checking who you are…' });
    const carols = view('apr_2', { approvers: { roles: [], users: ['carol'] }, approversText: 'user carol' });
    expect(decideAvailability(carols, state({ role: 'viewer', user: 'Carol' }), at)).toEqual({ ok: true });
    expect(decideAvailability(carols, state({}), at)).toEqual({ ok: false, reason: 'Only user carol may decide' });
  });

  it('go off once anyone decided it, saying who, and once its time is up', () => {
    expect(decideAvailability(view('apr_1', { status: 'approved', decidedBy: 'admin alice' }), state({}), at)).toEqual({ ok: false, reason: 'Approved by admin alice' });
    expect(decideAvailability(view('apr_1', { status: 'expired' }), state({}), at)).toEqual({ ok: false, reason: 'Expired' });
    expect(decideAvailability(view('apr_1'), state({}), Date.parse('2026-11-24T10:10:00.000Z'))).toEqual({ ok: false, reason: 'Timed out: nobody decided in time' });
  });
});

describe('the pop-up', () => {
  it('says the call, the agent, the rule and who may decide, and carries the approval', () => {
    const t = toastFor(requested('apr_1', { note: 'closing the Acme deal', ahead: true }), agents)!;
    expect(t).toMatchObject({
      key: 'approval:apr_1',
      kind: 'approval',
      severity: 'warn',
      autoDismiss: false,
      title: 'Approval asked ahead: crm POST /contacts',
      body: 'writer · rule crm-writes · admins may decide · closing the Acme deal',
      approval: { id: 'apr_1', status: 'pending' },
    });
    expect(toastFor(decided('apr_1', 'approved', 'admin alice', null), agents)).toBeNull();
  });
});
