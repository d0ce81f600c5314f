// The page's one state: what /ws and the REST aggregates say, plus what the user chose. Panels
// read it through useStore(); it changes only through this folder's feed.ts (the live events),
// refresh.ts (the REST aggregates) and the pop-ups below.
import { useEffect, useState } from 'preact/hooks';
import { errorToast, type Toast } from './toasts.js';
import { LIVE_STATUSES } from './status.js';
import type {
  Agent,
  AgentPerformance,
  ApprovalView,
  BreakerView,
  CostReport,
  FeedEvent,
  McpServerView,
  ProtectionReport,
  ProviderBreakerView,
  Role,
  RunwayView,
  Secret,
  StepsReport,
  TimelineItem,
  TimelineOverview,
  TimelinePage,
  WatchView,
} from './types.js';

/** Events kept in the browser: a multi-hour run must not grow the page without bound. */
export const MAX_EVENTS = 5000;
const MAX_TOASTS = 3;
/** How long an info pop-up, or one whose subject is settled (actions.ts toastSettled), stays. */
export const INFO_TOAST_MS = 6000;

export type Conn = 'connecting' | 'live' | 'reconnecting' | 'offline';
export type Auth = 'checking' | 'login' | 'ok' | 'invalid';
export type SecretsState = { status: 'loading' } | { status: 'ok'; list: Secret[] } | { status: 'locked' | 'forbidden' | 'error'; message: string };
/** The approval queue: what waits for a person (oldest first) and the latest decisions (newest first). */
export type ApprovalsState = { status: 'loading' } | { status: 'ok'; pending: ApprovalView[]; decided: ApprovalView[] } | { status: 'error'; message: string };

export interface State {
  /** What the server is: a runtime (its agent's dashboard) or a control panel (the fleet); null until it says. */
  mode: 'runtime' | 'panel' | null;
  auth: Auth;
  authMessage: string | null;
  /** The command that prints a new login link, as the server was started (`npx iron-cage dashboard --db …`): its health answer says. */
  renew: string | null;
  role: Role | null;
  user: string | null;
  conn: Conn;
  /** The last event seq shown: resume point for the WebSocket and the exactly-once guard. */
  lastSeq: number;
  agents: Agent[];
  /** The agent the user picked; null means "follow the running one". */
  picked: string | null;
  events: FeedEvent[];
  costs: Record<string, CostReport>;
  performance: Record<string, AgentPerformance>;
  protection: Record<string, ProtectionReport>;
  breakers: BreakerView[] | null;
  /** The LLM providers' breakers (GET /api/breakers `providers`): shown while one is not CLOSED. */
  providers: ProviderBreakerView[] | null;
  /** The MCP servers (GET /api/mcp/servers); null until asked, empty when the runtime has none (no panel then). */
  mcp: McpServerView[] | null;
  secrets: SecretsState;
  toasts: Toast[];
  /** Loops, stall, spike and pause of each agent (GET /api/agents/:id/watch). */
  watch: Record<string, WatchView>;
  /** The budget's runway (GET /api/agents/:id/budget); null: no limit. */
  runway: Record<string, RunwayView | null>;
  /** Cost per step, chain and model (GET /api/agents/:id/steps). */
  steps: Record<string, StepsReport>;
  /** The waterfall's window of one agent's timeline (timeline.ts). */
  timeline: TimelineState;
  /** Calls held for a person's approval, of every agent (approvals.ts). */
  approvals: ApprovalsState;
}

/**
 * A page as the server gave it. `before` pages earlier than its first item; `after` later than
 * its last, null when nothing later exists yet, undefined when the chunk was cut short (its
 * cursor no longer names its last item).
 */
export interface Chunk {
  items: TimelineItem[];
  before: string | null;
  after: string | null | undefined;
  /** The cursor of its newest item (the page's `last`): at the live end, what came since is asked after it. */
  last?: string | null;
}

export interface TimelineState {
  agentId: string | null;
  chunks: Chunk[];
  /** The chunks' items in one ascending list: what the waterfall draws. */
  items: TimelineItem[];
  total: TimelinePage['total'] | null;
  /** The first page has come (possibly empty). */
  ready: boolean;
  busy: 'first' | 'before' | 'after' | 'jump' | null;
  /** Scrolled to the live end: new items come in and the view stays at the bottom. */
  following: boolean;
  error: string | null;
  overview: TimelineOverview | null;
  /** The item whose detail is open. */
  selected: string | null;
  /** Items drawn highlighted: the selected one's links (or what a jump asked for). */
  highlight: string[];
  /** Scroll this key into view on the next render (then cleared by the view). */
  reveal: string | null;
  /** Said when a jump found nothing to land on. */
  note: string | null;
}

