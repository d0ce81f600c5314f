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

/**
 * How many of an agent's most recent LLM calls (and, apart, tool calls) the performance figures
 * are over. A day at one call a second is 86,400 calls: reading and sorting them all took 0.7 s a
 * request at the end of `npm run bench -- scale`. 1,000 keeps the p99 a rank of its own (the
 * 10th slowest) and costs about 1,000 index steps however long the agent has run.
 */
export const PERFORMANCE_WINDOW = 1_000;

/** What the dashboard's performance panel shows (GET /api/agents/:id/performance). */
export interface AgentPerformance {
  agentId: string;
  throughput: { perHour: number; unit: string };
  /**
   * `calls`: the calls that settled ok among the agent's last `window` LLM requests (every one
   * while it has made fewer), the sample the latency percentiles are over; `window` is
   * PERFORMANCE_WINDOW once the agent has made that many, null before (the sample is all of them).
   */
  llm: { calls: number; latencyMs: Percentiles | null; window: number | null };
  /** `calls`: tool calls a tier answered (live, cache, placeholder or failed) among the agent's last `window`; null rate before any. */
  tools: { calls: number; cacheHitRate: number | null; window: number | null };
  uptimePercent: number | null;
}

/**
 * Throughput, LLM latency, tool cache hit rate and uptime of one agent, from what the database
 * holds (so an earlier run reads the same as a live one). Latency and the cache hit rate are
 * over the agent's last PERFORMANCE_WINDOW calls of each kind.
 *
 * @example
 *   agentPerformance({ state, llm: RequestsStore.of(state), tools: ToolsStore.of(state) }, agent, Date.now())
 */
export function agentPerformance(d: { state: StateManager; llm: RequestsStore; tools: ToolsStore }, agent: AgentView, nowMs: number): AgentPerformance {
  const recent = d.llm.recentCalls(agent.id, PERFORMANCE_WINDOW);
  const latencies = recent
    .filter((r) => r.status === 'ok' && r.latencyMs !== null)
    .map((r) => r.latencyMs!)
    .sort((a, b) => a - b);
  const calls = d.tools.tierCounts(agent.id, PERFORMANCE_WINDOW);
  const { perHour, unit } = throughput(agent, nowMs);
  const windowOf = (n: number) => (n >= PERFORMANCE_WINDOW ? PERFORMANCE_WINDOW : null);
  return {
    agentId: agent.id,
    throughput: { perHour: Math.round(perHour * 10) / 10, unit },
    llm: { calls: latencies.length, latencyMs: percentiles(latencies), window: windowOf(recent.length) },
    tools: { calls: calls.calls, cacheHitRate: calls.calls === 0 ? null : Math.round((calls.cache / calls.calls) * 10_000) / 10_000, window: windowOf(calls.read) },
    uptimePercent: uptimePercent(agent, d.state.eventsOfTypes(agent.id, UPTIME_EVENTS), nowMs),
  };
}
