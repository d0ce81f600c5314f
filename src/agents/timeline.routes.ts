import type { Hono } from 'hono';
import * as z from 'zod';
import type { Principal } from '../core/roles.js';
import { ValidationError } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import { callLabel } from '../domain/policy/index.js';
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

// GET /api/agents/:id/timeline and /timeline/overview: an agent's run on one time axis (the
// dashboard's waterfall), paged by cursor, and the whole run downsampled for its overview strip.
// Every read is bounded (TimelineStore): a run of 1,000,000 events answers in milliseconds.

export const TIMELINE_LANES = ['llm', 'tool', 'pii', 'injection', 'lifecycle', 'budget', 'progress', 'watch', 'breaker', 'approval'] as const;
export type TimelineLane = (typeof TIMELINE_LANES)[number];

/**
 * One row of the waterfall. `key`: `llm:<ledger id>`, `tool:<tool_calls id>`, `ev:<event seq>` or
 * `approval:<approval id>`; `startMs`/`durationMs`: the bar (a call's start is its row's time less
 * its latency; an approval's wait from its request to its decision, `durationMs` null while it
 * waits; an event is a point, `durationMs` null); `links`: keys of the items it concerns (a PII finding's call,
 * a loop's calls, a breaker's calls around it).
 */
export interface TimelineItem {
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
  marks: Array<{ key: string; lane: TimelineLane; ms: number; title: string; severity: string }>;
  total: { llm: number; tool: number; events: number };
}

/** The lane of each event type the timeline shows. */
const EVENT_LANE: Readonly<Record<string, TimelineLane>> = {
  'pii.detected': 'pii',
  'agent.started': 'lifecycle',
  'agent.exited': 'lifecycle',
  'agent.restarting': 'lifecycle',
  'agent.paused': 'lifecycle',
  'agent.resumed': 'lifecycle',
  'budget.threshold': 'budget',
  'budget.exhausted': 'budget',
  'budget.refused': 'budget',
  'budget.runway': 'budget',
  'budget.changed': 'budget',
  'watch.loop': 'watch',
  'watch.stall': 'watch',
  'watch.spike': 'watch',
  'breaker.transition': 'breaker',
  'tool.fallback': 'breaker',
  'injection.detected': 'injection',
  'agent.progress': 'progress',
};

const TITLE_MAX = 200;
/** A breaker event links at most this many of the service's calls: half before it, half after. */
const BREAKER_LINKS = 50;
const ROW_LIMIT_MAX = 1000;

