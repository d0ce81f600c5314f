import { TERMINAL_STATUSES, type IronEvent } from '../core/events.js';
import { percentiles, type Percentiles } from '../core/stats.js';
import type { AgentView, RequestsStore, StateManager, ToolsStore } from '../state/index.js';

/** Units of work per hour since the first start (to the end, for a run that has ended). */
function throughput(agent: AgentView, nowMs: number): { elapsedMs: number; perHour: number; unit: string } {
  const started = agent.startedAt ? Date.parse(agent.startedAt) : null;
  const ended = agent.endedAt ? Date.parse(agent.endedAt) : null;
  const elapsedMs = started === null ? 0 : Math.max(0, (ended ?? nowMs) - started);
  const perHour = elapsedMs > 0 ? (agent.progress.done / elapsedMs) * 3_600_000 : 0;
  return { elapsedMs, perHour, unit: agent.progress.unit };
}

/** Derived, never stored: metrics are computed from the agent's record and its events. */
export function agentMetrics(state: StateManager, agent: AgentView, nowMs: number) {
  const { done, total } = agent.progress;
  const { elapsedMs, perHour, unit } = throughput(agent, nowMs);
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

/** The lifecycle events uptime is computed from. */
export const UPTIME_EVENTS = ['agent.started', 'agent.exited', 'agent.restarting'] as const;

/**
 * Share of the time since the first start that the agent spent running, in percent (0.1
 * precision): a run is open from `agent.started` until the next `agent.exited` or
 * `agent.restarting`. Null before the first start. An agent with no lifecycle events (one that
 * reports from outside) counts as running since it registered.
 *
 * @example
 *   uptimePercent(agent, state.eventsOfTypes(agent.id, UPTIME_EVENTS), Date.now()) // 100 for a run that never crashed
 */
export function uptimePercent(agent: Pick<AgentView, 'status' | 'startedAt'>, lifecycle: readonly Pick<IronEvent, 'type' | 'ts'>[], nowMs: number): number | null {
  let first: number | null = null;
  let openedAt: number | null = null;
  let runningMs = 0;
  let lastExit: number | null = null;
  for (const e of lifecycle) {
    const t = Date.parse(e.ts);
    if (e.type === 'agent.started') {
      first ??= t;
      if (openedAt !== null) runningMs += t - openedAt;
      openedAt = t;
    } else if (e.type === 'agent.exited' || e.type === 'agent.restarting') {
      if (openedAt !== null) runningMs += t - openedAt;
      openedAt = null;
      if (e.type === 'agent.exited') lastExit = t;
    }
  }
  if (first === null) return agent.startedAt ? 100 : null;
  // A run that has ended is measured to its end, not to now.
  const end = TERMINAL_STATUSES.has(agent.status) && lastExit !== null ? lastExit : nowMs;
  if (openedAt !== null) runningMs += Math.max(0, end - openedAt);
  const total = end - first;
  if (total <= 0) return 100;
  return Math.round(Math.min(1, runningMs / total) * 1000) / 10;
}

/** What the dashboard's performance panel shows (GET /api/agents/:id/performance). */
export interface AgentPerformance {
  agentId: string;
  throughput: { perHour: number; unit: string };
  /** `calls`: the agent's LLM requests that settled ok, the sample the latency percentiles are over. */
  llm: { calls: number; latencyMs: Percentiles | null };
  /** `calls`: tool calls a tier answered (live, cache, placeholder or failed); null rate before any. */
  tools: { calls: number; cacheHitRate: number | null };
  uptimePercent: number | null;
}

/**
 * Throughput, LLM latency, tool cache hit rate and uptime of one agent, from what the database
 * holds (so an earlier run reads the same as a live one).
 *
 * @example
 *   agentPerformance({ state, llm: new RequestsStore(state), tools: new ToolsStore(state) }, agent, Date.now())
 */
export function agentPerformance(d: { state: StateManager; llm: RequestsStore; tools: ToolsStore }, agent: AgentView, nowMs: number): AgentPerformance {
  const latencies = d.llm.okLatencies(agent.id);
  const calls = d.tools.tierCounts(agent.id);
  const { perHour, unit } = throughput(agent, nowMs);
  return {
    agentId: agent.id,
    throughput: { perHour: Math.round(perHour * 10) / 10, unit },
    llm: { calls: latencies.length, latencyMs: percentiles(latencies) },
    tools: { calls: calls.calls, cacheHitRate: calls.calls === 0 ? null : Math.round((calls.cache / calls.calls) * 10_000) / 10_000 },
    uptimePercent: uptimePercent(agent, d.state.eventsOfTypes(agent.id, UPTIME_EVENTS), nowMs),
  };
}
