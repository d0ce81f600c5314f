// The agent-facing REST (`/api/agents/*`, `/api/events`): an agent's status, progress, events,
// checkpoints, stop and signals, its metrics and performance, and its timeline. Mounted by the
// runtime (the panel has no agents of its own).

export { agentRoutes, type AgentRoutesDeps, type EventPage } from './agents.routes.js';
export type { AgentPerformance } from './metrics.js';
export type { TimelineOverview, TimelinePage } from './timeline.routes.js';
export type { TimelineItem, TimelineLane, TimelineMark } from './timeline-items.js';
