import { formatDuration } from '../core/duration.js';
import { callLabel } from '../domain/policy/index.js';
import type { EventRow, LlmRequestRow, TimelineApprovalRow, TimelineSource, TimelineStore, ToolCallRow } from '../state/index.js';

// What each row of an agent's run becomes on the timeline (the dashboard's waterfall): an LLM
// call, a tool call, an approval's wait or an event, as an item in its lane with its title,
// status, detail and the items it concerns (a PII finding's call, a loop's calls, a breaker's calls
// around it, the LLM call whose answer asked for a tool call); and which rows a list of lanes reads.
// The routes that page them (timeline.routes.ts) read the rows and order them.

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

/** An event type's lane (one the timeline does not list is lifecycle). */
const laneOf = (type: string): TimelineLane => EVENT_LANE[type] ?? 'lifecycle';

const TITLE_MAX = 200;
/** A breaker event links at most this many of the service's calls: half before it, half after. */
const BREAKER_LINKS = 50;
/** Epoch ms of a row's ISO time (0 for one a repair left unreadable). */
export const msOf = (ts: string) => {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
};
/** A title or a value cut to TITLE_MAX characters. */
export const cut = (s: string) => (s.length > TITLE_MAX ? `${s.slice(0, TITLE_MAX - 1)}…` : s);

export function llmItem(r: LlmRequestRow): TimelineItem {
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

export function toolItem(r: ToolCallRow): TimelineItem {
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
export function linkAskedTools(items: TimelineItem[]): void {
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
export function approvalItem(r: TimelineApprovalRow): TimelineItem {
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

export function eventItem(r: EventRow, store: TimelineStore): TimelineItem {
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
    lane: laneOf(r.type),
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
export function sourcesOf(lanes: readonly TimelineLane[] | undefined): { sources: Set<TimelineSource>; eventTypes: string[] | undefined } {
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

/** A notable event on the overview strip: a mark at its time, in its lane. */
export interface TimelineMark {
  key: string;
  lane: TimelineLane;
  ms: number;
  title: string;
  severity: string;
}

export function markOf(m: Pick<EventRow, 'seq' | 'type' | 'ts' | 'message' | 'severity'>): TimelineMark {
  return { key: `ev:${m.seq}`, lane: laneOf(m.type), ms: msOf(m.ts), title: cut(m.message), severity: m.severity };
}
