import type { Hono } from 'hono';
import { queryInt } from '../core/validation.js';
import * as z from 'zod';
import type { Principal } from '../core/roles.js';
import { ValidationError } from '../core/errors.js';
import {
  SOURCE_RANK,
  TIMELINE_BUCKETS_MAX,
  TimelineStore,
  type AgentView,
  type EventRow,
  type LlmRequestRow,
  type StateManager,
  type TimelineApprovalRow,
  type TimelinePos,
  type TimelineSource,
  type ToolCallRow,
} from '../state/index.js';
import { type AppEnv, parseWith } from '../server/index.js';
import { approvalItem, eventItem, linkAskedTools, llmItem, markOf, msOf, sourcesOf, TIMELINE_LANES, toolItem, type TimelineItem, type TimelineMark } from './timeline-items.js';

// GET /api/agents/:id/timeline and /timeline/overview: an agent's run on one time axis (the
// dashboard's waterfall), paged by cursor, and the whole run downsampled for its overview strip.
// Every read is bounded (TimelineStore): a run of 1,000,000 events answers in milliseconds. What
// each row becomes, and which rows a list of lanes reads: timeline-items.ts.

/**
 * A page of the timeline, ascending by `startMs` then key. `before`: the cursor to page earlier
 * (null: nothing earlier); `after`: to page later (null: nothing later yet); `last`: the newest
 * item's cursor, to ask `after=` it what has come since (null: an empty page).
 */
export interface TimelinePage {
  items: TimelineItem[];
  before: string | null;
  after: string | null;
  last: string | null;
  total: { llm: number; tool: number; events: number };
}

/** The whole run at a glance: ≤ 240 buckets and ≤ 500 marks (its notable events, thinned evenly over time if more: one per four pixels of a projector-wide strip is more than the eye tells apart). */
export interface TimelineOverview {
  startMs: number;
  endMs: number;
  bucketMs: number;
  buckets: Array<{ startMs: number; llm: number; tool: number; costUsd: number; errors: number }>;
  marks: TimelineMark[];
  total: { llm: number; tool: number; events: number };
}

const ROW_LIMIT_MAX = 1000;

const CURSOR = /^(\d{1,15})\.([0-3])\.(\d{1,15})$/;
const cursor = z.string().regex(CURSOR, 'must be a cursor from an earlier page');
const timelineQuery = z
  .strictObject({
    before: cursor.optional(),
    after: cursor.optional(),
    around: queryInt(z.number().min(0, 'must be 0 or more').max(8.64e15, 'must be a date'), 'must be a whole number of epoch milliseconds').optional(),
    limit: queryInt(z.number().min(1, 'must be 1-1000').max(ROW_LIMIT_MAX, 'must be 1-1000')).optional(),
    lanes: z
      .string()
      .transform((s) => s.split(',').filter((x) => x !== ''))
      .pipe(z.array(z.enum(TIMELINE_LANES, { error: `each lane must be one of ${TIMELINE_LANES.join(', ')}` })).min(1, 'must name at least one lane'))
      .optional(),
  })
  .refine((q) => [q.before, q.after, q.around].filter((x) => x !== undefined).length <= 1, { message: 'before, after and around: give at most one' });

const encode = (p: TimelinePos) => `${p.ms}.${p.rank}.${p.id}`;
const decode = (s: string): TimelinePos => {
  const m = CURSOR.exec(s)!;
  return { ms: Number(m[1]), rank: Number(m[2]), id: Number(m[3]) };
};
/** A row read, with its place in the order. */
type Read = { pos: TimelinePos } & ({ kind: 'llm'; row: LlmRequestRow } | { kind: 'tool'; row: ToolCallRow } | { kind: 'ev'; row: EventRow } | { kind: 'approval'; row: TimelineApprovalRow });

const cmp = (a: TimelinePos, b: TimelinePos) => a.ms - b.ms || a.rank - b.rank || a.id - b.id;

/**
 * Mount the two routes on `app` (the agent routes' Hono app); `readable` is their access check
 * (an agent token reads only its own agent).
 */
