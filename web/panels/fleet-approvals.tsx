// The fleet's approvals: the tool calls the runtimes hold for a person, newest first,
// each with its runtime, agent, call, rule, redacted arguments, who may decide and the time left,
// and Approve / Deny with a reason; the latest decided below; and a pop-up for each one that
// arrives while the page is open. A decision taken here is one row on the panel, which the
// runtime applies at its next poll (within about a second): the runtime has the last word, and
// its outcome shows here once its event lands. Whether a button still applies is decided at every
// render (a decision in another tab, the runtime deciding first, the clock running out).
import { useState } from 'preact/hooks';
import { ActionButton } from '../action-button.js';
import type { Availability } from '../actions.js';
import { api } from '../api.js';
import { approvalKey, dismissApprovalPop, fleet, refreshFleet } from '../fleet-store.js';
import { ago, count, duration, ms } from '../format.js';
import { useStore } from '../store.js';
import type { FleetApproval, Role } from '../types.js';
import { Name, Panel, useNow } from '../ui.js';

/** Decided approvals listed under the queue. */
const DECIDED_SHOWN = 8;

const no = (reason: string): Availability => ({ ok: false, reason });

/** Whether this page's user may decide `a` now, on the panel's clock `now`; else why not (the panel refuses the same: 403, 409). */
export function decideAvailability(a: FleetApproval, who: { role: Role | null; user: string | null }, now: number): Availability {
  if (a.panel) return no(`${a.panel.decision === 'approve' ? 'Approved' : 'Denied'} on the panel by ${a.panel.by}: the runtime applies it at its next poll`);
  if (a.status !== 'pending') return no(`Already ${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}`);
  if (Date.parse(a.expiresAt) <= now) return no('Its time ran out: the runtime refuses the call');
  const named = who.user !== null && a.approvers.users.some((u) => u.toLowerCase() === who.user!.toLowerCase());
  if (!named && !(who.role === 'admin' && a.approvers.roles.includes('admin'))) return no(`Only ${a.approversText} may decide`);
  return { ok: true };
}

/** The call in a few words: `POST crm.contacts`, `MCP github: create_pull_request`, `gpt-4o asks: shell`. */
export const callOf = (a: Pick<FleetApproval, 'kind' | 'method' | 'service' | 'tool'>): string =>
  a.kind === 'mcp' ? `MCP ${a.service}: ${a.method === null ? '' : `${a.method} `}${a.tool}` : a.kind === 'llm' ? `${a.service} asks: ${a.tool}` : `${a.method ?? ''} ${a.service}.${a.tool}`.trim();

const enc = encodeURIComponent;

/** Approve / Deny with an optional reason. */
function Decide({ a, testid }: { a: FleetApproval; testid: string }) {
  const s = useStore();
  const now = useNow() + fleet.skewMs;
  const [reason, setReason] = useState('');
  const when = decideAvailability(a, { role: s.role, user: s.user }, now);
  const run = (decision: 'approve' | 'deny') => () => api(`/api/approvals/${enc(a.runtime)}/${enc(a.id)}/${decision}`, { method: 'POST', body: reason.trim() ? { reason: reason.trim() } : {} });
  // A refusal (decided meanwhile, not among the approvers) says why beside the button; the queue is asked for again either way.
  const after = () => refreshFleet('approvals');
  return (
    <div class="fleet-approval-decide">
      {when.ok && (
        <input
          type="text"
          data-testid={`${testid}-reason`}
          maxLength={500}
          placeholder="Reason (optional)"
          aria-label={`Reason for deciding ${callOf(a)}`}
          value={reason}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
        />
      )}
      <ActionButton when={when} testid={`${testid}-approve`} class="btn small primary" run={run('approve')} onDone={after} onRefused={after}>
        Approve
      </ActionButton>
      {when.ok && (
        <ActionButton when={when} testid={`${testid}-deny`} class="btn small danger" run={run('deny')} onDone={after} onRefused={after}>
          Deny
        </ActionButton>
      )}
    </div>
  );
}

/** Time left before the rule's timeout denies the call, on the panel's clock. */
function TimeLeft({ a, now }: { a: FleetApproval; now: number }) {
  const left = Date.parse(a.expiresAt) - now;
  return (
    <span class={left > 60_000 ? 'muted' : 'tone-warn'} data-testid="approval-left" title={`expires ${a.expiresAt}`}>
      {left > 0 ? `${duration(left)} left` : 'time is up'}
    </span>
  );
}

