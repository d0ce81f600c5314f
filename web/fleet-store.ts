// The fleet page's state (a control panel, `mode: 'panel'`): what the fleet routes answered, what
// the user picked, and the live events of the panel's /ws. Changed only here and by
// fleet-feed.ts; panels read it after useStore(), which re-renders them on every change.
import { api, ApiError } from './api.js';
import { nextAsk } from './budgets.js';
import { changed } from './store.js';
import type {
  BudgetsResponse,
  BudgetView,
  FleetAgent,
  FleetAgentDetail,
  FleetAgentsResponse,
  FleetApproval,
  FleetEventsResponse,
  FleetApprovalsResponse,
  FleetOverview,
  FleetResponse,
  FleetRuntime,
  FleetSpend,
  SpendBy,
  SpendWindow,
} from './types.js';

/** One event of a batch, as the panel's /ws pushes it: the shape of a drill-down's event. */
export type FleetLiveEvent = FleetAgentDetail['events'][number];

/** Live events kept for the fleet's log. */
export const FLEET_EVENTS_KEPT = 200;
/** The aggregates are refetched at most this often, however fast batches land. */
export const FLEET_REFRESH_GAP_MS = 500;
/**
 * The central budgets are asked for again this often while there are any, in case a frame was
 * missed: lease calls (a `leased` frame, at most one a second per budget), landed rows and admins'
 * changes each send one.
 */
export const BUDGETS_POLL_MS = 30_000;

export interface FleetState {
  overview: FleetOverview | null;
  runtimes: FleetRuntime[];
  onlineWithinMs: number;
  /** The server's clock minus this browser's, from the last answer: "online" is the server's minute. */
  skewMs: number;
  agents: FleetAgent[] | null;
  spendBy: SpendBy;
  spendWindow: SpendWindow;
  spend: FleetSpend | null;
  /** The spend row charted (its key), or undefined for the total. */
  charted: string | null | undefined;
  picked: { runtime: string; id: string } | null;
  detail: FleetAgentDetail | null;
  /** Why the drill-down is empty (the agent is not on the panel, the request failed). */
  detailError: string | null;
  live: FleetLiveEvent[];
  /** The live list has read what the panel holds (until then it says it is loading, not that nothing came). */
  liveLoaded: boolean;
  /** The central budgets in their current windows (null until the first answer). */
  budgets: BudgetView[] | null;
  /** When the panel answered them, on its clock: runways count down from there. */
  budgetsAt: number;
  /** The last thing the panel said of each budget on the feed since the page opened (a reclaim, a threshold). */
  budgetSaid: Record<string, { message: string; at: number }>;
  /** The approvals held on the runtimes (null until the first answer), newest first; the latest decided. */
  approvals: FleetApproval[] | null;
  approvalsDecided: FleetApproval[];
  /** Approvals that arrived while the page was open and pop up until decided or dismissed (`runtime/id`). */
  popped: string[];
  error: string | null;
}

export const fleet: FleetState = {
  overview: null,
  runtimes: [],
  onlineWithinMs: 60_000,
  skewMs: 0,
  agents: null,
  spendBy: 'runtime',
  spendWindow: '24h',
  spend: null,
  charted: undefined,
  picked: null,
  detail: null,
  detailError: null,
  live: [],
  liveLoaded: false,
  budgets: null,
  budgetsAt: 0,
  budgetSaid: {},
  approvals: null,
  approvalsDecided: [],
  popped: [],
  error: null,
};

/** Whether a runtime is online now, on the server's clock. */
export function isOnline(r: Pick<FleetRuntime, 'lastSeenAt'>, now = Date.now()): boolean {
  return r.lastSeenAt !== null && now + fleet.skewMs - r.lastSeenAt <= fleet.onlineWithinMs;
}

export type FleetPart = 'fleet' | 'agents' | 'spend' | 'detail' | 'budgets' | 'approvals' | 'live';
const enc = encodeURIComponent;

