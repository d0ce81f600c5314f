import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { money, time } from '../format.js';
import { dismissToast, useStore } from '../store.js';
import type { Toast } from '../toasts.js';
import { LIVE_STATUSES } from '../status.js';
import { StopAgent } from './agent.js';

/**
 * #24: pop-ups, newest last, at most three; announced to screen readers. On a small screen only
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
  const agent = s.agents.find((a) => a.id === t.agentId);
  // Decided now, not when the event came: the role may have arrived since, the run may have ended.
  const canAct = s.role === 'admin' && agent !== undefined && LIVE_STATUSES.has(agent.status);
  const approve = async () => {
    // The limit now plus the increase: someone may have changed it since the warning.
    const limitUsd = (agent?.budget?.limitUsd ?? 0) + t.approve!.increaseUsd;
    try {
      await api(`/api/agents/${encodeURIComponent(t.agentId!)}/budget`, { method: 'POST', body: { limitUsd } });
      setNote(`Budget raised to ${money(limitUsd)}`);
      setTimeout(() => dismissToast(t.id), 2500);
    } catch (e) {
      setNote(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div class={`toast toast-${t.severity}`} data-testid="toast" data-kind={t.kind} role={t.severity === 'info' ? 'status' : 'alert'}>
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
      {canAct && (t.approve || t.stop) && !note && (
        <div class="toast-actions">
          {t.approve && (
            <button type="button" class="btn primary" data-testid="approve-increase" onClick={approve}>
              Approve {money(t.approve.increaseUsd)} increase
            </button>
          )}
          {t.stop && t.agentId && <StopAgent id={t.agentId} testid="stop-agent" />}
        </div>
      )}
      {note && <p class="toast-body">{note}</p>}
    </div>
  );
}
