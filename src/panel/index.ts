// The control panel (`iron-cage panel`): what it serves over its PostgreSQL.
export { fleetRoutes, type FleetAgentsResponse, type FleetResponse } from './fleet.routes.js';
export type { FleetAgent, FleetAgentDetail, FleetOverview, FleetRuntime, FleetSpend, FleetSpendRow, SpendBy, SpendWindow } from './fleet.routes.js';
