// The aggregates the panels need and the events do not carry (the cost report's models, series
// and projection, performance, protection, breakers, secrets, an earlier run's events): fetched
// from REST on the events that change them; on a timer only what time itself changes (a breaker's
// cool-down, a spending agent's rate).
import { isRefusal } from '../src/domain/outcomes/index.js';
import { api, ApiError } from './api.js';
import { loadApprovals } from './approvals.js';
import { LIVE_STATUSES } from './status.js';
import { runwayMoves } from './figures.js';
import { selectedAgent, set, state, upsertAgent } from './store.js';
import { openTimeline, timelineEvent } from './timeline.js';
import type {
  Agent,
  AgentPerformance,
  AnyEvent,
  BreakersResponse,
  CostReport,
  EventPage,
  FeedEvent,
  McpServersResponse,
  ProtectionReport,
  RunwayView,
  SecretList,
  StepsReport,
  VaultState,
  WatchView,
} from './types.js';

/**
 * What every call or progress report changes (the cost report, performance, steps, the runway,
 * the breakers' blocked counts) at most this often: the figures that matter at once (spend, limit,
 * % used) come with the events themselves (feed.ts), so a run of calls costs one request per gap,
 * not one per call. (Asked per event, a demo at a brisk pace had its page ask for performance 13
 * times a second and the breakers 4: the page's renderer and the cage busier than the agent.)
 */
export const COST_REPORT_GAP_MS = 2000;

interface Slot {
  running: boolean;
  /** Events came while it ran: once more when it is done. */
  again: boolean;
  /** A request waiting out the gap. */
  timer: ReturnType<typeof setTimeout> | null;
  startedAt: number;
}
const slots = new Map<string, Slot>();

/**
 * Run `load` now, or once more after the call in flight for `key`: a burst of events costs two
 * requests, not one per event. With `gapMs`, no sooner than that after the last one started, so
 * a steady stream of events costs one request per gap; the last event is still followed by one.
 */
function refetch(key: string, load: () => Promise<void>, gapMs = 0): void {
  const slot = slots.get(key) ?? { running: false, again: false, timer: null, startedAt: Number.NEGATIVE_INFINITY };
  slots.set(key, slot);
  if (slot.running) return void (slot.again = true);
  if (slot.timer) return;
  const wait = slot.startedAt + gapMs - Date.now();
  if (wait > 0) {
    slot.timer = setTimeout(() => {
      slot.timer = null;
      refetch(key, load, gapMs);
    }, wait);
    return;
  }
  slot.running = true;
  slot.startedAt = Date.now();
  load()
    .catch((e) => {
      if (!(e instanceof ApiError && e.status === 401)) console.warn(`refresh ${key}:`, e instanceof Error ? e.message : e);
    })
    .finally(() => {
      slot.running = false;
      if (!slot.again) return;
      slot.again = false;
      refetch(key, load, gapMs);
    });
}

const enc = encodeURIComponent;

function refreshCosts(id: string): void {
  refetch(`costs:${id}`, async () => set({ costs: { ...state.costs, [id]: await api<CostReport>(`/api/agents/${enc(id)}/costs`) } }), COST_REPORT_GAP_MS);
}
function refreshPerformance(id: string): void {
  refetch(`perf:${id}`, async () => set({ performance: { ...state.performance, [id]: await api<AgentPerformance>(`/api/agents/${enc(id)}/performance`) } }), COST_REPORT_GAP_MS);
}
function refreshProtection(id: string): void {
  refetch(`prot:${id}`, async () => set({ protection: { ...state.protection, [id]: await api<ProtectionReport>(`/api/agents/${enc(id)}/protection`) } }));
}
/** The breakers of every kind; `gapMs`: no sooner than that after the last ask (a stream of calls while a provider's circuit is open). */
export function refreshBreakers(gapMs = 0): void {
  refetch(
    'breakers',
    async () => {
      const r = await api<BreakersResponse>('/api/breakers');
      set({ breakers: r.services, providers: r.providers });
    },
    gapMs,
  );
}
/** A refetch when an OPEN MCP circuit's cooldown ends: nothing is said then (no call, no event), and the panel should not go on saying OPEN. */
let mcpCooldown: ReturnType<typeof setTimeout> | null = null;

