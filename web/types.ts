// The shapes the page reads from the API and /ws: every one the server's own, so a route and the
// page cannot drift apart. Type-only imports: erased from the bundle, nothing of the server
// reaches dist/web.
import type { VaultService } from '../src/secrets/index.js';

export type { AgentStatus, AnyEvent, Severity } from '../src/core/events.js';
export type { Role } from '../src/core/roles.js';
export type { AgentPerformance, EventPage, FeedEvent, Whoami, WsFrame } from '../src/server/index.js';
export type { CostReport } from '../src/budget/index.js';
export type { ProtectionReport } from '../src/pii/index.js';
export type { SecretList, SecretView as Secret } from '../src/secrets/index.js';
export type { AgentView as Agent } from '../src/state/index.js';

/** GET /api/secrets/status */
export type VaultState = ReturnType<VaultService['state']>;
/** GET /api/secrets/:id?reveal=true */
export type RevealedSecret = Awaited<ReturnType<VaultService['get']>>;

/** GET /api/breakers, with what the tool proxy adds to each service's row. */
export type { ToolBreakersResponse as BreakersResponse } from '../src/tools/index.js';
export type BreakerView = import('../src/tools/index.js').ToolBreakersResponse['services'][number];

/** The control panel's fleet view (`iron-cage panel`). */
export type {
  BudgetsResponse,
  BudgetView,
  FleetAgent,
  FleetAgentDetail,
  FleetAgentsResponse,
  FleetOverview,
  FleetResponse,
  FleetRuntime,
  FleetSpend,
  FleetSpendRow,
  LeaseView,
  PanelBudgetFrame,
  SpendBy,
  SpendWindow,
} from '../src/panel/index.js';

// Issue 26 (watch, runway, timeline, cost per step): the shapes of /work/notes/watch-contract.md.
// TODO(lead): import from the server once the routes are merged (src/server/index.ts for the
// timeline, src/watch for the watch view, src/budget/index.ts for RunwayView and the steps).

/** `AgentView.paused`: why an agent's calls wait at the gate, and since when. */
export interface PausedView {
  since: string;
  by: string;
  reason: string;
  cause: 'loop' | 'stall' | 'spike' | 'manual';
  held: number;
}

export type TimelineLane = 'llm' | 'tool' | 'pii' | 'lifecycle' | 'budget' | 'progress' | 'watch' | 'breaker';

/** One row of GET /api/agents/:id/timeline. */
export interface TimelineItem {
  /** `llm:<ledger id>`, `tool:<tool call id>` or `ev:<seq>`. */
  key: string;
  lane: TimelineLane;
  startMs: number;
  durationMs: number | null;
  title: string;
  status: 'ok' | 'error' | 'blocked' | 'aborted' | 'warn' | 'info';
  costUsd: number | null;
  detail: Record<string, string | number | boolean | null>;
  links: string[];
}

/** GET /api/agents/:id/timeline?before=|after=|around=&limit=&lanes= */
export interface TimelinePage {
  items: TimelineItem[];
  before: string | null;
  after: string | null;
  total: { llm: number; tool: number; events: number };
}

/** GET /api/agents/:id/timeline/overview */
export interface TimelineOverview {
  startMs: number;
  endMs: number;
  bucketMs: number;
  buckets: Array<{ startMs: number; llm: number; tool: number; costUsd: number; errors: number }>;
  marks: Array<{ key: string; lane: TimelineLane; ms: number; title: string; severity: string }>;
  total: { llm: number; tool: number; events: number };
}

export interface WatchLoop {
  kind: 'tool' | 'function' | 'prompt';
  key: string;
  label: string;
  count: number;
  firstTs: string;
  lastTs: string;
  spentUsd: number;
  wastedUsd: number;
  requestIds: number[];
  toolCallIds: number[];
  seq: number;
}

/** GET /api/agents/:id/watch */
export interface WatchView {
  paused: PausedView | null;
  loops: WatchLoop[];
  stall: { idleMs: number; stalled: boolean; lastActivity: string | null };
  spike: { rateUsdPerMin: number; baselineUsdPerMin: number; factor: number; windowMs: number; requestIds: number[]; spentUsd: number; seq: number; ts: string } | null;
  config: Record<string, unknown>;
}

/** `runway` of GET /api/agents/:id/budget (null: no limit). */
export interface RunwayView {
  rateUsdPerMin: number;
  remainingUsd: number;
  runwayMs: number | null;
  unitsLeft: number | null;
  unit: string | null;
  nextCallWorstUsd: number | null;
  alertMs: number | null;
  thresholds: number[];
  firedThresholds?: number[];
}

/** GET /api/agents/:id/steps?limit=10 */
export interface StepsReport {
  unit: string;
  steps: number;
  top: Array<{ step: number; label: string; calls: number; promptTokens: number; completionTokens: number; costUsd: number; firstTs: string; lastTs: string }>;
  byChain: Array<{ chain: string | null; calls: number; costUsd: number }>;
  byModel: Array<{ model: string; calls: number; costUsd: number }>;
  avgStepUsd: number | null;
}
