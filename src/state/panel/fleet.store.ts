import { and, asc, count, desc, eq, gte, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { DAY_MS } from '../../core/duration.js';
import type { AgentStatus, Progress } from '../../core/events.js';
import type { PanelDb } from './pg.js';
import { cmp, int, total, totalWhere } from './pg-values.js';
import { agentSpend, runtimes, spendDaily } from './schema-panel.js';
import { agents, breakers, events, llmRequests, toolCalls, users } from './schema-pg.js';

// What the control panel's fleet view reads: every query served by a primary key, an index or
// the rollups (spend_hourly, spend_daily, agent_spend), never by scanning the ledger, so each
// stays a few milliseconds however many calls the fleet has made. Money is integer micro-dollars
// throughout (bigint sums cast back to bigint, read as numbers).

/** A runtime that reported within this long is online. */
export const ONLINE_WITHIN_MS = 60_000;
/** The most agents the fleet list returns: the live ones first, then the newest runs. */
export const FLEET_AGENTS_MAX = 500;
/** The most of the fleet's latest events one read returns (`recentEvents`: the live list's start). */
export const FLEET_EVENTS_MAX = 200;
/** Rows of each kind in one agent's drill-down. */
export const DRILL_ROWS = 100;

/** Statuses of an agent that is still there (an exhausted budget can be raised and it goes on). */
export const LIVE_AGENT_STATUSES: readonly AgentStatus[] = ['starting', 'running', 'restarting', 'budget_exhausted'];
const RUNNING: readonly AgentStatus[] = ['starting', 'running', 'restarting'];

export interface FleetRuntime {
  id: string;
  userId: string | null;
  /**
   * Whose runtime it is, as the panel says it: the user it was added for (`panel runtime add NAME
   * --user ann`, `POST /api/runtimes {user}`: the name central budgets match), or that panel user's
   * name when `userId` is a user's id; null: it belongs to no user.
   */
  user: string | null;
  hostname: string | null;
  version: string | null;
  online: boolean;
  /** Epoch ms of its last batch; null before it first reported. */
  lastSeenAt: number | null;
  /** Rows it said it still had to send. */
  behind: number;
  lastSeq: number;
  agents: number;
  agentsRunning: number;
  /** Spend it reported for today (UTC). */
  spentTodayMicros: number;
  /** The MCP tools/calls it reported (its tool_calls rows with method `tools/call`), over all time. */
  mcpCalls: number;
  /** Prompt injections its agents read (their `injection.detected` events), over all time. */
  injections: number;
}

export interface FleetOverview {
  now: number;
  runtimes: { online: number; total: number };
  agents: { running: number; total: number };
  today: { costMicros: number; calls: number; errors: number; refused: number };
  last30d: { costMicros: number; calls: number; errors: number; refused: number };
  /** Prompt injections the fleet's agents read, over all time, and how many agents read one. */
  injections: { total: number; agents: number };
}

export interface FleetAgent {
  runtimeId: string;
  id: string;
  name: string;
  kind: string;
  status: AgentStatus;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  restarts: number;
  environment: string;
  progress: Progress;
  limitMicros: number | null;
  spentMicros: number;
  /** LLM calls on the ledger (a refused one only when PII blocked it after it was priced). */
  calls: number;
  /** Calls that failed (status neither ok nor blocked). */
  errors: number;
  /** Calls the cage refused (src/domain/outcomes/refusals.ts): budget, policy, PII, tool refusals. */
  refused: number;
  /** Prompt injections found in what it read (src/injection). */
  injections: number;
  /** ISO time of its latest event or call; null if it has none. */
  lastActivityAt: string | null;
  /** Its runtime reported it sandboxed (true), not sandboxed (false), or said nothing (null: an older runtime, an external agent). */
  sandboxed: boolean | null;
}

export interface FleetCall {
  id: number;
  ts: string;
  endpoint: string;
  provider: string;
  model: string;
  stream: boolean;
  status: string;
  httpStatus: number | null;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  latencyMs: number | null;
  error: string | null;
}

/** One event of a runtime as the panel shows it: in an agent's detail, and in a landed batch's frame on the panel's `/ws`. */
export interface FleetEvent {
  runtime: string;
  seq: number;
  ts: string;
  agentId: string | null;
  type: string;
  severity: string;
  message: string;
  /** The event's data, parsed (it travels and is kept as JSON text; text that is not JSON stays as it is). */
  data: Record<string, unknown>;
}

/** An event as stored or as a batch brings it, for the page. */
export function fleetEvent(runtime: string, e: { seq: number; ts: string; agentId: string | null; type: string; severity: string; message: string; data: string }): FleetEvent {
  return { runtime, seq: e.seq, ts: e.ts, agentId: e.agentId, type: e.type, severity: e.severity, message: e.message, data: parseJson(e.data) as Record<string, unknown> };
}

export interface FleetToolCall {
  id: number;
  ts: string;
  service: string;
  method: string;
  path: string;
  status: number;
  tier: string | null;
  reason: string;
  latencyMs: number;
}

export interface FleetBreaker {
  service: string;
  /** The breaker's saved state as the runtime reported it (JSON of its snapshot). */
  snapshot: unknown;
  updatedAt: string;
}

export interface FleetAgentDetail {
  agent: FleetAgent;
  runtime: FleetRuntime | null;
  /** Its latest calls, events and tool calls, newest first. */
  calls: FleetCall[];
  events: FleetEvent[];
  toolCalls: FleetToolCall[];
  breakers: FleetBreaker[];
}

const dayOf = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The fleet view's reads over the panel's PostgreSQL.
 *
 * @example
 *   const fleet = new FleetStore(db);
 *   const { rows } = await fleet.spend('model', '30d');
 */
export class FleetStore {
  constructor(private readonly db: PanelDb) {}

  /** Every runtime an admin added and has not removed, by id (or only the one named). */
  async runtimes(now = Date.now(), only?: string): Promise<FleetRuntime[]> {
    const db = this.db;
    const counts = db
      .select({
        runtimeId: agents.runtimeId,
        agents: int(sql`count(*)`).as('agents'),
        running: int(sql`count(*) filter (where ${inArray(agents.status, [...RUNNING])})`).as('running'),
      })
      .from(agents)
      .where(only === undefined ? undefined : eq(agents.runtimeId, only))
      .groupBy(agents.runtimeId)
      .as('counts');
    const today = db
      .select({ runtimeId: spendDaily.runtimeId, cost: total(spendDaily.costMicros).as('cost') })
      .from(spendDaily)
      .where(and(eq(spendDaily.day, dayOf(now)), only === undefined ? undefined : eq(spendDaily.runtimeId, only)))
      .groupBy(spendDaily.runtimeId)
      .as('today');
    const injected = db
      .select({ runtimeId: agentSpend.runtimeId, injections: total(agentSpend.injections).as('injections') })
      .from(agentSpend)
      .where(only === undefined ? undefined : eq(agentSpend.runtimeId, only))
      .groupBy(agentSpend.runtimeId)
      .as('injected');
    const rows = await db
      .select({ r: runtimes, user: users.name, agents: counts.agents, running: counts.running, cost: today.cost, injections: injected.injections })
      .from(runtimes)
      .leftJoin(users, and(eq(users.id, runtimes.userId), isNull(users.removedAt)))
      .leftJoin(counts, eq(counts.runtimeId, runtimes.id))
      .leftJoin(today, eq(today.runtimeId, runtimes.id))
      .leftJoin(injected, eq(injected.runtimeId, runtimes.id))
      .where(and(isNull(runtimes.removedAt), only === undefined ? undefined : eq(runtimes.id, only)))
      .orderBy(asc(runtimes.id));
    return rows.map(({ r, user, agents: n, running, cost, injections }) => ({
      id: r.id,
      userId: r.userId,
      user: user ?? r.userId,
      hostname: r.hostname,
      version: r.version,
      online: r.lastSeenAt !== null && now - r.lastSeenAt <= ONLINE_WITHIN_MS,
      lastSeenAt: r.lastSeenAt,
      behind: r.behind,
      lastSeq: r.lastSeq,
      agents: Number(n ?? 0),
      agentsRunning: Number(running ?? 0),
      spentTodayMicros: Number(cost ?? 0),
      mcpCalls: r.mcpCalls,
      injections: Number(injections ?? 0),
    }));
  }

  /** The totals at the top of the fleet page. */
  async overview(now = Date.now()): Promise<FleetOverview> {
    const db = this.db;
    const today = dayOf(now);
    const from = today - 29 * DAY_MS;
    const [[r], [a], [s], [i]] = await Promise.all([
      db
        .select({ total: count(), online: int(sql`count(*) filter (where ${gte(runtimes.lastSeenAt, now - ONLINE_WITHIN_MS)})`) })
        .from(runtimes)
        .where(isNull(runtimes.removedAt)),
      db.select({ total: count(), running: int(sql`count(*) filter (where ${inArray(agents.status, [...RUNNING])})`) }).from(agents),
      db
        .select({
          cost: total(spendDaily.costMicros),
          calls: total(spendDaily.calls),
          errors: total(spendDaily.errors),
          refused: total(spendDaily.refused),
          costToday: totalWhere(spendDaily.costMicros, eq(spendDaily.day, today)),
          callsToday: totalWhere(spendDaily.calls, eq(spendDaily.day, today)),
          errorsToday: totalWhere(spendDaily.errors, eq(spendDaily.day, today)),
          refusedToday: totalWhere(spendDaily.refused, eq(spendDaily.day, today)),
        })
        .from(spendDaily)
        .where(gte(spendDaily.day, from)),
      db.select({ total: total(agentSpend.injections), agents: int(sql`count(*) filter (where ${agentSpend.injections} > 0)`) }).from(agentSpend),
    ]);
    return {
      now,
      runtimes: { online: r!.online, total: r!.total },
      agents: { running: a!.running, total: a!.total },
      today: { costMicros: s!.costToday, calls: s!.callsToday, errors: s!.errorsToday, refused: s!.refusedToday },
      last30d: { costMicros: s!.cost, calls: s!.calls, errors: s!.errors, refused: s!.refused },
      injections: { total: i!.total, agents: i!.agents },
    };
  }

  /** Agents across machines: the live ones first, then the newest runs, at most FLEET_AGENTS_MAX. */
  async agents(opts: { runtime?: string; limit?: number } = {}): Promise<FleetAgent[]> {
    const db = this.db;
    const liveFirst = sql`(${inArray(agents.status, [...LIVE_AGENT_STATUSES])})`;
    const picked = db
      .select()
      .from(agents)
      .where(opts.runtime === undefined ? undefined : eq(agents.runtimeId, opts.runtime))
      .orderBy(desc(liveFirst), desc(agents.createdAt), asc(agents.runtimeId), asc(agents.id))
      .limit(Math.min(opts.limit ?? FLEET_AGENTS_MAX, FLEET_AGENTS_MAX))
      .as('picked');
    const rows = await this.agentRows(picked);
    // The subquery's order does not survive the joins: the same order again, on at most 500 rows.
    const live = new Set<string>(LIVE_AGENT_STATUSES);
    const rank = (a: FleetAgent) => (live.has(a.status) ? 0 : 1);
    return rows.sort((x, y) => rank(x) - rank(y) || cmp(y.createdAt, x.createdAt) || cmp(x.runtimeId, y.runtimeId) || cmp(x.id, y.id));
  }

  private async agentRows(picked: ReturnType<typeof pickedAgents>): Promise<FleetAgent[]> {
    // One flat row per agent (drizzle's nested left-join shapes cost more than the query itself).
    const rows = await this.db
      .select({
        runtimeId: picked.runtimeId,
        id: picked.id,
        name: picked.name,
        kind: picked.kind,
        status: picked.status,
        createdAt: picked.createdAt,
        startedAt: picked.startedAt,
        endedAt: picked.endedAt,
        restarts: picked.restarts,
        environment: picked.environment,
        progressDone: picked.progressDone,
        progressTotal: picked.progressTotal,
        progressUnit: picked.progressUnit,
        progressSucceeded: picked.progressSucceeded,
        progressFailed: picked.progressFailed,
        limitMicros: picked.limitMicros,
        sandbox: picked.sandbox,
        spent: agentSpend.costMicros,
        calls: agentSpend.calls,
        errors: agentSpend.errors,
        refused: agentSpend.refused,
        injections: agentSpend.injections,
        lastCallAt: agentSpend.lastCallAt,
        lastEventAt: agentSpend.lastEventAt,
      })
      .from(picked)
      .leftJoin(agentSpend, and(eq(agentSpend.runtimeId, picked.runtimeId), eq(agentSpend.agentId, picked.id)));
    return rows.map(toAgent);
  }

  /**
   * The fleet's latest events, newest first: what the live list starts from when a page opens (its
   * frames add what lands after). Each live runtime's latest `limit` along its primary key walked
   * backwards, then the newest `limit` of those: an index read per runtime, never a scan of the log.
   */
  async recentEvents(limit = FLEET_EVENTS_MAX): Promise<FleetEvent[]> {
    const n = Math.max(1, Math.min(FLEET_EVENTS_MAX, Math.floor(limit)));
    const col = (c: { name: string }) => sql.identifier(c.name);
    const r = await this.db.execute<{ runtime_id: string; seq: string | number; ts: string; agent_id: string | null; type: string; severity: string; message: string; data: string }>(
      sql`select e.* from ${runtimes} r
            cross join lateral (
              select x.${col(events.runtimeId)}, x.${col(events.seq)}, x.${col(events.ts)}, x.${col(events.agentId)}, x.${col(events.type)}, x.${col(events.severity)}, x.${col(events.message)}, x.${col(events.data)}
                from ${events} x where x.${col(events.runtimeId)} = r.${col(runtimes.id)}
                order by x.${col(events.seq)} desc limit ${n}
            ) e
           where r.${col(runtimes.removedAt)} is null
           order by e.${col(events.ts)} desc, e.${col(events.seq)} desc
           limit ${n}`,
    );
    return r.rows.map((e) => fleetEvent(e.runtime_id, { seq: Number(e.seq), ts: e.ts, agentId: e.agent_id, type: e.type, severity: e.severity, message: e.message, data: e.data }));
  }

  /** One agent with its latest calls, events and tool calls and its runtime's breakers; null if the panel has no such agent. */
  async agent(runtimeId: string, agentId: string, now = Date.now()): Promise<FleetAgentDetail | null> {
    const db = this.db;
    const picked = pickedAgents(db, and(eq(agents.runtimeId, runtimeId), eq(agents.id, agentId))!);
    const [agent] = await this.agentRows(picked);
    if (!agent) return null;
    const c = llmRequests;
    const [calls, evs, tools, brks, rts] = await Promise.all([
      db
        .select({
          id: c.id,
          ts: c.ts,
          endpoint: c.endpoint,
          provider: c.provider,
          model: c.model,
          stream: c.stream,
          status: c.status,
          httpStatus: c.httpStatus,
          promptTokens: c.promptTokens,
          completionTokens: c.completionTokens,
          costMicros: c.costMicros,
          latencyMs: c.latencyMs,
          error: c.error,
        })
        .from(llmRequests)
        .where(and(eq(c.runtimeId, runtimeId), eq(c.agentId, agentId)))
        // Latest by time, along llm_requests_agent_ts walked backwards (the ledger's one index by
        // agent; a tie by id would have PostgreSQL gather and sort all the agent's rows).
        .orderBy(desc(c.ts))
        .limit(DRILL_ROWS),
      db
        .select()
        .from(events)
        .where(and(eq(events.runtimeId, runtimeId), eq(events.agentId, agentId)))
        .orderBy(desc(events.seq))
        .limit(DRILL_ROWS),
      db
        .select({
          id: toolCalls.id,
          ts: toolCalls.ts,
          service: toolCalls.service,
          method: toolCalls.method,
          path: toolCalls.path,
          status: toolCalls.status,
          tier: toolCalls.tier,
          reason: toolCalls.reason,
          latencyMs: toolCalls.latencyMs,
        })
        .from(toolCalls)
        .where(and(eq(toolCalls.runtimeId, runtimeId), eq(toolCalls.agentId, agentId)))
        .orderBy(desc(toolCalls.id))
        .limit(DRILL_ROWS),
      db.select().from(breakers).where(eq(breakers.runtimeId, runtimeId)).orderBy(asc(breakers.service)),
      this.runtimes(now, runtimeId),
    ]);
    return {
      agent,
      runtime: rts[0] ?? null,
      calls,
      events: evs.map((e) => fleetEvent(e.runtimeId, e)),
      toolCalls: tools,
      breakers: brks.map((b) => ({ service: b.service, snapshot: parseJson(b.snapshot), updatedAt: b.updatedAt })),
    };
  }
}

function pickedAgents(db: PanelDb, where: SQL) {
  return db.select().from(agents).where(where).as('picked');
}

type AgentRowPg = Pick<
  typeof agents.$inferSelect,
  | 'runtimeId'
  | 'id'
  | 'name'
  | 'kind'
  | 'status'
  | 'createdAt'
  | 'startedAt'
  | 'endedAt'
  | 'restarts'
  | 'environment'
  | 'progressDone'
  | 'progressTotal'
  | 'progressUnit'
  | 'progressSucceeded'
  | 'progressFailed'
  | 'limitMicros'
  | 'sandbox'
> & { spent: number | null; calls: number | null; errors: number | null; refused: number | null; injections: number | null; lastCallAt: string | null; lastEventAt: string | null };

function toAgent(a: AgentRowPg): FleetAgent {
  const lastCall = a.lastCallAt;
  const lastEventAt = a.lastEventAt;
  return {
    runtimeId: a.runtimeId,
    id: a.id,
    name: a.name,
    kind: a.kind,
    status: a.status as AgentStatus,
    createdAt: a.createdAt,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
    restarts: a.restarts,
    environment: a.environment,
    progress: { done: a.progressDone, total: a.progressTotal, unit: a.progressUnit, succeeded: a.progressSucceeded, failed: a.progressFailed },
    limitMicros: a.limitMicros,
    spentMicros: Number(a.spent ?? 0),
    calls: Number(a.calls ?? 0),
    errors: Number(a.errors ?? 0),
    refused: Number(a.refused ?? 0),
    injections: Number(a.injections ?? 0),
    lastActivityAt: lastCall === null ? lastEventAt : lastEventAt === null || lastCall > lastEventAt ? lastCall : lastEventAt,
    sandboxed: sandboxedOf(a.sandbox),
  };
}

/** A runtime's report of its agent's sandbox (agents.sandbox, JSON it sent): read defensively, as any reported row. */
function sandboxedOf(text: string | null): boolean | null {
  if (text === null) return null;
  try {
    const v = (JSON.parse(text) as { sandboxed?: unknown } | null)?.sandboxed;
    return typeof v === 'boolean' ? v : null;
  } catch {
    return null;
  }
}
