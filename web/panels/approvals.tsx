// The approval queue: the calls a policy rule holds for a person, of every agent, each with
// what it would send (redacted), who may decide and how long it has waited and has left, and
// Approve / Deny with an optional reason; under them the latest decisions. The same Approve /
// Deny is in each approval's pop-up (toasts.tsx). The alert's link, `<dashboard>/#approvals`,
// lands here.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ActionButton } from '../action-button.js';
import { decideAvailability } from '../actions.js';
import { ApiError } from '../api.js';
import { callLabel, outcomeText } from '../approval-lists.js';
import { decideApproval, liveApproval, refetchApproval } from '../approvals.js';
import { duration, time } from '../format.js';
import { addToast, changed, dismissToastKey, useStore } from '../store.js';
import { pageToast } from '../toasts.js';
import type { ApprovalView } from '../types.js';
import { Name, Panel, useNow } from '../ui.js';

/** Where the approval alert's link lands: the queue. */
const HASH = '#approvals';
const ICON: Record<ApprovalView['status'], string> = { pending: '⏳', approved: '✅', denied: '⛔', expired: '⌛', withdrawn: '↩' };

/** Go to the queue (the pop-up's "Show in queue"): the same way the alert's link does. */
export function showQueue(): void {
  if (location.hash === HASH) dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = HASH;
}