/**
 * The MCP servers and their tools' figures: asked at each connect, then on each `mcp.call`
 * (every call that moves a server's breaker is one), at most once per COST_REPORT_GAP_MS as calls
 * come. A runtime with no MCP server answers an empty list once, and is not asked again.
 */
export function refreshMcp(): void {
  refetch(
    'mcp',
    async () => {
      const { servers } = await api<McpServersResponse>('/api/mcp/servers');
      set({ mcp: servers });
      if (mcpCooldown) clearTimeout(mcpCooldown);
      const open = servers.filter((m) => m.breaker.state === 'OPEN').map((m) => m.breaker.retryAfterMs);
      mcpCooldown = open.length === 0 ? null : setTimeout(refreshMcp, Math.min(...open) + 100);
    },
    COST_REPORT_GAP_MS,
  );
}

export function refreshSecrets(): void {
  refetch('secrets', async () => {
    try {
      // A locked vault is a state to explain, not a failed request: ask first.
      const vault = await api<VaultState>('/api/secrets/status');
      if (vault.status !== 'unlocked') return set({ secrets: { status: 'locked', message: vault.message ?? 'the vault is locked' } });
      set({ secrets: { status: 'ok', list: (await api<SecretList>('/api/secrets')).secrets } });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const status = e.status === 423 ? 'locked' : e.status === 403 ? 'forbidden' : 'error';
      set({ secrets: { status, message: e.message } });
    }
  });
}

/** The approval queue and the latest decisions, of every agent; asked again on each approval event. */
export function refreshApprovals(): void {
  refetch('approvals', loadApprovals);
}

/** Loops, stall, spike and pause; asked again on each watch event, pause and resume. */
function refreshWatch(id: string): void {
  refetch(`watch:${id}`, async () => set({ watch: { ...state.watch, [id]: await api<WatchView>(`/api/agents/${enc(id)}/watch`) } }));
}
/**
 * While a live agent spends nothing (a long tool call, a pause), its rate still falls: its window
 * moves on past its last calls. The runway is asked again this often then, with no event to say so.
 */
export const RUNWAY_IDLE_MS = 10_000;
let runwayIdle: ReturnType<typeof setTimeout> | null = null;

/** The runway moves with every call: at most one request per COST_REPORT_GAP_MS, like the cost report; and with time, while it spends. */
function refreshRunway(id: string): void {
  refetch(
    `runway:${id}`,
    async () => {
      const b = await api<{ runway?: RunwayView | null }>(`/api/agents/${enc(id)}/budget`);
      set({ runway: { ...state.runway, [id]: b.runway ?? null } });
      if (runwayIdle) clearTimeout(runwayIdle);
      const agent = state.agents.find((a) => a.id === id);
      runwayIdle = agent && runwayMoves(agent, b.runway ?? null) ? setTimeout(() => selectedAgent()?.id === id && refreshRunway(id), RUNWAY_IDLE_MS) : null;
    },
    COST_REPORT_GAP_MS,
  );
}
function refreshSteps(id: string): void {
  refetch(`steps:${id}`, async () => set({ steps: { ...state.steps, [id]: await api<StepsReport>(`/api/agents/${enc(id)}/steps?limit=10`) } }), COST_REPORT_GAP_MS);
}

export function refreshAgent(id: string): void {
  refreshCosts(id);
  refreshPerformance(id);
  refreshProtection(id);
  refreshWatch(id);
  refreshRunway(id);
  refreshSteps(id);
  openTimeline(id);
}

