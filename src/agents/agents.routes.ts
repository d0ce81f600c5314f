import { Hono } from 'hono';
import { oneLine, queryInt } from '../core/validation.js';
import * as z from 'zod';
import { assertCanAct, canRead, type Principal } from '../core/roles.js';
import { ConflictError, ForbiddenError, IronCageError, NotFoundError, ValidationError } from '../core/errors.js';
import { SEVERITIES, TERMINAL_STATUSES, type IronEvent } from '../core/events.js';
import { RequestsStore, ToolsStore, type AgentView, type StateManager } from '../state/index.js';
import { type AgentControl, type AppEnv, readJsonBody, parseWith, readableAgent } from '../server/index.js';
import { agentMetrics, agentPerformance } from './metrics.js';
import { timelineRoutes } from './timeline.routes.js';

/** The agent routes' needs (`/api/agents/*`, `/api/events`): the runtime's state and its supervisors. */
export interface AgentRoutesDeps {
  state: StateManager;
  control: AgentControl;
  /**
   * The PII step for what an agent reports through the SDK (`iron_cage.event`), before it is
   * stored, printed or broadcast: its message (`field` 'message') and its data as one JSON text
   * (`field` 'data': keys, strings and numbers scanned, valid JSON back). What comes back is
   * always redacted, whatever the mode. Absent: stored as sent.
   */
  scanEventText?: (agentId: string, text: string, field: 'message' | 'data') => string;
}

const MAX_CHECKPOINT_BYTES = 1024 * 1024;
/**
 * An SDK event's `data`, as JSON in UTF-8, may be at most this many bytes (413 past it): every
 * event is broadcast to every dashboard, so one agent's event size is everyone's memory.
 */
export const MAX_EVENT_DATA_BYTES = 64 * 1024;

const count = z.number().int('must be a whole number').min(0, 'must be 0 or more');

const progressBody = z
  .strictObject({
    done: count,
    total: z.number().int('must be a whole number').min(1, 'must be 1 or more').nullable().optional(),
    unit: z.string().min(1, 'must not be empty').max(32, 'must be at most 32 characters').optional(),
    succeeded: count.nullable().optional(),
    failed: count.nullable().optional(),
  })
  .refine((b) => b.total == null || b.done <= b.total, { message: 'must not exceed total', path: ['done'] })
  // Outcomes are of units done: a success rate over more than was done would be meaningless.
  .refine((b) => (b.succeeded ?? 0) + (b.failed ?? 0) <= b.done, { message: 'succeeded + failed must not exceed done' });

