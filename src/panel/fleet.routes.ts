import type { Context, Hono } from 'hono';
import { queryInt } from '../core/validation.js';
import * as z from 'zod';
import { NotFoundError } from '../core/errors.js';
import { assertRole } from '../core/roles.js';
import { parseWith, type AppEnv } from '../server/index.js';
import {
  FLEET_AGENTS_MAX,
  FLEET_EVENTS_MAX,
  type FleetAgent,
  type FleetEvent,
  type FleetOverview,
  type FleetRuntime,
  FleetStore,
  ONLINE_WITHIN_MS,
  type PanelDb,
  RUNTIME_ID,
  SPEND_BY,
  SPEND_WINDOWS,
  SpendStore,
} from '../state/index.js';
import type { Outage } from './outage.js';

// The fleet view's REST reads on the control panel: the overview with every runtime, the agents
// across machines, spend by runtime, user, agent or model over 24 h or 30 days, and one agent's
// drill-down. Admins and viewers read them; an agent or runtime token reads none.

/** GET /api/fleet */
export interface FleetResponse {
  overview: FleetOverview;
  runtimes: FleetRuntime[];
  /** A runtime that reported within this long is online (the page counts it down between answers). */
  onlineWithinMs: number;
}

/** GET /api/fleet/events: the fleet's latest events, newest first (the live list's start). */
export interface FleetEventsResponse {
  events: FleetEvent[];
}

/** GET /api/fleet/agents */
export interface FleetAgentsResponse {
  agents: FleetAgent[];
}

export type { FleetAgent, FleetAgentDetail, FleetOverview, FleetRuntime, FleetSpend, FleetSpendRow, SpendBy, SpendWindow } from '../state/index.js';

const runtimeId = z.string().regex(RUNTIME_ID, 'a runtime id is 1-63 letters, digits, ".", "_" or "-"');
const agentsQuery = z.strictObject({
  runtime: runtimeId.optional(),
  limit: queryInt(z.number().min(1).max(FLEET_AGENTS_MAX)).optional(),
});
const spendQuery = z.strictObject({
  by: z.enum(SPEND_BY).default('runtime'),
  window: z.enum(SPEND_WINDOWS).default('24h'),
});
const noQuery = z.strictObject({});
const eventsQuery = z.strictObject({ limit: queryInt(z.number().min(1).max(FLEET_EVENTS_MAX)).optional() });
const agentParams = z.object({ runtime: runtimeId, id: z.string().min(1).max(200) });

/**
 * The fleet routes over the panel's database; `now` is for tests.
 *
 * @example
 *   const routes = fleetRoutes(db); routes(app); // GET /api/fleet, /api/fleet/agents, …
 */
export function fleetRoutes(db: PanelDb, opts: { now?: () => number; outage?: Pick<Outage, 'run'> } = {}): (app: Hono<AppEnv>) => void {
  const fleet = new FleetStore(db);
  const spend = new SpendStore(db);
  const now = opts.now ?? Date.now;
  // A database that went away is a 503 with Retry-After, like every panel route (outage.ts).
  const run = <T>(fn: () => Promise<T>): Promise<T> => (opts.outage ? opts.outage.run(fn) : fn());
  const reader = (c: Context<AppEnv>) => assertRole(c.get('principal'), 'admin', 'viewer');
  return (app) => {
    app.get('/api/fleet', async (c) => {
      reader(c);
      parseWith(noQuery, c.req.query());
      const t = now();
      const [overview, runtimes] = await run(() => Promise.all([fleet.overview(t), fleet.runtimes(t)]));
      return c.json({ overview, runtimes, onlineWithinMs: ONLINE_WITHIN_MS } satisfies FleetResponse);
    });

    app.get('/api/fleet/agents', async (c) => {
      reader(c);
      const q = parseWith(agentsQuery, c.req.query());
      return c.json({ agents: await run(() => fleet.agents(q)) } satisfies FleetAgentsResponse);
    });

    app.get('/api/fleet/events', async (c) => {
      reader(c);
      const q = parseWith(eventsQuery, c.req.query());
      return c.json({ events: await run(() => fleet.recentEvents(q.limit ?? 50)) } satisfies FleetEventsResponse);
    });

    app.get('/api/fleet/spend', async (c) => {
      reader(c);
      const q = parseWith(spendQuery, c.req.query());
      return c.json(await run(() => spend.spend(q.by, q.window, now())));
    });

    app.get('/api/fleet/runtimes/:runtime/agents/:id', async (c) => {
      reader(c);
      const p = parseWith(agentParams, c.req.param());
      parseWith(noQuery, c.req.query());
      const detail = await run(() => fleet.agent(p.runtime, p.id, now()));
      if (!detail) throw new NotFoundError(`no agent ${p.id} on runtime ${p.runtime}`);
      return c.json(detail);
    });
  };
}