/** The timeline of no agent yet, or of `agentId` before its first page. */
export function emptyTimeline(agentId: string | null = null): TimelineState {
  return { agentId, chunks: [], items: [], total: null, ready: false, busy: null, following: true, error: null, overview: null, selected: null, highlight: [], reveal: null, note: null };
}

/** The state itself, for feed.ts and refresh.ts: they change it and then call `set` or `changed`. */
export const state: State = {
  mode: null,
  auth: 'checking',
  authMessage: null,
  renew: null,
  role: null,
  user: null,
  conn: 'connecting',
  lastSeq: 0,
  agents: [],
  picked: null,
  events: [],
  costs: {},
  performance: {},
  protection: {},
  breakers: null,
  providers: null,
  mcp: null,
  secrets: { status: 'loading' },
  toasts: [],
  watch: {},
  runway: {},
  steps: {},
  timeline: emptyTimeline(),
  approvals: { status: 'loading' },
};

/**
 * The page renders the state at most this often. A busy run streams events by the dozen a second
 * (the demo at a brisk pace: ~90), and each render lays the page out again: rendered per event, a
 * live dashboard kept its renderer 42% busy, at most 20 times a second 18% (with the bars moved by
 * a transform, ui.tsx barPart; docs/benchmarks-history.md, "The dashboard under a live run"). A change
 * after a quiet moment (the viewer's click, the first event of a burst) still shows at once; the
 * rest of a burst shows together at the end of the gap.
 */
export const RENDER_GAP_MS = 50;

const listeners = new Set<() => void>();
let notifyQueued = false;
let notifiedAt = Number.NEGATIVE_INFINITY;

function notify(): void {
  notifyQueued = false;
  notifiedAt = performance.now();
  for (const l of listeners) l();
}

export function changed(): void {
  if (notifyQueued) return;
  notifyQueued = true;
  const wait = notifiedAt + RENDER_GAP_MS - performance.now();
  if (wait <= 0) queueMicrotask(notify);
  else setTimeout(notify, wait);
}

export function set(patch: Partial<State>): void {
  Object.assign(state, patch);
  changed();
}

export function getState(): Readonly<State> {
  return state;
}

/**
 * Re-render the calling component whenever the state changes.
 *
 * @example
 *   const s = useStore(); return <span>{s.conn}</span>;
 */
export function useStore(): Readonly<State> {
  const [, bump] = useState(0);
  useEffect(() => {
    const l = () => bump((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}

/** The agent the panels show: the picked one, else the running one, else the newest. */
export function selectedAgent(s: Readonly<State> = state): Agent | null {
  if (s.picked) {
    const a = s.agents.find((x) => x.id === s.picked);
    if (a) return a;
  }
  return s.agents.find((a) => LIVE_STATUSES.has(a.status)) ?? s.agents[0] ?? null;
}

export function upsertAgent(list: Agent[], a: Agent): Agent[] {
  const i = list.findIndex((x) => x.id === a.id);
  if (i < 0) return [a, ...list].sort((x, y) => y.createdAt.localeCompare(x.createdAt));
  const next = list.slice();
  next[i] = a;
  return next;
}

export function addToast(t: Toast): void {
  // One pop-up per subject: a second PII detection updates the first instead of stacking.
  const next = [...state.toasts.filter((x) => x.key !== t.key), t];
  // At most three: the ones that go away by themselves make room first, then the oldest.
  while (next.length > MAX_TOASTS) {
    const i = next.findIndex((x) => x.autoDismiss && x !== t);
    next.splice(Math.max(i, 0), 1);
  }
  state.toasts = next;
  if (t.autoDismiss) setTimeout(() => dismissToast(t.id), INFO_TOAST_MS);
}

/** A pop-up for something the user did that failed (the server's message says why). */
export function notifyError(title: string, e: unknown): void {
  addToast(errorToast(title, e instanceof Error ? e.message : String(e)));
  changed();
}

export function dismissToast(id: number): void {
  if (!state.toasts.some((t) => t.id === id)) return;
  set({ toasts: state.toasts.filter((t) => t.id !== id) });
}

/** The pop-up about `key`, gone (its subject was settled elsewhere: an approval decided by anyone). */
export function dismissToastKey(key: string): void {
  const t = state.toasts.find((x) => x.key === key);
  if (t) dismissToast(t.id);
}