/** Whether the URL asks for the queue, and a count bumped each time it is asked again. */
function useAsked(): { asked: boolean; visit: number } {
  const [at, setAt] = useState({ asked: location.hash === HASH, visit: 0 });
  useEffect(() => {
    const on = () => setAt((x) => ({ asked: location.hash === HASH, visit: x.visit + 1 }));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return at;
}

export function ApprovalsPanel() {
  const s = useStore();
  const a = s.approvals;
  const { asked, visit } = useAsked();
  const box = useRef<HTMLDivElement>(null);
  const held = a.status === 'ok' && (a.pending.length > 0 || a.decided.length > 0);
  // Shown when there is something to decide or to read, or when a link asked for it.
  const shown = held || asked;
  useEffect(() => {
    if (asked && shown) box.current?.closest('section')?.scrollIntoView({ block: 'start' });
  }, [asked, visit, shown]);
  if (!shown) return null;
  const waiting = a.status === 'ok' ? a.pending.length : 0;
  return (
    <Panel
      title="Approvals"
      id="approvals"
      anchor="approvals"
      actions={
        waiting > 0 ? (
          <span class="chip tone-warn" data-testid="approvals-waiting">
            {waiting} waiting
          </span>
        ) : null
      }
    >
      <div class="approvals-body" ref={box} data-testid="approvals-panel">
        {a.status === 'loading' && <p class="muted small">…</p>}
        {a.status === 'error' && <p class="muted small">{a.message}</p>}
        {a.status === 'ok' && a.pending.length === 0 && (
          <p class="muted small" data-testid="approvals-none">
            No call is waiting for a person.
          </p>
        )}
        {a.status === 'ok' && a.pending.length > 0 && (
          <ul class="approvals" aria-label="Waiting for a decision, oldest first">
            {a.pending.map((x) => (
              <Pending key={x.id} a={x} />
            ))}
          </ul>
        )}
        {a.status === 'ok' && a.decided.length > 0 && (
          <>
            <h3 class="sub-head">Recent decisions</h3>
            <ul class="approvals-decided">
              {a.decided.map((x) => (
                <Decided key={x.id} a={x} />
              ))}
            </ul>
          </>
        )}
      </div>
    </Panel>
  );
}

function Pending({ a }: { a: ApprovalView }) {
  const now = useNow();
  const left = Date.parse(a.expiresAt) - now;
  return (
    <li class="approval" data-testid="approval" data-id={a.id} data-status={a.status}>
      <div class="approval-head">
        <strong class="approval-call" data-testid="approval-call">
          <Name text={callLabel(a)} />
        </strong>
        <span class="chip approval-agent" title={a.agentId} data-testid="approval-agent">
          {a.agentName}
        </span>
      </div>
      <p class="approval-meta small">
        {a.ahead && <span>asked ahead · </span>}
        <span>
          rule <code>{a.rule}</code>
        </span>{' '}
        · <span data-testid="approval-approvers">{a.approversText} may decide</span> · <span data-testid="approval-waited">waited {duration(now - Date.parse(a.requestedAt))}</span> ·{' '}
        <span data-testid="approval-left" class={left < 60_000 ? 'tone-warn' : undefined}>
          {left > 0 ? `${duration(left)} left` : 'timing out'}
        </span>
      </p>
      {a.note && <p class="approval-note small">Note: {a.note}</p>}
      <Args text={a.args} />
      <Decide a={a} testid="approval" />
    </li>
  );
}

function Decided({ a }: { a: ApprovalView }) {
  return (
    <li class={`approval-done st-${a.status}`} data-testid="approval-decided" data-id={a.id} data-status={a.status}>
      <span class="approval-outcome">
        <span aria-hidden="true">{ICON[a.status]}</span> {outcomeText(a)}
      </span>{' '}
      <span class="approval-call">
        <Name text={callLabel(a)} />
      </span>{' '}
      <span class="muted small">
        · {a.agentName} · waited {duration(a.waitedMs)}
        {a.decidedAt ? ` · ${time(a.decidedAt)}` : ''}
      </span>
      {a.reason && <span class="approval-reason-said small"> · “{a.reason}”</span>}
    </li>
  );
}

/** What the call would send, redacted, as the approver reads it: pretty when it is JSON, scrolled in its own box, never wider than the panel. */
export function Args({ text, small }: { text: string; small?: boolean }) {
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    /* cut at its size cap, or not JSON: as it came */
  }
  return (
    <pre
      class={small ? 'approval-args small' : 'approval-args'}
      data-testid="approval-args"
      data-scroll-region="approval-args"
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so the keyboard can scroll it
      tabIndex={0}
      title="The call's arguments, redacted"
    >
      {shown || '(no arguments)'}
    </pre>
  );
}

/**
 * Approve / Deny with an optional reason, in the queue and in the pop-up: acting on the queue's
 * live copy of the approval, so once anyone decided it (another tab, the API, its timeout) the
 * buttons are off and say who. A page that had not heard yet is refused by the server (409):
 * it then says who decided, and the approval leaves the queue and its pop-up goes.
 */
export function Decide({ a: given, testid }: { a: ApprovalView; testid: string }) {
  const s = useStore();
  const now = useNow();
  const a = liveApproval(given.id, given) ?? given;
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const when = decideAvailability(a, s, now);
  const refused = (e: unknown) => {
    if (e instanceof ApiError && e.status === 409) return void alreadyDecided(a);
    setError(e instanceof Error ? e.message : String(e));
  };
  const run = (decision: 'approve' | 'deny') => () => {
    setError(null);
    return decideApproval(a.id, decision, reason);
  };
  return (
    <div class="approval-decide">
      {when.ok && (
        <input
          class="approval-why"
          data-testid={`${testid}-why`}
          placeholder="Reason (optional)"
          maxLength={500}
          autocomplete="off"
          aria-label="Reason, told to the agent and kept with the decision"
          value={reason}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
        />
      )}
      <div class="toast-actions">
        <ActionButton when={when} quiet class="btn primary" testid={`${testid}-approve`} run={run('approve')} onError={refused}>
          Approve
        </ActionButton>
        <ActionButton when={when} quiet class="btn danger" testid={`${testid}-deny`} run={run('deny')} onError={refused}>
          Deny
        </ActionButton>
        {!when.ok && (
          <span class="action-reason small" data-testid={`${testid}-off`}>
            {when.reason}
          </span>
        )}
      </div>
      {error && (
        <p class="error small" role="alert" data-testid={`${testid}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** Refused as decided already: learn by whom, say so in a pop-up of its own; the approval's own pop-up goes with the refetch. */
async function alreadyDecided(a: ApprovalView): Promise<void> {
  const v = await refetchApproval(a.id);
  dismissToastKey(`approval:${a.id}`);
  const said = v && v.status !== 'pending' ? outcomeText(v) : null;
  addToast(
    pageToast({
      key: `approval-stale:${a.id}`,
      kind: 'info',
      severity: 'info',
      title: said ? `Already ${said[0]!.toLowerCase()}${said.slice(1)}` : 'Already decided',
      body: `${callLabel(a)} · ${a.agentName}: nothing changed`,
    }),
  );
  changed();
}