const CURSOR = /^(\d{1,15})\.([0-3])\.(\d{1,15})$/;
const cursor = z.string().regex(CURSOR, 'must be a cursor from an earlier page');
const timelineQuery = z
  .strictObject({
    before: cursor.optional(),
    after: cursor.optional(),
    around: z.coerce.number().int('must be a whole number of epoch milliseconds').min(0, 'must be 0 or more').max(8.64e15, 'must be a date').optional(),
    limit: z.coerce.number().int('must be a whole number').min(1, 'must be 1-1000').max(ROW_LIMIT_MAX, 'must be 1-1000').optional(),
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
const msOf = (ts: string) => {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
};
const cut = (s: string) => (s.length > TITLE_MAX ? `${s.slice(0, TITLE_MAX - 1)}…` : s);

/** A row read, with its place in the order. */
type Read = { pos: TimelinePos } & ({ kind: 'llm'; row: LlmRequestRow } | { kind: 'tool'; row: ToolCallRow } | { kind: 'ev'; row: EventRow } | { kind: 'approval'; row: TimelineApprovalRow });

const cmp = (a: TimelinePos, b: TimelinePos) => a.ms - b.ms || a.rank - b.rank || a.id - b.id;

function llmItem(r: LlmRequestRow): TimelineItem {
  const pending = r.status === 'pending';
  const duration = pending ? null : (r.latencyMs ?? null);
  const status = ({ ok: 'ok', error: 'error', aborted: 'aborted', interrupted: 'aborted', blocked: 'blocked', pending: 'info' } as const)[r.status as 'ok'] ?? 'info';
  return {
    key: `llm:${r.id}`,
    lane: 'llm',
    // A stream's row is written as it begins (Meter.openPending: its first byte); any other call's as it ends.
    startMs: msOf(r.ts) - Math.round(r.stream || pending ? (r.firstByteMs ?? 0) : (duration ?? 0)),
    durationMs: duration,
    title: `${r.model} · ${r.promptTokens}+${r.completionTokens} tokens${r.stream ? ' · stream' : ''}`,
    status,
    costUsd: r.costMicros / 1e6,
    detail: {
      model: r.model,
      provider: r.provider,
      endpoint: r.endpoint,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      stream: r.stream,
      attempts: r.attempts,
      httpStatus: r.httpStatus,
      // The agent's unit being worked on (the ledger's `step` column, added for cost per step; null in rows written before it).
      step: (r as { step?: number | null }).step ?? null,
      // The tool whose result this call's prompt carried (what led to it), as the ledger keeps it.
      chain: r.chain ?? null,
      redactions: r.redactions,
      usageSource: r.usageSource,
      firstByteMs: r.firstByteMs,
      error: r.error,
      status: r.status,
    },
    links: [],
  };
}

/**
 * `crm GET /leads/42 → 200`; a fallback's answer says where it came from and why (`→ 200 from
 * cache (upstream failure)`): a 200 the service never gave is not a success of it; a call the open
 * circuit kept from the service says so first (`· blocked by the open circuit → 200 from placeholder`).
 */
function toolTitle(r: ToolCallRow): string {
  const fallback = r.tier !== null && r.tier !== 'live' && r.tier !== 'failed';
  const blocked = r.reason === 'circuit_open' ? ' · blocked by the open circuit' : '';
  const why = fallback && !blocked && r.reason && r.reason !== 'ok' ? ` (${r.reason.replaceAll('_', ' ')})` : '';
  return `${r.service} ${r.method} ${r.path}${blocked} → ${r.status}${fallback ? ` from ${r.tier}${why}` : ''}`;
}

function toolItem(r: ToolCallRow): TimelineItem {
  // Refused by the cage (no tier) or kept from the service by its open circuit: blocked, in the
  // refusals' colour (a refusal is an outcome of its own, neither a success nor an error),
  // whatever the fallback answered the agent.
  const status = r.tier === null || r.reason === 'circuit_open' ? 'blocked' : r.status >= 400 || r.tier === 'failed' ? 'error' : r.tier === 'live' ? 'ok' : 'warn';
  return {
    key: `tool:${r.id}`,
    lane: 'tool',
    startMs: msOf(r.ts) - Math.round(r.latencyMs),
    durationMs: r.latencyMs,
    title: toolTitle(r),
    status,
    costUsd: null,
    detail: {
      service: r.service,
      method: r.method,
      path: r.path,
      httpStatus: r.status,
      tier: r.tier,
      reason: r.reason,
      upstreamStatus: r.upstreamStatus,
      upstreamMs: r.upstreamMs,
      bytes: r.bytes,
      redactions: r.redactions,
      fault: r.fault,
    },
    links: [],
  };
}

/**
 * A tool call linked to the LLM call whose answer asked for it, where that can be known: the
 * agent's LLM call that ended last before the tool call began, when the LLM call after the tool
 * call carries that tool's result (its `chain` names the tool: an MCP tool by its name, an HTTP
 * call by its path's last segment). Both ends get the link; only calls on this page are read.
 */
function linkAskedTools(items: TimelineItem[]): void {
  const llm = items.filter((i) => i.lane === 'llm' && i.detail.endpoint !== 'mcp');
  for (const t of items) {
    if (t.lane !== 'tool') continue;
    const name = t.detail.method === 'tools/call' ? String(t.detail.path) : String(t.detail.path).split('/').filter(Boolean).at(-1);
    if (!name) continue;
    let asked: TimelineItem | undefined;
    let next: TimelineItem | undefined;
    for (const c of llm) {
      const end = c.startMs + (c.durationMs ?? 0);
      if (end <= t.startMs) asked = c;
      else if (c.startMs >= t.startMs + (t.durationMs ?? 0)) {
        next = c;
        break;
      }
    }
    if (!asked || !next || next.detail.chain !== name) continue;
    t.links.push(asked.key);
    asked.links.push(t.key);
  }
}

/** An approval's outcome as an item's status: approved ok, denied blocked, expired error, withdrawn aborted, waiting warn. */
const APPROVAL_STATUS: Readonly<Record<string, TimelineItem['status']>> = { approved: 'ok', denied: 'blocked', expired: 'error', withdrawn: 'aborted', pending: 'warn' };

/**
 * A call a policy rule held for a person: a bar from the request to the decision (open while it
 * waits), titled with the call, the outcome and who, and the rule.
 * @example title: `crm POST /contacts: denied by admin alice (rule crm-writes): not this one`
 */
function approvalItem(r: TimelineApprovalRow): TimelineItem {
  const startMs = msOf(r.requestedAt);
  const waitedMs = r.decidedAt === null ? null : Math.max(0, msOf(r.decidedAt) - startMs);
  const outcome = r.status === 'pending' ? 'waiting for a decision' : `${r.status}${r.decidedBy ? ` by ${r.decidedBy}` : ''}${waitedMs === null ? '' : ` after ${formatDuration(waitedMs)}`}`;
  return {
    key: `approval:${r.id}`,
    lane: 'approval',
    startMs,
    durationMs: waitedMs,
    title: cut(`${r.ahead ? 'asked ahead: ' : ''}${callLabel(r)}: ${outcome} (rule ${r.rule})${r.reason ? `: ${r.reason}` : ''}`),
    status: APPROVAL_STATUS[r.status] ?? 'info',
    costUsd: null,
    detail: {
      id: r.id,
      call: callLabel(r),
      rule: r.rule,
      outcome: r.status,
      by: r.decidedBy,
      reason: r.reason === null ? null : cut(r.reason),
      waitedMs,
      expiresAt: r.expiresAt,
      ahead: r.ahead,
      note: r.note === null ? null : cut(r.note),
      args: cut(r.args),
    },
    links: [],
  };
}

/** An event's data, its top-level scalars only (the detail panel's fields). */
function scalars(data: Record<string, unknown>): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(data)) if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = typeof v === 'string' ? cut(v) : v;
  return out;
}