/** Which aggregates an event changes, for the agent it belongs to. */
export function refreshFor(ev: FeedEvent): void {
  const t = ev.type;
  const id = ev.agentId;
  // Blocked calls and cache answers are rows, not events: an agent's progress is when they change
  // (at most once per gap: an agent reports progress by the second, the breakers move seldom).
  if (t.startsWith('breaker.') || t.startsWith('fault.') || t === 'tool.fallback') refreshBreakers();
  else if (t === 'agent.progress') refreshBreakers(COST_REPORT_GAP_MS);
  // A provider's circuit is open: each LLM call's row may be one it refused (its Blocked count).
  if (t === 'llm.request' && state.providers?.some((p) => p.state !== 'CLOSED')) refreshBreakers(COST_REPORT_GAP_MS);
  // An MCP server's circuit moved (a reset, a probe, a restore): its card says so with its figures.
  if (t.startsWith('breaker.') && (ev.data as { kind?: string }).kind === 'mcp' && state.mcp !== null && state.mcp.length > 0) refreshMcp();
  if (t.startsWith('secret.')) refreshSecrets();
  if (t.startsWith('approval.')) refreshApprovals();
  if (t === 'mcp.call' && state.mcp !== null && state.mcp.length > 0) refreshMcp();
  timelineEvent(ev);
  if (!id || id !== selectedAgent()?.id) return;
  if (t === 'llm.request' || t.startsWith('budget.')) refreshCosts(id);
  if (t === 'llm.request' || t === 'agent.progress' || t === 'agent.started' || t === 'agent.exited' || t.startsWith('breaker.')) refreshPerformance(id);
  // A policy's decision changes the unauthorized actions only when it refused the call.
  if (t === 'pii.detected' || t === 'tool.refused' || t === 'injection.detected' || (t === 'policy.decision' && isRefusal(t, ev.data))) refreshProtection(id);
  if (t.startsWith('watch.') || t === 'agent.paused' || t === 'agent.resumed') refreshWatch(id);
  if (t === 'llm.request' || t === 'agent.progress' || t.startsWith('budget.')) refreshRunway(id);
  if (t === 'llm.request' || t === 'agent.progress') refreshSteps(id);
}

/**
 * The agent's status object now, from REST: after the server refused an action as stale (409),
 * the page learns what changed even if the event that said so has not reached it.
 */
export function refreshStatus(id: string): void {
  refetch(`status:${id}`, async () => set({ agents: upsertAgent(state.agents, await api<Agent>(`/api/agents/${enc(id)}/status`)) }));
}

const asked = new Set<string>();

/** An agent the page has not seen (one that connects with its own key): ask for it once. */
export function learnAgent(id: string): void {
  if (asked.has(id) || state.agents.some((a) => a.id === id)) return;
  asked.add(id);
  api<Agent>(`/api/agents/${enc(id)}/status`).then(
    (a) => set({ agents: upsertAgent(state.agents, a) }),
    () => {},
  );
}

/** Older events of one agent, from REST, merged in seq order (an earlier run picked in the picker). */
async function loadHistory(agentId: string): Promise<void> {
  const page = await api<EventPage>(`/api/events?agentId=${enc(agentId)}&limit=1000`);
  // Every event is one of AnyEvent; the route's IronEvent says as much, in a form TypeScript cannot narrow.
  const events = page.events as AnyEvent[];
  const have = new Set(state.events.map((e) => e.seq));
  const older = events.filter((e) => !have.has(e.seq) && e.seq < state.lastSeq);
  if (older.length === 0) return;
  set({ events: [...older, ...state.events].sort((a, b) => a.seq - b.seq) });
}

export function pickAgent(id: string | null): void {
  set({ picked: id });
  const a = selectedAgent();
  if (!a) return;
  refreshAgent(a.id);
  // An earlier run's events may be older than what the feed replayed: fetch them.
  if (!LIVE_STATUSES.has(a.status)) void loadHistory(a.id);
}