const loaders: Record<FleetPart, () => Promise<void>> = {
  async fleet() {
    const asked = Date.now();
    const r = await api<FleetResponse>('/api/fleet');
    fleet.overview = r.overview;
    // A runtime frame that came while this was on its way is newer than the answer: it stays.
    const known = new Map(fleet.runtimes.map((x) => [x.id, x]));
    fleet.runtimes = r.runtimes.map((x) => {
      const k = known.get(x.id);
      return k && k.lastSeenAt !== null && (x.lastSeenAt === null || k.lastSeenAt > x.lastSeenAt) ? { ...x, lastSeenAt: k.lastSeenAt, behind: k.behind } : x;
    });
    fleet.onlineWithinMs = r.onlineWithinMs;
    fleet.skewMs = r.overview.now - Math.round((asked + Date.now()) / 2);
  },
  async agents() {
    fleet.agents = (await api<FleetAgentsResponse>('/api/fleet/agents')).agents;
  },
  async spend() {
    const by = fleet.spendBy;
    const window = fleet.spendWindow;
    const s = await api<FleetSpend>(`/api/fleet/spend?by=${by}&window=${window}`);
    // A choice made while this was on its way wins: its own request follows.
    if (fleet.spendBy === by && fleet.spendWindow === window) fleet.spend = s;
  },
  async detail() {
    const p = fleet.picked;
    if (!p) return;
    try {
      const d = await api<FleetAgentDetail>(`/api/fleet/runtimes/${enc(p.runtime)}/agents/${enc(p.id)}`);
      if (fleet.picked === p) Object.assign(fleet, { detail: d, detailError: null });
    } catch (e) {
      if (fleet.picked !== p) return;
      fleet.detailError = e instanceof ApiError && e.status === 404 ? `the panel holds no agent ${p.id} from ${p.runtime}` : e instanceof Error ? e.message : String(e);
      fleet.detail = null;
    }
  },
  async budgets() {
    const asked = Date.now();
    let r: BudgetsResponse;
    try {
      r = await api<BudgetsResponse>('/api/budgets');
    } catch (e) {
      // A token no longer good stops the asking (a new login starts it again); anything else is tried again.
      if (!(e instanceof ApiError && e.status === 401)) planBudgets();
      throw e;
    }
    Object.assign(fleet, { budgets: r.budgets, budgetsAt: Math.round((asked + Date.now()) / 2) + fleet.skewMs });
    planBudgets();
  },
  // The live list starts from what the panel holds (its frames add what lands after): a page
  // opened after the runs, or a new login, shows their latest events, not "Nothing yet".
  async live() {
    const r = await api<FleetEventsResponse>(`/api/fleet/events?limit=${FLEET_EVENTS_KEPT}`);
    fleet.liveLoaded = true;
    applyEvents(r.events, false);
  },
  async approvals() {
    const r = await api<FleetApprovalsResponse>('/api/approvals');
    const held = new Set(r.pending.map(approvalKey));
    // A pop-up lasts while its approval waits: decided anywhere, it goes.
    Object.assign(fleet, { approvals: r.pending, approvalsDecided: r.decided, popped: fleet.popped.filter((k) => held.has(k)) });
  },
};

/** An approval's key on the page: approval ids are a runtime's own. */
export const approvalKey = (a: Pick<FleetApproval, 'runtime' | 'id'>): string => `${a.runtime}/${a.id}`;

/** The events of a batch that open or close approvals: those requested pop up, and the queue is asked for again. */
export function applyApprovalEvents(events: FleetLiveEvent[]): void {
  const mine = events.filter((e) => e.type === 'approval.requested' || e.type === 'approval.decided');
  if (mine.length === 0) return;
  const asked = mine.filter((e) => e.type === 'approval.requested' && typeof e.data.id === 'string').map((e) => approvalKey({ runtime: e.runtime, id: e.data.id as string }));
  const closed = new Set(mine.filter((e) => e.type === 'approval.decided' && typeof e.data.id === 'string').map((e) => approvalKey({ runtime: e.runtime, id: e.data.id as string })));
  const popped = [...fleet.popped.filter((k) => !closed.has(k)), ...asked.filter((k) => !closed.has(k) && !fleet.popped.includes(k))];
  if (popped.length !== fleet.popped.length || popped.some((k, i) => k !== fleet.popped[i])) {
    fleet.popped = popped;
    changed();
  }
  refreshFleet('approvals');
}

/** Close an approval's pop-up (it stays in the queue). */
export function dismissApprovalPop(key: string): void {
  fleet.popped = fleet.popped.filter((k) => k !== key);
  changed();
}

let budgetsTimer: ReturnType<typeof setTimeout> | null = null;

/** Ask for the budgets no more until they are fetched again (the page's token stopped working). */
export function stopBudgetsPoll(): void {
  if (budgetsTimer) clearTimeout(budgetsTimer);
  budgetsTimer = null;
}

