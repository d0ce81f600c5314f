import { useEffect, useState } from 'preact/hooks';
import { ActionButton } from '../action-button.js';
import { agentLive, approveAvailability, toastSettled } from '../actions.js';
import { api, ApiError } from '../api.js';
import { money, time } from '../format.js';
import { refreshStatus } from '../refresh.js';
import { dismissToast, INFO_TOAST_MS, useStore } from '../store.js';
import type { Toast } from '../toasts.js';
import { jumpTimeline } from '../timeline.js';
import { StopAgent } from './agent.js';
import { Args, Decide, showQueue } from './approvals.js';

/**
 * Pop-ups, newest last, at most three; announced to screen readers. On a small screen only
 * the newest shows, the others folded into a "+N earlier" button above it (styles.css).
 */
export function Toasts() {
  const s = useStore();
  const [unfolded, setUnfolded] = useState(false);
  const earlier = s.toasts.length - 1;
  return (
    <div class={unfolded ? 'toasts unfolded' : 'toasts'} aria-live="polite" aria-relevant="additions" data-testid="toasts">
      {earlier > 0 && (
        <button type="button" class="btn small toasts-fold" data-testid="toasts-fold" aria-expanded={unfolded} onClick={() => setUnfolded(!unfolded)}>
          {unfolded ? 'Show the newest only' : `+${earlier} earlier`}
        </button>
      )}
      {s.toasts.map((t) => (
        <ToastView t={t} key={t.id} />
      ))}
    </div>
  );
}

function ToastView({ t }: { t: Toast }) {
  const [note, setNote] = useState<string | null>(null);
  const s = useStore();
  // What the pop-up offers is decided at every render from the live store (actions.ts), not when
  // its event came: the role may have arrived since, the run may have ended, the limit may have
  // been raised by anyone (another tab, the API, the demo's stage hand).
  const offers = s.role === 'admin' && t.agentId !== null && (t.approve !== undefined || t.stop === true);
  const live = agentLive(t.agentId, s);
  const approve = t.approve;
  // Decided at every render from the store: once its run has ended, the pop-up says so and goes.
  const settled = toastSettled(t, s);
  useEffect(() => {
    if (settled === null) return;
    const timer = setTimeout(() => dismissToast(t.id), INFO_TOAST_MS);
    return () => clearTimeout(timer);
  }, [settled === null, t.id]);
  return (
    <div
      class={`toast toast-${t.severity}${settled !== null ? ' toast-settled' : ''}`}
      data-testid="toast"
      data-kind={t.kind}
      data-approval={t.approval?.id}
      data-settled={String(settled !== null)}
      role={t.severity === 'info' ? 'status' : 'alert'}
    >
      <div class="toast-head">
        <strong>
          <span aria-hidden="true">{t.severity === 'error' ? '🔴' : t.severity === 'warn' ? '⚠️' : 'ℹ️'}</span> {t.title}
        </strong>
        <span class="muted small">{time(t.ts)}</span>
        <button type="button" class="toast-close" data-testid="toast-close" aria-label="Close" onClick={() => dismissToast(t.id)}>
          ×
        </button>
      </div>
      {t.body && <p class={t.kind === 'pii' ? 'toast-body mono' : 'toast-body'}>{t.body}</p>}
      {t.approval && (
        <>
          <Args text={t.approval.args} small />
          <Decide a={t.approval} testid="toast-approval" />
          <button type="button" class="link small" data-testid="toast-queue" onClick={showQueue}>
            Show in the queue
          </button>
        </>
      )}
      {(offers || settled !== null) && !note && !live.ok && (
        <p class="toast-body action-reason" data-testid="toast-stale">
          {live.reason}
        </p>
      )}
      {offers && !note && live.ok && (
        <div class="toast-actions">
          {approve && (
            <ActionButton
              when={approveAvailability(t.agentId!, approve, s)}
              class="btn primary"
              testid="approve-increase"
              // The limit the warning was about travels with the request: the server refuses it (409) once it moved.
              run={() => api(`/api/agents/${encodeURIComponent(t.agentId!)}/budget`, { method: 'POST', body: { limitUsd: approve.toLimitUsd, expectedLimitUsd: approve.fromLimitUsd } })}
              onDone={() => {
                setNote(`Budget raised to ${money(approve.toLimitUsd)}`);
                setTimeout(() => dismissToast(t.id), 2500);
              }}
              onRefused={(e) => {
                // Refused as stale: this page missed a change; fetch the limit so the button says which.
                if (e instanceof ApiError && e.code === 'stale') refreshStatus(t.agentId!);
              }}
            >
              Approve {money(approve.increaseUsd)} increase
            </ActionButton>
          )}
          {t.stop && <StopAgent id={t.agentId!} testid="stop-agent" />}
        </div>
      )}
      {t.jump && t.agentId && (
        <div class="toast-actions">
          <button type="button" class="btn small" data-testid="toast-timeline" onClick={() => jumpTimeline({ agentId: t.agentId!, ...t.jump! })}>
            Show in timeline
          </button>
        </div>
      )}
      {note && <p class="toast-body">{note}</p>}
    </div>
  );
}