export function timelineRoutes(app: Hono<AppEnv>, state: StateManager, readable: (p: Principal, id: string) => AgentView): void {
  const store = new TimelineStore(state);

  const read = (agentId: string, o: { sources: Set<TimelineSource>; eventTypes: string[] | undefined; dir: 'before' | 'after'; pos: TimelinePos | null; limit: number }) => {
    const rows = store.page(agentId, { ...o, limit: o.limit + 1 });
    const all: Read[] = [
      ...rows.llm.map((row) => ({ kind: 'llm' as const, row, pos: { ms: msOf(row.ts), rank: SOURCE_RANK.llm, id: row.id } })),
      ...rows.tool.map((row) => ({ kind: 'tool' as const, row, pos: { ms: msOf(row.ts), rank: SOURCE_RANK.tool, id: row.id } })),
      ...rows.events.map((row) => ({ kind: 'ev' as const, row, pos: { ms: msOf(row.ts), rank: SOURCE_RANK.marks, id: row.seq } })),
      ...rows.approvals.map((row) => ({ kind: 'approval' as const, row, pos: { ms: msOf(row.requestedAt), rank: SOURCE_RANK.approvals, id: row.rowid } })),
    ];
    all.sort((a, b) => (o.dir === 'before' ? cmp(b.pos, a.pos) : cmp(a.pos, b.pos)));
    const taken = all.slice(0, o.limit);
    if (o.dir === 'before') taken.reverse();
    return { taken, more: all.length > o.limit };
  };

  app.get('/agents/:id/timeline', (c) => {
    const agent = readable(c.get('principal'), c.req.param('id'));
    const q = parseWith(timelineQuery, c.req.query());
    const limit = q.limit ?? 300;
    const { sources, eventTypes } = sourcesOf(q.lanes);
    let taken: Read[];
    let before: string | null;
    let after: string | null;
    if (q.around !== undefined) {
      // Half on each side of the instant: rows written before it, and at or after it.
      const pos = { ms: q.around, rank: 0, id: 0 };
      const early = read(agent.id, { sources, eventTypes, dir: 'before', pos, limit: Math.floor(limit / 2) });
      const late = read(agent.id, { sources, eventTypes, dir: 'after', pos, limit: limit - Math.floor(limit / 2) });
      taken = [...early.taken, ...late.taken];
      before = early.more && taken.length > 0 ? encode(taken[0]!.pos) : null;
      after = late.more && taken.length > 0 ? encode(taken.at(-1)!.pos) : null;
    } else if (q.after !== undefined) {
      const page = read(agent.id, { sources, eventTypes, dir: 'after', pos: decode(q.after), limit });
      taken = page.taken;
      // What the cursor came from is earlier.
      before = taken.length > 0 ? encode(taken[0]!.pos) : q.after;
      after = page.more ? encode(taken.at(-1)!.pos) : null;
    } else {
      const pos = q.before === undefined ? null : decode(q.before);
      const page = read(agent.id, { sources, eventTypes, dir: 'before', pos, limit });
      taken = page.taken;
      before = page.more ? encode(taken[0]!.pos) : null;
      after = pos === null ? null : taken.length > 0 ? encode(taken.at(-1)!.pos) : q.before!;
    }
    const items = taken.map((r) => (r.kind === 'llm' ? llmItem(r.row) : r.kind === 'tool' ? toolItem(r.row) : r.kind === 'approval' ? approvalItem(r.row) : eventItem(r.row, store)));
    // Cut by the time each row was written (a call's end), shown by its start.
    const order = new Map(taken.map((r, i) => [items[i]!, r.pos]));
    items.sort((a, b) => a.startMs - b.startMs || cmp(order.get(a)!, order.get(b)!));
    linkAskedTools(items);
    const page: TimelinePage = { items, before, after, last: taken.length > 0 ? encode(taken.at(-1)!.pos) : null, total: store.totals(agent.id) };
    return c.json(page);
  });

  app.get('/agents/:id/timeline/overview', (c) => {
    const agent = readable(c.get('principal'), c.req.param('id'));
    const extra = Object.keys(c.req.query());
    if (extra.length > 0) throw new ValidationError(`${extra[0]}: the overview takes no parameters`);
    const total = store.totals(agent.id);
    const span = store.span(agent.id);
    if (!span) {
      const now = Date.now();
      const none: TimelineOverview = { startMs: now, endMs: now, bucketMs: 60_000, buckets: [], marks: [], total };
      return c.json(none);
    }
    // Whole minutes (the rollup's grain), aligned to the epoch, at most TIMELINE_BUCKETS_MAX of them.
    let bucketMs = Math.max(1, Math.ceil((span.last - span.first + 1) / TIMELINE_BUCKETS_MAX / 60_000)) * 60_000;
    let startMs = span.first - (span.first % bucketMs);
    let n = Math.ceil((span.last + 1 - startMs) / bucketMs);
    while (n > TIMELINE_BUCKETS_MAX) {
      bucketMs += 60_000;
      startMs = span.first - (span.first % bucketMs);
      n = Math.ceil((span.last + 1 - startMs) / bucketMs);
    }
    const overview: TimelineOverview = {
      startMs: span.first,
      endMs: span.last,
      bucketMs,
      buckets: store.buckets(agent.id, startMs, bucketMs, n).map((b) => ({ startMs: b.startMs, llm: b.llm, tool: b.tool, costUsd: b.costMicros / 1e6, errors: b.errors })),
      marks: store.marks(agent.id, span.first, span.last).map(markOf),
      total,
    };
    return c.json(overview);
  });
}