/** The next ask for the budgets (budgets.ts `nextAsk`); a hidden tab skips the asks, not the plan. */
function planBudgets(): void {
  stopBudgetsPoll();
  const at = nextAsk(fleet.budgets ?? [], Date.now(), fleet.skewMs, BUDGETS_POLL_MS);
  if (at === null) return;
  budgetsTimer = setTimeout(
    () => {
      budgetsTimer = null;
      if (document.hidden) planBudgets();
      else refreshFleet('budgets');
    },
    Math.max(0, at - Date.now()),
  );
}

let pending = new Set<FleetPart>();
let timer: ReturnType<typeof setTimeout> | null = null;
let running = false;
let lastRun = Number.NEGATIVE_INFINITY;

/**
 * Refetch what changed, at most once per FLEET_REFRESH_GAP_MS: the parts asked for meanwhile are
 * merged into the next round, so a stream of batches costs two rounds a second, not one per batch.
 *
 * @example
 *   refreshFleet('fleet', 'spend');
 */
export function refreshFleet(...parts: FleetPart[]): void {
  for (const p of parts) pending.add(p);
  schedule();
}

function schedule(): void {
  if (timer || running || pending.size === 0) return;
  timer = setTimeout(run, Math.max(0, lastRun + FLEET_REFRESH_GAP_MS - Date.now()));
}

async function run(): Promise<void> {
  timer = null;
  running = true;
  lastRun = Date.now();
  const parts = [...pending];
  pending = new Set();
  const results = await Promise.allSettled(parts.map((p) => loaders[p]()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  fleet.error = failed && !(failed.reason instanceof ApiError && failed.reason.status === 401) ? String(failed.reason instanceof Error ? failed.reason.message : failed.reason) : null;
  running = false;
  changed();
  schedule();
}

/** Chart and list spend by another dimension or over another window. */
export function chooseSpend(by: SpendBy, window: SpendWindow): void {
  if (by !== fleet.spendBy) fleet.charted = undefined;
  Object.assign(fleet, { spendBy: by, spendWindow: window });
  changed();
  refreshFleet('spend');
}

export function chartSpend(key: string | null | undefined): void {
  fleet.charted = key;
  changed();
}

/** Open one agent's drill-down (null closes it). */
export function pickFleetAgent(p: { runtime: string; id: string } | null): void {
  fleet.picked = p;
  fleet.detail = null;
  fleet.detailError = null;
  changed();
  if (p) refreshFleet('detail');
}

/** A runtime frame: when it was last seen and how far behind it is, at once. */
export function applyRuntime(f: { runtime: string; lastSeenAt: number | null; behind: number }): boolean {
  const i = fleet.runtimes.findIndex((r) => r.id === f.runtime);
  if (i < 0) return false;
  const next = fleet.runtimes.slice();
  next[i] = { ...next[i]!, lastSeenAt: f.lastSeenAt, behind: f.behind };
  fleet.runtimes = next;
  changed();
  return true;
}

/** A budget frame: what it said stays beside the budget (an admin's create/update/delete shows in the list itself). */
export function applyBudgetFrame(f: { budget: string; change: string; message: string }): void {
  if (f.change === 'reclaimed' || f.change === 'warning' || f.change === 'exhausted') {
    fleet.budgetSaid = { ...fleet.budgetSaid, [f.budget]: { message: f.message, at: Date.now() } };
    changed();
  }
  refreshFleet('budgets');
}

/**
 * A batch's events (or what the panel held when the page opened), newest first, each once (a batch
 * replayed after a reconnect adds nothing). `toDetail`: they landed now, and the open drill-down
 * takes its agent's too (the panel's own read already has the older ones).
 */
export function applyEvents(events: FleetLiveEvent[], toDetail = true): void {
  if (events.length === 0) return;
  const seen = new Set(fleet.live.map((e) => `${e.runtime}/${e.seq}`));
  const fresh = events.filter((e) => !seen.has(`${e.runtime}/${e.seq}`));
  if (fresh.length === 0) return;
  fleet.live = [...fresh, ...fleet.live].sort((a, b) => b.ts.localeCompare(a.ts) || b.seq - a.seq).slice(0, FLEET_EVENTS_KEPT);
  if (!toDetail) return changed();
  const d = fleet.detail;
  const p = fleet.picked;
  if (d && p) {
    const mine = fresh.filter((e) => e.runtime === p.runtime && e.agentId === p.id && !d.events.some((x) => x.seq === e.seq));
    if (mine.length > 0) fleet.detail = { ...d, events: [...mine, ...d.events].slice(0, 100) };
  }
  changed();
}
