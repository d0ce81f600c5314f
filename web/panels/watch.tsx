// What the runtime noticed about how the run behaves (loops, a stall, a spend spike), the
// pause gate (who paused it and why, Resume for admins) and the budget's runway. Shown only when
// there is something to say.
import { ActionButton } from '../action-button.js';
import { pauseAvailability, pausedOf, resumeAvailability } from '../actions.js';
import { api } from '../api.js';
import { runwayNow } from '../figures.js';
import { count, duration, money, time } from '../format.js';
import { refreshStatus } from '../refresh.js';
import { notifyError, useStore } from '../store.js';
import { LIVE_STATUSES } from '../status.js';
import { jumpTimeline } from '../timeline.js';
import type { Agent, TimelineItem, WatchLoop } from '../types.js';
import { Panel } from '../ui.js';

const CAUSE = { loop: 'a loop', stall: 'a stall', spike: 'a spend spike', manual: 'hand' } as const;
const KIND = { tool: 'same tool call', function: 'same function call', prompt: 'same prompt' } as const;

/** The keys of a loop's calls in a timeline page: its LLM rows and its tool rows. */
export function loopKeys(l: Pick<WatchLoop, 'requestIds' | 'toolCallIds'>): (items: TimelineItem[]) => string[] {
  const want = new Set([...l.requestIds.map((id) => `llm:${id}`), ...l.toolCallIds.map((id) => `tool:${id}`)]);
  return (items) => items.filter((i) => want.has(i.key)).map((i) => i.key);
}

export function WatchPanel({ agent }: { agent: Agent | null }) {
  const s = useStore();
  if (!agent) return null;
  const w = s.watch[agent.id];
  // How long the budget lasts at the current rate: a run that has ended spends nothing more.
  const runway = LIVE_STATUSES.has(agent.status) ? runwayNow(agent, s.runway[agent.id]) : null;
  const paused = pausedOf(agent.id, s);
  const loops = w?.loops ?? [];
  const stalled = w?.stall.stalled ? w.stall : null;
  const spike = w?.spike ?? null;
  if (!paused && loops.length === 0 && !stalled && !spike && !runway) return null;
  const admin = s.role === 'admin';
  const show = (ms: number, key: string, pick?: (items: TimelineItem[]) => string[]) => jumpTimeline({ agentId: agent.id, ms, key, pick });
  return (
    <Panel
      title="Watch"
      id="watch"
      actions={
        admin && !paused ? (
          <ActionButton
            when={pauseAvailability(agent.id, s)}
            class="btn small"
            testid="agent-pause"
            title="Hold the agent's next LLM and tool calls until you resume it"
            run={() => api(`/api/agents/${encodeURIComponent(agent.id)}/pause`, { method: 'POST', body: {} })}
            onRefused={() => refreshStatus(agent.id)}
            onError={(e) => notifyError('Pause failed', e)}
          >
            ⏸ Pause
          </ActionButton>
        ) : null
      }
    >
      {paused && (
        <div class="paused" data-testid="paused-banner" role="status">
          <p>
            <strong>⏸ Paused</strong> by {paused.by}
            {paused.cause !== 'manual' ? ` after ${CAUSE[paused.cause]}` : ''}, since {time(paused.since)}
            {paused.held > 0 ? ` · ${count(paused.held)} call${paused.held === 1 ? '' : 's'} waiting` : ''}
          </p>
          {paused.reason && <p class="muted small">{paused.reason}</p>}
          <div class="toast-actions">
            <ActionButton
              when={resumeAvailability(agent.id, s)}
              class="btn primary"
              testid="agent-resume"
              run={() => api(`/api/agents/${encodeURIComponent(agent.id)}/resume`, { method: 'POST', body: {} })}
              onRefused={() => refreshStatus(agent.id)}
            >
              ▶ Resume
            </ActionButton>
          </div>
        </div>
      )}
      {runway && (
        <p class={`runway${runway.short ? ' tone-warn' : ''}`} data-testid="runway">
          <span class="muted">Runway</span> {runway.text}
        </p>
      )}
      {(loops.length > 0 || stalled || spike) && (
        <ul class="watch-list">
          {loops.map((l) => (
            <li key={l.key} data-testid="watch-loop" data-kind={l.kind}>
              <div class="watch-what">
                <span aria-hidden="true">🔁</span> <code class="watch-label">{l.label}</code>
              </div>
              <div class="watch-figures small">
                {KIND[l.kind]} {count(l.count)}× since {time(l.firstTs)} · <strong>{money(l.wastedUsd)} wasted</strong> of {money(l.spentUsd)}
              </div>
              <button type="button" class="link small" data-testid="watch-show" onClick={() => show(Date.parse(l.lastTs), `ev:${l.seq}`, loopKeys(l))}>
                Show calls
              </button>
            </li>
          ))}
          {stalled && (
            <li data-testid="watch-stall">
              <div class="watch-what">
                <span aria-hidden="true">⏳</span> No activity for {duration(stalled.idleMs)}
              </div>
              {stalled.lastActivity && (
                <button type="button" class="link small" onClick={() => show(Date.parse(stalled.lastActivity!), '')}>
                  Show the last activity ({time(stalled.lastActivity)})
                </button>
              )}
            </li>
          )}
          {spike && (
            <li data-testid="watch-spike">
              <div class="watch-what">
                <span aria-hidden="true">📈</span> Spend {spike.factor.toFixed(1)}× its recent rate
              </div>
              <div class="watch-figures small">
                {money(spike.rateUsdPerMin)}/min against {money(spike.baselineUsdPerMin)}/min · {money(spike.spentUsd)} in {duration(spike.windowMs)}
              </div>
              <button
                type="button"
                class="link small"
                data-testid="watch-show"
                onClick={() => show(Date.parse(spike.ts), `ev:${spike.seq}`, loopKeys({ requestIds: spike.requestIds, toolCallIds: [] }))}
              >
                Show calls
              </button>
            </li>
          )}
        </ul>
      )}
    </Panel>
  );
}
