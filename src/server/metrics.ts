import type { AgentView, StateManager } from '../state/index.js';

/** Derived, never stored: metrics are computed from the agent's record and its events. */
export function agentMetrics(state: StateManager, agent: AgentView, nowMs: number) {
  const started = agent.startedAt ? Date.parse(agent.startedAt) : null;
  const ended = agent.endedAt ? Date.parse(agent.endedAt) : null;
  const elapsedMs = started === null ? 0 : Math.max(0, (ended ?? nowMs) - started);
  const { done, total, unit } = agent.progress;
  const perHour = elapsedMs > 0 ? (done / elapsedMs) * 3_600_000 : 0;
  const remaining = total === null ? null : Math.max(0, total - done);
  const etaMs = remaining === null || perHour === 0 ? null : Math.round((remaining / perHour) * 3_600_000);
  return {
    agentId: agent.id,
    status: agent.status,
    elapsedMs,
    restarts: agent.restarts,
    progress: { ...agent.progress, percent: total ? Math.round((done / total) * 1000) / 10 : null },
    throughput: { perHour: Math.round(perHour * 10) / 10, unit },
    etaMs,
    events: state.eventCounts(agent.id),
    budget: agent.budget,
  };
}
