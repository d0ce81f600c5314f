import { formatDuration, formatElapsed } from '../core/duration.js';
import { formatCount, formatUsd, usdToMicros } from '../core/money.js';
import type { SandboxView } from '../state/index.js';
import { INJECTION_WHERE, type InjectionSource } from '../injection/index.js';

// The end of a run in the terminal: what `start` prints when its agent ends or on Ctrl-C, and
// the common part of the demo's results table. Read through the REST routes the dashboard
// reads (which read the database), so the terminal and the page show the same figures.

export interface RunSummary {
  agentId: string;
  /** What to call it: the name it gave itself through its SDK, else its name in the cage. */
  name: string;
  /** Its name in the cage (`--name`), said beside `name` when it was given and the agent calls itself otherwise; null: nothing to add. */
  runsAs: string | null;
  status: string;
  exitCode: number | null;
  restarts: number;
  progress: { done: number; total: number | null; unit: string | null };
  requests: number;
  /** LLM calls the budget refused (never sent, no ledger row). */
  refused: number;
  /** LLM calls blocked for PII (priced, a `blocked` row, never answered). */
  blocked: number;
  tokens: { input: number; output: number };
  spentUsd: number;
  limitUsd: number | null;
  byModel: Array<{ model: string; requests: number; inputTokens: number; outputTokens: number; costUsd: number }>;
  /** PII values redacted or blocked on their way to the agent, the log or the dashboard. */
  piiCaught: number;
  /** Prompt injections found in what it read (src/injection), how many refused, and the last one's place and signals. */
  injections: { found: number; blocked: number; last: { source: string; signals: string[] } | null };
  /** Breakers (tool services and LLM providers) that opened at least once, with the calls they blocked. */
  breakersTripped: Array<{ name: string; state: string; blocked: number }>;
  /** What the agent could touch (src/sandbox); null: not known. */
  sandbox: SandboxView | null;
  /** Its tool calls held for a person, how each ended and how long they waited, and those a policy rule refused. */
  approvals: ApprovalsView;
  runTimeMs: number;
}

/** What the REST routes answer, as far as a run's summary (and the demo's results) read them. */
export interface StatusView {
  name: string;
  /** The name it gave itself through its SDK (AgentRuntime(name=…)); absent from an older server. */
  calledName?: string | null;
  status: string;
  exitCode: number | null;
  restarts: number;
  progress: { done: number; total: number | null; unit?: string | null; succeeded: number | null; failed: number | null };
  sandbox?: SandboxView | null;
  /** Its first process's launch and its end (ISO): the run's time, as its exit line counts it. */
  startedAt?: string | null;
  endedAt?: string | null;
}

/**
 * How long a run took: from its first launch to its end as the agent's row says (the instant its
 * exit line, "Agent completed (exit 0) in 0.4s", counts from and to; the whole span when it was
 * restarted), to `now` while it runs; `fallbackMs` when it never started.
 *
 * @example
 *   runTimeOf({ startedAt: '2025-01-01T00:00:00.000Z', endedAt: '2025-01-01T00:00:00.412Z' }, 1_100) // 412
 */
export function runTimeOf(s: Pick<StatusView, 'startedAt' | 'endedAt'>, fallbackMs: number, now = Date.now()): number {
  if (!s.startedAt) return fallbackMs;
  return Math.max(0, (s.endedAt ? Date.parse(s.endedAt) : now) - Date.parse(s.startedAt));
}
export interface CostsView {
  spentUsd: number | null;
  limitUsd: number | null;
  requests: number;
  /** LLM calls the budget refused. */
  refused: number;
  /** The ledger's calls by status. */
  byStatus?: Record<string, number>;
  promptTokens: number;
  completionTokens: number;
  byModel: Array<{ model: string; requests: number; promptTokens: number; completionTokens: number; costUsd: number }>;
  baseline: { model: string; costUsd: number; savedUsd: number } | null;
}
interface BreakerRowView {
  state: string;
  blocked: number;
  openCount: number;
}
export interface BreakersView {
  services: Array<BreakerRowView & { service: string; costPerCallUsd: number; display: { fallback: string | null } }>;
  providers: Array<BreakerRowView & { provider: string }>;
  mcp: Array<BreakerRowView & { server: string }>;
}
export interface ApprovalsView {
  approved: number;
  denied: number;
  expired: number;
  withdrawn: number;
  pending: number;
  waitedMs: number;
  refusedByPolicy: number;
}
export interface RunViews {
  approvals: ApprovalsView;
  status: StatusView;
  costs: CostsView;
  protection: ProtectionView;
  breakers: BreakersView;
}
/** The protection figures a summary reads (GET /api/agents/:id/protection). */
export interface ProtectionView {
  piiLeaksBlocked: number;
  promptInjectionAttempts?: number;
  promptInjectionsBlocked?: number;
  latestInjection?: { source: string; action: string; signals: string[] } | null;
}

