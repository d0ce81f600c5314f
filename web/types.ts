// The shapes the page reads from the API and /ws: every one the server's own, so a route and the
// page cannot drift apart. Type-only imports: erased from the bundle, nothing of the server
// reaches dist/web.
import type { VaultService } from '../src/secrets/index.js';

export type { AgentStatus, AnyEvent, Severity } from '../src/core/events.js';
export type { Role } from '../src/core/roles.js';
export type { AgentPerformance, EventPage } from '../src/agents/index.js';
export type { FeedEvent, Whoami, WsFrame } from '../src/server/index.js';
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
/** An LLM provider's breaker in GET /api/breakers (`providers`). */
export type ProviderBreakerView = import('../src/tools/index.js').ToolBreakersResponse['providers'][number];

/** GET /api/mcp/servers: each MCP server with its breaker and its tools' figures. */
export type { McpServersResponse, McpServerView, McpToolView } from '../src/mcp/index.js';

/** The control panel's fleet view (`iron-cage panel`). */
export type {
  BudgetsResponse,
  BudgetView,
  FleetAgent,
  FleetAgentDetail,
  FleetAgentsResponse,
  FleetEventsResponse,
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
/** The fleet's approvals on the panel. */
export type { FleetApproval, FleetApprovalsResponse, PanelApprovalFrame } from '../src/panel/index.js';

// The watch, the runway, cost per step and the pause, as the server answers them.
export type { LoopView as WatchLoop, WatchView } from '../src/watch/index.js';
export type { AgentBudget, RunwayView, StepsReport } from '../src/budget/index.js';
export type { PausedView } from '../src/state/index.js';

export type { TimelineItem, TimelineLane, TimelineOverview, TimelinePage } from '../src/agents/index.js';

/** A call a policy rule held for a person, as GET /api/approvals lists it. */
export type { ApprovalView } from '../src/approvals/index.js';
