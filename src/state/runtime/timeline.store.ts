import { and, asc, desc, eq, getTableColumns, gte, inArray, lt, lte, ne, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { events, llmRequests, MCP_TOOLS_CALL, PROGRESS_EVENT_SQL, TIMELINE_EVENT_TYPES, TIMELINE_EVENT_TYPES_SQL, toolCalls, type EventRow, type LlmRequestRow, type ToolCallRow } from '../schema.js';
import { approvals, eventCounts, llmTotals, type ApprovalRow } from './schema-runtime.js';
import { RequestsStore } from './requests.store.js';
import { TOOL_CALLS_KEPT } from './tools.store.js';

// What the timeline reads (GET /api/agents/:id/timeline and /timeline/overview): pages of an
// agent's LLM calls, tool calls, notable events and approvals by time, each a key-ordered read
// of one index with a LIMIT (llm_requests_agent_ts, tool_calls_agent_ts, the partial indexes
// events_timeline and events_progress, approvals_agent), and an overview from the rollups (llm_totals, llm_running),
// the event counts (event_counts) and bounded index reads. Nothing here passes over an agent's
// history: a run of 200,000 calls and 1,000,000 events answers in milliseconds.

/**
 * The sources of a page, each one index. `marks`: the notable events (TIMELINE_EVENT_TYPES);
 * `progress`: progress reports; `approvals`: the calls a policy rule held for a person (the
 * `approvals` table by (agent_id, requested_at), not their events: the events' timeline index
 * is partial and its type list a migration).
 */
export type TimelineSource = 'llm' | 'tool' | 'marks' | 'progress' | 'approvals';

/**
 * A place in the timeline's order: (time the row was written, source rank, row id). Ranks: 0
 * events, 1 LLM calls, 2 tool calls, 3 approvals (by the time they were asked for, and their
 * rowid: an approval's key is its text id, the order needs a number).
 */
export interface TimelinePos {
  ms: number;
  rank: number;
  id: number;
}

export const SOURCE_RANK: Readonly<Record<TimelineSource, number>> = { marks: 0, progress: 0, llm: 1, tool: 2, approvals: 3 };

/** An approval as the timeline reads it: its row and its rowid (its place among approvals asked for in the same millisecond). */
export type TimelineApprovalRow = ApprovalRow & { rowid: number };

/** One page read from each source asked, each nearest `pos` first (or the newest first, without one). */
export interface TimelineRows {
  llm: LlmRequestRow[];
  tool: ToolCallRow[];
  events: EventRow[];
  approvals: TimelineApprovalRow[];
}

/** A bucket of the overview: its start (epoch ms), LLM and tool calls, LLM spend, failures of both. */
export interface OverviewBucket {
  startMs: number;
  llm: number;
  tool: number;
  costMicros: number;
  errors: number;
}

export type MarkRow = Pick<EventRow, 'seq' | 'ts' | 'type' | 'severity' | 'message'>;

/** At most this many marks in an overview: more are thinned evenly over the run's time. */
export const TIMELINE_MARKS_MAX = 500;
/** At most this many buckets in an overview. */
export const TIMELINE_BUCKETS_MAX = 240;

const iso = (ms: number) => new Date(ms).toISOString();
/** Epoch ms in SQL → the ISO 8601 text the rows' `ts` hold (`2026-11-24T10:00:00.000Z`), so a range on `ts` stays an index range. */
/**
 * A tool call that failed: status ≥ 400, never one the cage refused (no tier: a refusal, an outcome
 * of its own, neither a success nor an error). Its first term is the partial index tool_calls_agent_errors' own condition
 * (SQLite takes a partial index only then).
 */
const TOOL_FAILED = sql.raw('status >= 400 AND tier IS NOT NULL');
const ISO_OF = (ms: SQL) => sql`strftime('%Y-%m-%dT%H:%M:%fZ', (${ms}) / 1000.0, 'unixepoch')`;
const msOf = (ts: string) => {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
};
const p = (name: string) => sql.placeholder(name);
/** The partial indexes' own conditions, as they are (SQLite takes a partial index only then). */
const MARKS = sql.raw(TIMELINE_EVENT_TYPES_SQL);
const PROGRESS = sql.raw(PROGRESS_EVENT_SQL);

export class TimelineStore {
  private readonly db: StoreDb;
  private readonly marksAll;
  private readonly llmPending;
  private readonly llmRolled;
  private readonly toolCount;
  private readonly requests: RequestsStore;
  private readonly counted;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const db = this.db.orm;
    const e = events;
    const markCols = { seq: e.seq, ts: e.ts, type: e.type, severity: e.severity, message: e.message };
    this.marksAll = db
      .select(markCols)
      .from(e)
      .where(and(eq(e.agentId, p('agentId')), MARKS))
      .orderBy(asc(e.ts), asc(e.seq))
      .limit(p('limit'))
      .prepare();
    const t = llmRequests;
    this.llmPending = db
      .select({ n: sql<number>`count(*)` })
      .from(t)
      // The few pending rows of every agent, through llm_requests_pending (`+`: not the agent's whole index).
      .where(and(sql`${sql.raw("status = 'pending'")}`, sql`+${t.agentId} = ${p('agentId')}`))
      .prepare();
    this.llmRolled = db
      .select({ n: sql<number>`coalesce(sum(${llmTotals.requests}), 0)` })
      .from(llmTotals)
      .where(eq(llmTotals.agentId, p('agentId')))
      .prepare();
    this.requests = RequestsStore.of(state);
    // Counted along the covering index, at most TOOL_CALLS_KEPT rows (all the table keeps).
    const tc = toolCalls;
    const kept = db
      .select({ one: sql`1` })
      .from(tc)
      .where(eq(tc.agentId, p('agentId')))
      .limit(TOOL_CALLS_KEPT)
      .as('kept');
    this.toolCount = db.select({ n: sql<number>`count(*)` }).from(kept).prepare();
    this.counted = db
      .select({ n: sql<number>`coalesce(sum(${eventCounts.n}), 0)` })
      .from(eventCounts)
      .where(and(eq(eventCounts.agentId, p('agentId')), inArray(eventCounts.type, [...TIMELINE_EVENT_TYPES, 'agent.progress'])))
      .prepare();
  }

  /**
   * Up to `limit` rows of each source in `sources` on one side of `pos` (`before`: newest
   * first; `after`: oldest first); without `pos`, the newest. `eventTypes` narrows the marks to
   * some of their types (the lanes asked for).
   */
  page(agentId: string, o: { sources: ReadonlySet<TimelineSource>; dir: 'before' | 'after'; pos: TimelinePos | null; limit: number; eventTypes?: readonly string[] }): TimelineRows {
    const out: TimelineRows = { llm: [], tool: [], events: [], approvals: [] };
    const db = this.db.orm;
    const order = o.dir === 'before' ? desc : asc;
    /** Rows of the source of rank `rank` on `pos`'s side, in the timeline's order. */
    const side = (ts: SQLiteColumn, id: SQLiteColumn | SQL, rank: number): SQL | undefined => {
      if (!o.pos) return undefined;
      const at = iso(o.pos.ms);
      if (rank !== o.pos.rank) {
        // A whole source ranks before or after pos's at the same instant.
        const sameMsIn = o.dir === 'before' ? rank < o.pos.rank : rank > o.pos.rank;
        return o.dir === 'before' ? (sameMsIn ? lte(ts, at) : lt(ts, at)) : sameMsIn ? gte(ts, at) : sql`${ts} > ${at}`;
      }
      return o.dir === 'before' ? sql`(${ts}, ${id}) < (${at}, ${o.pos.id})` : sql`(${ts}, ${id}) > (${at}, ${o.pos.id})`;
    };
    if (o.sources.has('llm')) {
      const t = llmRequests;
      out.llm = db
        .select()
        .from(t)
        .where(and(eq(t.agentId, agentId), side(t.ts, t.id, SOURCE_RANK.llm)))
        .orderBy(order(t.ts), order(t.id))
        .limit(o.limit)
        .all();
    }
    if (o.sources.has('tool')) {
      const t = toolCalls;
      out.tool = db
        .select()
        .from(t)
        .where(and(eq(t.agentId, agentId), side(t.ts, t.id, SOURCE_RANK.tool)))
        .orderBy(order(t.ts), order(t.id))
        .limit(o.limit)
        .all();
    }
    const e = events;
    const evs = (partial: SQL, narrow: SQL | undefined) =>
      db
        .select()
        .from(e)
        .where(and(eq(e.agentId, agentId), partial, narrow, side(e.ts, e.seq, SOURCE_RANK.marks)))
        .orderBy(order(e.ts), order(e.seq))
        .limit(o.limit)
        .all();
    if (o.sources.has('marks') && o.eventTypes?.length !== 0) {
      const all = o.eventTypes === undefined || TIMELINE_EVENT_TYPES.every((x) => o.eventTypes!.includes(x));
      out.events.push(...evs(MARKS, all ? undefined : inArray(e.type, [...o.eventTypes!])));
    }
    if (o.sources.has('progress')) out.events.push(...evs(PROGRESS, undefined));
    if (o.sources.has('approvals')) {
      // Along approvals_agent (agent_id, requested_at, and the rowid every index ends with).
      const t = approvals;
      const rowid = sql<number>`${t}.rowid`;
      out.approvals = db
        .select({ ...getTableColumns(t), rowid })
        .from(t)
        .where(and(eq(t.agentId, agentId), side(t.requestedAt, rowid, SOURCE_RANK.approvals)))
        .orderBy(order(t.requestedAt), order(rowid))
        .limit(o.limit)
        .all();
    }
    return out;
  }

  /** The agent's calls and timeline events: from the rollup, the event counts and a bounded count of its tool calls. */
  totals(agentId: string): { llm: number; tool: number; events: number } {
    const llm = (this.llmRolled.get({ agentId })?.n ?? 0) + (this.llmPending.get({ agentId })?.n ?? 0);
    return { llm, tool: this.toolCount.get({ agentId })?.n ?? 0, events: this.counted.get({ agentId })?.n ?? 0 };
  }

  /** The first and last instant (epoch ms) of the agent's timeline, or null when it has nothing: ten reads at the ends of five indexes. */
  span(agentId: string): { first: number; last: number } | null {
    const db = this.db.orm;
    const ends: number[] = [];
    const edge = (rows: Array<{ ts: string }>) => {
      for (const r of rows) ends.push(msOf(r.ts));
    };
    for (const order of [asc, desc]) {
      edge(db.select({ ts: llmRequests.ts }).from(llmRequests).where(eq(llmRequests.agentId, agentId)).orderBy(order(llmRequests.ts)).limit(1).all());
      edge(db.select({ ts: toolCalls.ts }).from(toolCalls).where(eq(toolCalls.agentId, agentId)).orderBy(order(toolCalls.ts)).limit(1).all());
      for (const partial of [MARKS, PROGRESS])
        edge(
          db
            .select({ ts: events.ts })
            .from(events)
            .where(and(eq(events.agentId, agentId), partial))
            .orderBy(order(events.ts))
            .limit(1)
            .all(),
        );
      // An approval spans until it was decided: the newest one asked for ends the run no sooner than its decision.
      const a = approvals;
      for (const r of db.select({ ts: a.requestedAt, decidedAt: a.decidedAt }).from(a).where(eq(a.agentId, agentId)).orderBy(order(a.requestedAt)).limit(1).all())
        edge([r, ...(order === desc && r.decidedAt !== null ? [{ ts: r.decidedAt }] : [])]);
    }
    return ends.length === 0 ? null : { first: Math.min(...ends), last: Math.max(...ends) };
  }

  /**
   * The agent's calls per bucket of `bucketMs` (a whole number of minutes) from `startMs` (a
   * multiple of it) over `n` buckets: LLM calls, spend and failures from the rollup, tool calls
   * counted per bucket along their index, tool failures from their partial index.
   */
  buckets(agentId: string, startMs: number, bucketMs: number, n: number): OverviewBucket[] {
    const out: OverviewBucket[] = Array.from({ length: n }, (_, i) => ({ startMs: startMs + i * bucketMs, llm: 0, tool: 0, costMicros: 0, errors: 0 }));
    const at = (ms: number) => out[Math.min(n - 1, Math.max(0, Math.floor((ms - startMs) / bucketMs)))]!;
    // Two key seeks of llm_running per bucket with calls (RequestsStore.bucketsFor).
    for (const b of this.requests.bucketsFor(agentId, bucketMs)) {
      const o = at(b.start);
      o.llm += b.requests;
      o.costMicros += b.costMicros;
      o.errors += b.errors;
    }
    // Tool calls per bucket: one statement, each bucket a range count along tool_calls_agent_ts
    // (in SQLite's own loop: a statement per bucket cost more in the driver than the counting).
    const tc = toolCalls;
    const from = ISO_OF(sql`${startMs} + k * ${bucketMs}`);
    const to = ISO_OF(sql`${startMs} + (k + 1) * ${bucketMs}`);
    const inBucket = sql`${tc.agentId} = ${agentId} AND ${tc.ts} >= ${from} AND ${tc.ts} < ${to}`;
    const counts = this.db.orm.all<{ k: number; n: number; failed: number }>(sql`
      WITH RECURSIVE b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b WHERE k + 1 < ${n})
      SELECT k,
        (SELECT count(*) FROM (SELECT 1 FROM ${tc} WHERE ${inBucket} LIMIT ${TOOL_CALLS_KEPT})) AS n,
        (SELECT count(*) FROM (SELECT 1 FROM ${tc} WHERE ${inBucket} AND ${TOOL_FAILED} LIMIT ${TOOL_CALLS_KEPT})) AS failed
      FROM b`);
    for (const c of counts) {
      out[c.k]!.tool = c.n;
      out[c.k]!.errors += c.failed;
    }
    return out;
  }

  /**
   * The agent's notable events (marks), at most `max`: all of them, or when there are more, the
   * first at or after each of `max` even steps of [first, last] (marks bunched in a moment, a
   * pixel of the strip, show as one there). One statement: each step a seek of events_timeline.
   */
  marks(agentId: string, first: number, last: number, max = TIMELINE_MARKS_MAX): MarkRow[] {
    const all = this.marksAll.all({ agentId, limit: max + 1 });
    if (all.length <= max) return all;
    const e = events;
    const step = Math.max(1, (last - first + 1) / max);
    const seqs = this.db.orm
      .all<{ seq: number | null }>(sql`
        WITH RECURSIVE slot(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM slot WHERE k + 1 < ${max})
        SELECT DISTINCT (SELECT ${e.seq} FROM ${e} WHERE ${e.agentId} = ${agentId} AND ${MARKS}
          AND ${e.ts} >= ${ISO_OF(sql`${first} + k * ${step}`)} ORDER BY ${e.ts}, ${e.seq} LIMIT 1) AS seq
        FROM slot`)
      .flatMap((r) => (r.seq === null ? [] : [r.seq]));
    return this.db.orm.select({ seq: e.seq, ts: e.ts, type: e.type, severity: e.severity, message: e.message }).from(e).where(inArray(e.seq, seqs)).orderBy(asc(e.ts), asc(e.seq)).all();
  }

  /**
   * The agent's LLM calls written nearest `ts`: up to `half` at or after it and `half` before,
   * oldest first. What a PII finding said during a call links to: a whole call's row is written
   * as it ends (after the finding), a stream's as it begins (before it).
   */
  llmNear(agentId: string, ts: string, half: number): LlmRequestRow[] {
    const t = llmRequests;
    const later = this.db.orm
      .select()
      .from(t)
      .where(and(eq(t.agentId, agentId), gte(t.ts, ts)))
      .orderBy(asc(t.ts), asc(t.id))
      .limit(half)
      .all();
    const earlier = this.db.orm
      .select()
      .from(t)
      .where(and(eq(t.agentId, agentId), lt(t.ts, ts)))
      .orderBy(desc(t.ts), desc(t.id))
      .limit(half)
      .all();
    return [...earlier.reverse(), ...later];
  }

  /** The agent's first tool call to `service` written at or after `ts` (`mcp`: an MCP server's tools/call), or null. */
  toolFrom(agentId: string, service: string, ts: string, mcp = false): number | null {
    const t = toolCalls;
    const kind = mcp ? eq(t.method, MCP_TOOLS_CALL) : ne(t.method, MCP_TOOLS_CALL);
    return (
      this.db.orm
        .select({ id: t.id })
        .from(t)
        .where(and(eq(t.agentId, agentId), eq(t.service, service), kind, gte(t.ts, ts)))
        .orderBy(asc(t.ts), asc(t.id))
        .limit(1)
        .get()?.id ?? null
    );
  }

  /**
   * The agent's tool calls to `service` nearest `ts`: up to `half` before and `half` after. `mcp`:
   * an MCP server's calls (`tools/call`), else a tool service's (a server and a service may share a name).
   */
  toolsAround(agentId: string, service: string, ts: string, half: number, mcp = false): number[] {
    const t = toolCalls;
    const kind = mcp ? eq(t.method, MCP_TOOLS_CALL) : ne(t.method, MCP_TOOLS_CALL);
    const near = (cond: SQL, order: typeof asc) =>
      this.db.orm
        .select({ id: t.id })
        .from(t)
        .where(and(eq(t.agentId, agentId), eq(t.service, service), kind, cond))
        .orderBy(order(t.ts))
        .limit(half)
        .all()
        .map((r) => r.id);
    return [...near(lte(t.ts, ts), desc).reverse(), ...near(sql`${t.ts} > ${ts}`, asc)];
  }
}