/**
 * A GET on a running iron-cage with its admin token, as JSON.
 *
 * @example
 * const status = await getJson<{ status: string }>(rt.url, rt.adminToken, `/api/agents/${id}/status`);
 */
export async function getJson<T>(url: string, token: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * An agent's status, costs and protection figures and the breakers, read at once from a live
 * iron-cage: what a run's summary and the demo's results are made from.
 *
 * @example
 * const { costs } = await fetchRunViews({ url: rt.url, adminToken: rt.adminToken, agentId });
 */
export async function fetchRunViews(o: { url: string; adminToken: string; agentId: string }): Promise<RunViews> {
  const get = <T>(path: string) => getJson<T>(o.url, o.adminToken, path);
  const id = encodeURIComponent(o.agentId);
  const [status, costs, protection, breakers, approvals] = await Promise.all([
    get<StatusView>(`/api/agents/${id}/status`),
    get<CostsView>(`/api/agents/${id}/costs`),
    get<ProtectionView>(`/api/agents/${id}/protection`),
    get<BreakersView>('/api/breakers'),
    get<ApprovalsView>(`/api/agents/${id}/approvals`),
  ]);
  return { status, costs, protection, breakers, approvals };
}

/**
 * The summary of one agent's run, from a live iron-cage (before it shuts down).
 *
 * `named`: the run was given `--name` (said beside the name the agent calls itself, when that differs).
 *
 * @example
 * const s = await fetchRunSummary({ url: rt.url, adminToken: rt.adminToken, agentId, runTimeMs: Date.now() - t0 }); // runTimeMs: only when it never started
 * process.stdout.write(renderTable('Run summary', summaryRows(s)));
 */
export async function fetchRunSummary(o: { url: string; adminToken: string; agentId: string; runTimeMs: number; named?: boolean }): Promise<RunSummary> {
  const { status, costs, protection, breakers, approvals } = await fetchRunViews(o);
  const tripped = [
    ...breakers.services.map((b) => ({ ...b, name: b.service })),
    ...breakers.providers.map((b) => ({ ...b, name: `LLM ${b.provider}` })),
    ...breakers.mcp.map((b) => ({ ...b, name: `MCP ${b.server}` })),
  ]
    .filter((b) => b.openCount > 0)
    .map((b) => ({ name: b.name, state: b.state, blocked: b.blocked }));
  return {
    agentId: o.agentId,
    name: status.calledName ?? status.name,
    runsAs: o.named && status.calledName && status.calledName !== status.name ? status.name : null,
    status: status.status,
    exitCode: status.exitCode,
    restarts: status.restarts,
    progress: { done: status.progress.done, total: status.progress.total, unit: status.progress.unit ?? null },
    requests: costs.requests,
    refused: costs.refused,
    blocked: costs.byStatus?.blocked ?? 0,
    tokens: { input: costs.promptTokens, output: costs.completionTokens },
    spentUsd: costs.spentUsd ?? 0,
    limitUsd: costs.limitUsd,
    byModel: costs.byModel.map((m) => ({ model: m.model, requests: m.requests, inputTokens: m.promptTokens, outputTokens: m.completionTokens, costUsd: m.costUsd })),
    piiCaught: protection.piiLeaksBlocked,
    injections: injectionsOf(protection),
    breakersTripped: tripped,
    sandbox: status.sandbox ?? null,
    approvals,
    runTimeMs: runTimeOf(status, o.runTimeMs),
  };
}

/** The run's prompt injection findings, from its protection figures. */
function injectionsOf(p: ProtectionView): RunSummary['injections'] {
  const last = p.latestInjection ?? null;
  return { found: p.promptInjectionAttempts ?? 0, blocked: p.promptInjectionsBlocked ?? 0, last: last && { source: last.source, signals: last.signals } };
}

/**
 * The summary's Prompt injection row, when any was found: `2 found, 1 blocked; the last in an MCP tool result (addressed-to-model)`.
 * @example injectionRows({ found: 1, blocked: 0, last: { source: 'tool.response', signals: ['classifier'] } }) // [['Prompt injection', '1 found; the last in a tool answer (classifier)']]
 */
export function injectionRows(i: RunSummary['injections']): Row[] {
  if (i.found === 0) return [];
  const last = i.last ? `; the last in ${INJECTION_WHERE[i.last.source as InjectionSource] ?? i.last.source} (${i.last.signals.join(', ')})` : '';
  return [['Prompt injection', `${count(i.found)} found${i.blocked > 0 ? `, ${count(i.blocked)} blocked` : ''}${last}`]];
}

const usd = (dollars: number): string => formatUsd(usdToMicros(dollars));
const count = formatCount;
const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`;

export type Row = [label: string, value: string];

/**
 * The spend and its split by model: `Total cost  $5.29 of $50.00 budget (12 LLM calls)`, then a row per model.
 *
 * @example
 * costRows({ spentUsd: 5.29, limitUsd: 50, requests: 12, byModel: [...] })
 */
export function costRows(s: { spentUsd: number; limitUsd: number | null; requests: number; byModel: Array<{ model: string; requests: number; costUsd: number }> }): Row[] {
  return [
    ['Total cost', `${usd(s.spentUsd)}${s.limitUsd === null ? '' : ` of ${usd(s.limitUsd)} budget`} (${plural(s.requests, 'LLM call')})`],
    ...s.byModel.map((m): Row => [`  ${m.model}`, `${usd(m.costUsd)} (${plural(m.requests, 'call')})`]),
  ];
}

/**
 * The rows of `start`'s summary.
 *
 * @example
 * summaryRows(s)[0] // ['Agent', 'researcher (lg-1a2b3c4d): completed, exit 0']
 */
export function summaryRows(s: RunSummary): Row[] {
  const exit = s.exitCode === null ? '' : `, exit ${s.exitCode}`;
  const unit = s.progress.unit ?? 'units';
  return [
    ['Agent', `${s.name} (${s.runsAs === null ? '' : `--name ${s.runsAs}, `}${s.agentId}): ${s.status}${exit}`],
    ...(s.progress.total !== null || s.progress.done > 0 ? [['Progress', `${count(s.progress.done)}${s.progress.total === null ? '' : ` / ${count(s.progress.total)}`} ${unit}`] as Row] : []),
    ...costRows(s),
    ...refusedRows(s),
    ['Tokens', `${count(s.tokens.input)} in, ${count(s.tokens.output)} out`],
    ['PII caught', count(s.piiCaught)],
    ...injectionRows(s.injections),
    ['Breakers tripped', s.breakersTripped.length === 0 ? 'none' : s.breakersTripped.map((b) => `${b.name} (${b.state}, ${plural(b.blocked, 'call')} blocked)`).join(', ')],
    ['Restarts', count(s.restarts)],
    ...approvalRows(s.approvals),
    ...(s.sandbox ? [['Sandbox', sandboxText(s.sandbox)] as Row] : []),
    ['Run time', formatElapsed(s.runTimeMs)],
  ];
}

/**
 * The summary's Refused row, when the cage refused any LLM call: `19 LLM calls: 18 the budget did
 * not cover (never sent), 1 blocked for PII` (the outcomes the dashboard's Cost panel counts).
 */
export function refusedRows(s: Pick<RunSummary, 'refused' | 'blocked'>): Row[] {
  if (s.refused + s.blocked === 0) return [];
  const parts = [...(s.refused > 0 ? [`${count(s.refused)} the budget did not cover (never sent)`] : []), ...(s.blocked > 0 ? [`${count(s.blocked)} blocked for PII`] : [])];
  return [['Refused', `${plural(s.refused + s.blocked, 'LLM call')}: ${parts.join(', ')}`]];
}

/**
 * The summary's Approvals row, when a policy held or refused any call: `2 approved, 1 denied (waited 1m05s in all); 3 refused by a rule`.
 * @example approvalRows({ approved: 1, denied: 0, expired: 0, withdrawn: 0, pending: 0, waitedMs: 4000, refusedByPolicy: 0 }) // [['Approvals', '1 approved (waited 4s in all)']]
 */
export function approvalRows(a: ApprovalsView): Row[] {
  const held = (['approved', 'denied', 'expired', 'withdrawn', 'pending'] as const).filter((k) => a[k] > 0).map((k) => `${count(a[k])} ${k === 'pending' ? 'still waiting' : k}`);
  const parts = [
    ...(held.length > 0 ? [`${held.join(', ')} (waited ${formatDuration(a.waitedMs)} in all)`] : []),
    ...(a.refusedByPolicy > 0 ? [`${plural(a.refusedByPolicy, 'call')} refused by a policy rule`] : []),
  ];
  return parts.length === 0 ? [] : [['Approvals', parts.join('; ')]];
}

/** The summary's Sandbox row: `files, network, processes (writes /work/proj; only the cage; 4,096 MB, 512 processes)`, or none and why. */
function sandboxText(s: SandboxView): string {
  if (!s.sandboxed) return `none: ${s.why}`;
  const l = s.limits;
  const more = s.write.length > 1 ? ` and ${plural(s.write.length - 1, 'more folder')}` : '';
  return `files, network, processes (writes ${s.write[0]}${more}; only the cage; ${count(l.memoryMb)} MB memory, ${count(l.processes)} processes${l.cpuSeconds === null ? '' : `, ${count(l.cpuSeconds)} s CPU`})`;
}

/**
 * Two columns between rules, under a title (plain text, no colour).
 *
 * @example
 * process.stdout.write(renderTable('Results', [['PII blocked', '1']]));
 */
export function renderTable(title: string, rows: Row[]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  const width = Math.max(...rows.map(([k, v]) => k.length + v.length)) + 5;
  const rule = '─'.repeat(Math.min(width, 100));
  return ['', title, rule, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), rule, ''].join('\n');
}