function Pending({ a, now }: { a: FleetApproval; now: number }) {
  return (
    <li class="fleet-approval" data-testid="fleet-approval" data-runtime={a.runtime} data-id={a.id}>
      <div class="fleet-approval-head">
        <strong class="mono">
          <Name text={callOf(a)} />
        </strong>
        <TimeLeft a={a} now={now} />
      </div>
      <p class="muted small">
        <Name text={a.agentName} /> on <Name text={a.runtime} /> · rule <Name text={a.rule} /> · asked {ago(a.requestedAt, now)}
        {a.ahead && ' · asked ahead by the agent'}
      </p>
      {a.note && <p class="small">Note: {a.note}</p>}
      {a.args && (
        <pre class="fleet-approval-args" data-testid="approval-args">
          {a.args}
        </pre>
      )}
      <p class="muted small">May decide: {a.approversText}</p>
      <Decide a={a} testid="approval" />
    </li>
  );
}

function Decided({ a }: { a: FleetApproval }) {
  const ok = a.status === 'approved';
  const overruled = a.panel && (a.panel.decision === 'approve') !== ok;
  return (
    <li class="small" data-testid="fleet-approval-decided" data-id={a.id} data-status={a.status}>
      <span class={ok ? 'tone-ok' : 'tone-bad'}>{ok ? '✓' : '✗'}</span> <span class="mono">{callOf(a)}</span> on <Name text={a.runtime} />: {a.status}
      {a.decidedBy && ` by ${a.decidedBy}`}
      {a.reason && <span class="muted"> ({a.reason})</span>}
      {a.waitedMs !== null && <span class="muted"> · waited {ms(a.waitedMs)}</span>}
      {overruled && (
        <span class="muted" data-testid="approval-overruled">
          {' '}
          · the panel's {a.panel!.decision} by {a.panel!.by} came after the runtime had decided
        </span>
      )}
    </li>
  );
}

export function ApprovalsPanel() {
  const now = useNow() + fleet.skewMs;
  const list = fleet.approvals;
  const decided = fleet.approvalsDecided.slice(0, DECIDED_SHOWN);
  return (
    <Panel title="Approvals" id="fleet-approvals" actions={list && list.length > 0 && <span class="muted small tone-warn">{count(list.length)} waiting</span>}>
      {list === null ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted" data-testid="no-approvals">
          No call is waiting for a person. A runtime's tool policy (<code>action: approve</code>) holds a call here until someone it names decides.
        </p>
      ) : (
        <ul class="fleet-approvals" data-testid="fleet-approvals">
          {list.map((a) => (
            <Pending key={approvalKey(a)} a={a} now={now} />
          ))}
        </ul>
      )}
      {decided.length > 0 && (
        <details class="fleet-approvals-decided">
          <summary class="muted small">Decided lately</summary>
          <ul class="fleet-events">
            {decided.map((a) => (
              <Decided key={approvalKey(a)} a={a} />
            ))}
          </ul>
        </details>
      )}
    </Panel>
  );
}

/** A pop-up for each approval that arrived while the page was open, until it is decided or closed. */
export function ApprovalPops() {
  const now = useNow() + fleet.skewMs;
  const held = new Map((fleet.approvals ?? []).map((a) => [approvalKey(a), a]));
  const shown = fleet.popped.map((k) => held.get(k)).filter((a): a is FleetApproval => a !== undefined);
  if (shown.length === 0) return null;
  return (
    <div class="toasts fleet-approval-pops" aria-live="polite" aria-relevant="additions" data-testid="approval-pops">
      {shown.map((a) => (
        <div key={approvalKey(a)} class="toast toast-warn" role="alert" data-testid="approval-pop" data-id={a.id}>
          <div class="toast-head">
            <strong>
              <span aria-hidden="true">✋</span> Approval needed: <span class="mono">{callOf(a)}</span>
            </strong>
            <TimeLeft a={a} now={now} />
            <button type="button" class="toast-close" data-testid="approval-pop-close" aria-label="Close" onClick={() => dismissApprovalPop(approvalKey(a))}>
              ×
            </button>
          </div>
          <p class="toast-body">
            {a.agentName} on {a.runtime} · rule {a.rule}
            {a.args ? ` · ${a.args}` : ''}
          </p>
          <Decide a={a} testid="approval-pop" />
        </div>
      ))}
    </div>
  );
}