const eventBody = z.strictObject({
  message: z.string().min(1, 'must not be empty').max(2000, 'must be at most 2000 characters'),
  severity: z.enum(SEVERITIES).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

const checkpointBody = z.strictObject({ state: z.unknown() });

const nameBody = z.strictObject({ name: oneLine(64) });

/** GET /api/events: events after `after` in seq order; `nextAfter` is where the next page starts. */
export interface EventPage {
  events: IronEvent[];
  nextAfter: number;
  hasMore: boolean;
}

const eventsQuery = z.strictObject({
  after: queryInt(z.number().min(0, 'must be 0 or more')).optional(),
  limit: queryInt(z.number().min(1, 'must be 1-1000').max(1000, 'must be 1-1000')).optional(),
  agentId: z.string().optional(),
});

/**
 * `/api/agents/*` and `/api/events` over the runtime's StateManager: mounted by the runtime
 * (the panel has no agents of its own).
 */
export function agentRoutes(deps: AgentRoutesDeps): Hono<AppEnv> {
  const { state, control } = deps;
  const app = new Hono<AppEnv>();
  const stores = { state, llm: RequestsStore.of(state), tools: ToolsStore.of(state) };

  const readable = (p: Principal, id: string): AgentView => readableAgent(state, p, id);
  const actable = (p: Principal, id: string): AgentView => {
    const agent = readable(p, id);
    assertCanAct(p, id);
    return agent;
  };

  app.get('/agents', (c) => {
    const p = c.get('principal');
    return c.json(state.listAgents().filter((a) => canRead(p, a.id)));
  });

  app.get('/agents/:id/status', (c) => c.json(readable(c.get('principal'), c.req.param('id'))));

  app.get('/agents/:id/metrics', (c) => {
    const agent = readable(c.get('principal'), c.req.param('id'));
    return c.json(agentMetrics(state, agent, Date.now()));
  });

  app.get('/agents/:id/performance', (c) => {
    const agent = readable(c.get('principal'), c.req.param('id'));
    return c.json(agentPerformance(stores, agent, Date.now()));
  });

  app.post('/agents/:id/stop', async (c) => {
    const id = c.req.param('id');
    const p = c.get('principal');
    const agent = actable(p, id);
    await readJsonBody(c.req, { optional: true });
    if (TERMINAL_STATUSES.has(agent.status)) throw new ConflictError(`agent ${id} has already ${agent.status}`);
    if (!control.stop(id, `${p.role} ${p.name} via API`)) throw new ConflictError(`agent ${id} is not supervised by this iron-cage process`);
    return c.json({ id, status: 'stopping' }, 202);
  });

  // The name the agent gives itself through its SDK (AgentRuntime(name=…)): shown (run summary,
  // dashboard), never its identity (budgets and tokens match the name it was started with).
  app.post('/agents/:id/name', async (c) => {
    const id = c.req.param('id');
    actable(c.get('principal'), id);
    const raw = parseWith(nameBody, await readJsonBody(c.req)).name;
    // Printed and broadcast like its events: scanned like them (control characters were made spaces above).
    const name = deps.scanEventText ? deps.scanEventText(id, raw, 'message') : raw;
    state.nameAgent(id, name);
    return c.json({ id, name });
  });

  app.post('/agents/:id/progress', async (c) => {
    const id = c.req.param('id');
    const agent = actable(c.get('principal'), id);
    const body = parseWith(progressBody, await readJsonBody(c.req));
    // Like the unit, outcomes not sent this time keep their last reported value.
    // The unit is shown everywhere the progress is (status, events, the log, projections): scanned like the agent's own events.
    const unit = body.unit === undefined ? agent.progress.unit : deps.scanEventText ? deps.scanEventText(id, body.unit, 'message') : body.unit;
    const progress = {
      done: body.done,
      total: body.total ?? null,
      unit,
      succeeded: body.succeeded === undefined ? agent.progress.succeeded : body.succeeded,
      failed: body.failed === undefined ? agent.progress.failed : body.failed,
    };
    // A report that sends one outcome is checked with the other one kept from before. (One that
    // sends none is not: an agent restarted from a checkpoint reports a smaller `done` first.)
    const sentOutcomes = body.succeeded !== undefined || body.failed !== undefined;
    if (sentOutcomes && (progress.succeeded ?? 0) + (progress.failed ?? 0) > progress.done) {
      throw new ValidationError(
        `succeeded + failed must not exceed done: with the outcome kept from before (${progress.succeeded ?? 0} succeeded, ${progress.failed ?? 0} failed) they exceed done ${progress.done}; send both`,
      );
    }
    const pct = progress.total ? ` (${Math.round((progress.done / progress.total) * 100)}%)` : '';
    const outcomes = progress.succeeded === null && progress.failed === null ? '' : `, ${progress.succeeded ?? 0} succeeded, ${progress.failed ?? 0} failed`;
    state.updateAgent(
      id,
      { progress },
      {
        type: 'agent.progress',
        severity: 'debug',
        message: `${progress.done}${progress.total ? ` / ${progress.total}` : ''} ${progress.unit}${pct}${outcomes}`,
        data: progress,
      },
    );
    return c.json({ ok: true });
  });

  app.post('/agents/:id/events', async (c) => {
    const id = c.req.param('id');
    actable(c.get('principal'), id);
    const body = parseWith(eventBody, await readJsonBody(c.req));
    const data = body.data ?? {};
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (bytes > MAX_EVENT_DATA_BYTES) throw new IronCageError('payload_too_large', 413, `data: ${bytes} bytes as JSON; an event's data may be at most ${MAX_EVENT_DATA_BYTES} bytes`);
    const scan = deps.scanEventText;
    // Scanned like the agent's stdout, before the event reaches the table, the terminal or a dashboard.
    const message = scan ? scan(id, body.message, 'message') : body.message;
    const clean = scan ? (JSON.parse(scan(id, JSON.stringify(data), 'data')) as Record<string, unknown>) : data;
    const ev = state.record({ agentId: id, type: 'agent.event', severity: body.severity ?? 'info', message, data: clean });
    return c.json({ seq: ev.seq }, 201);
  });

  app.post('/agents/:id/checkpoints', async (c) => {
    const id = c.req.param('id');
    actable(c.get('principal'), id);
    const raw = await readJsonBody(c.req);
    const body = parseWith(checkpointBody, raw);
    if (body.state === undefined) throw new ValidationError('state: required');
    const json = JSON.stringify(body.state);
    if (Buffer.byteLength(json) > MAX_CHECKPOINT_BYTES) throw new ValidationError(`state: must serialize to at most ${MAX_CHECKPOINT_BYTES} bytes`);
    return c.json(state.saveCheckpoint(id, json), 201);
  });

  app.get('/agents/:id/checkpoint', (c) => {
    const id = c.req.param('id');
    const p = c.get('principal');
    readable(p, id);
    if (p.role === 'viewer') throw new ForbiddenError('checkpoints may hold agent data: viewer tokens cannot read them');
    const cp = state.latestCheckpoint(id);
    if (!cp) throw new NotFoundError(`agent ${id} has no checkpoint`);
    return c.json({ id: cp.id, createdAt: cp.createdAt, state: cp.state });
  });

  app.get('/events', (c) => {
    const q = parseWith(eventsQuery, c.req.query());
    const p = c.get('principal');
    let agentId = q.agentId;
    if (p.role === 'agent') {
      if (agentId && agentId !== p.agentId) throw new NotFoundError(`no agent ${agentId}`);
      agentId = p.agentId!;
    }
    const limit = q.limit ?? 100;
    const events = state.eventsAfter(q.after ?? 0, limit, agentId);
    const last = events.at(-1);
    return c.json({ events, nextAfter: last ? last.seq : (q.after ?? 0), hasMore: events.length === limit } satisfies EventPage);
  });

  timelineRoutes(app, state, readable);

  return app;
}