/** Clock slack when a finding's time is matched to its call's span (both read from millisecond timestamps). */
const SLACK_MS = 5;

/** The model an LLM call's reference names (`chat:gpt-4o`, `:prompt` after it for a guard's finding in the prompt; a model name may hold ':'). */
const modelOfRef = (ref: string): string => ref.slice(ref.indexOf(':') + 1).replace(/:prompt$/, '');

function eventItem(r: EventRow, store: TimelineStore): TimelineItem {
  let data: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(r.data);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) data = parsed as Record<string, unknown>;
  } catch {
    /* a row repaired at load may hold anything: shown without its data */
  }
  const links: string[] = [];
  const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => Number.isSafeInteger(x)) : []);
  if (r.type.startsWith('watch.')) {
    links.push(...ids(data.requestIds).map((id) => `llm:${id}`), ...ids(data.toolCallIds).map((id) => `tool:${id}`));
  } else if (r.type === 'injection.detected' && typeof data.requestRef === 'string' && !data.requestRef.startsWith('mcp:') && !data.requestRef.startsWith('tool:') && r.agentId) {
    // Found in an LLM request before it was sent: the call is the first of its model written from then on (none when block refused it).
    const model = modelOfRef(data.requestRef);
    const hit = store.llmNear(r.agentId, r.ts, 6).find((x) => x.ts >= r.ts && x.model === model);
    if (hit) links.push(`llm:${hit.id}`);
  } else if (r.type === 'injection.detected' && typeof data.requestRef === 'string' && r.agentId) {
    // A tool's answer (`tool:<service>`) or an MCP tools/call result (`mcp:<server>:<tool>`): read before its call's row was written, so the call is the next one to that service.
    const [kind, service] = data.requestRef.split(':');
    if (service && (kind === 'tool' || data.source === 'mcp.result')) {
      const next = store.toolFrom(r.agentId, service, r.ts, kind === 'mcp');
      if (next !== null) links.push(`tool:${next}`);
    }
  } else if (r.type === 'pii.detected' && typeof data.location === 'string' && data.location.startsWith('llm.') && r.agentId) {
    // A finding is said while its call runs: its call is the one of the model its ref names
    // (modelOfRef) whose time on the axis holds the finding, and that redacted or blocked something (a call running
    // beside it that found nothing is passed over); else the first of that model written after it.
    const model = typeof data.requestRef === 'string' ? modelOfRef(data.requestRef) : null;
    const at = msOf(r.ts);
    const near = store.llmNear(r.agentId, r.ts, 6).filter((x) => x.model === model);
    const during = near.filter((x) => {
      const i = llmItem(x);
      return i.startMs - SLACK_MS <= at && (i.durationMs === null || at <= i.startMs + i.durationMs + SLACK_MS);
    });
    const found = (x: LlmRequestRow) => x.redactions > 0 || x.status === 'blocked';
    const hit = during.find(found) ?? during[0] ?? near.find((x) => x.ts >= r.ts && found(x)) ?? near.find((x) => x.ts >= r.ts);
    if (hit) links.push(`llm:${hit.id}`);
  } else if ((r.type === 'breaker.transition' || r.type === 'tool.fallback') && typeof data.service === 'string' && r.agentId && data.kind !== 'provider') {
    links.push(...store.toolsAround(r.agentId, data.service, r.ts, BREAKER_LINKS / 2, data.kind === 'mcp').map((id) => `tool:${id}`));
  }
  const severe = r.severity === 'error' || r.severity === 'critical';
  const status = (r.type === 'pii.detected' || r.type === 'injection.detected') && data.action === 'blocked' ? 'blocked' : severe ? 'error' : r.severity === 'warn' ? 'warn' : 'info';
  return {
    key: `ev:${r.seq}`,
    lane: EVENT_LANE[r.type] ?? 'lifecycle',
    startMs: msOf(r.ts),
    durationMs: null,
    title: cut(r.message),
    status,
    costUsd: null,
    detail: { type: r.type, severity: r.severity, ...scalars(data) },
    links,
  };
}

/** What a `lanes=` list reads: the sources, and the event types of the marks. */
function sourcesOf(lanes: readonly TimelineLane[] | undefined): { sources: Set<TimelineSource>; eventTypes: string[] | undefined } {
  if (!lanes) return { sources: new Set(['llm', 'tool', 'marks', 'progress', 'approvals']), eventTypes: undefined };
  const set = new Set(lanes);
  const sources = new Set<TimelineSource>();
  if (set.has('llm')) sources.add('llm');
  if (set.has('tool')) sources.add('tool');
  if (set.has('progress')) sources.add('progress');
  if (set.has('approval')) sources.add('approvals');
  const eventTypes = Object.entries(EVENT_LANE)
    .filter(([type, lane]) => type !== 'agent.progress' && set.has(lane))
    .map(([type]) => type);
  if (eventTypes.length > 0) sources.add('marks');
  return { sources, eventTypes };
}

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
      marks: store.marks(agent.id, span.first, span.last).map((m) => ({ key: `ev:${m.seq}`, lane: EVENT_LANE[m.type] ?? 'lifecycle', ms: msOf(m.ts), title: cut(m.message), severity: m.severity })),
      total,
    };
    return c.json(overview);
  });
}
