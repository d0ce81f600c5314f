import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IronCageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DURATION_BUCKETS, LABEL, LabelCap, METRIC, OPERATION, OTHER, providerName, RUN_BUCKETS, SeriesBudget, TOKEN_BUCKETS, type Admitted, type Scrapable } from '../observability/index.js';
import { ONLINE_WITHIN_MS, type BudgetView, type Ingested, type RuntimeView } from '../state/index.js';

// The control panel's GET /metrics: the fleet's figures, every series of the runtimes' own
// families labelled by `runtime`. Counters and histograms are fed by the batches as they land
// (after each batch's transaction committed, only the rows new to the panel: a batch or a row
// sent twice counts once), never by scanning the ledger at scrape. Central budgets, their leases
// and the runtimes' liveness are read from PostgreSQL at each scrape (small tables), so they are
// exact then. Counters start at 0 when the panel starts, as Prometheus expects of a counter
// (rate() and increase() read a restart as a reset); the all-time figures stay in PostgreSQL.

/** Label values kept before later ones are counted under `other`: runtimes in all, the others per runtime. */
export const PANEL_LABEL_CAPS = { runtimes: 1_000, models: 1_000, providers: 100, tools: 500, piiTypes: 100, codes: 200 } as const;

export interface PanelMetricSources {
  /** Every central budget in its current window, with its leases (BudgetsStore.view). */
  budgets(now: number): Promise<BudgetView[]>;
  /** The live runtimes (RuntimesStore.list). */
  runtimes(): Promise<RuntimeView[]>;
}

export interface PanelMetricsOptions {
  /** Distinct agent names kept per runtime (`metrics.max_agents`); later ones are `other`. */
  maxAgents: number;
  /** Series one runtime's rows may make (`metrics.max_series_per_runtime`), and all runtimes' (`metrics.max_series`); past either, folded into `other`. */
  maxSeriesPerRuntime: number;
  maxSeries: number;
  logger: Logger;
  now?: () => number;
}

/** How a batch POSTed to /api/telemetry ended. */
export type BatchOutcome = 'stored' | 'duplicate' | 'refused' | 'failed';

/** One runtime's caps, by the `label` the overflow counter names them. */
type Names = Record<'agent' | 'model' | 'provider' | 'tool' | 'pii_type' | 'code', LabelCap>;

const usd = (micros: number) => micros / 1_000_000;
/** Series a histogram child exposes: a line per bucket and +Inf, its sum and its count. */
const histogramSeries = (buckets: readonly number[]) => buckets.length + 3;
/** What one combination of a reported call's labels costs: its calls and spend, its token, duration and first-chunk histograms. */
const LLM_SERIES = 2 + 2 * histogramSeries(TOKEN_BUCKETS) + 2 * histogramSeries(DURATION_BUCKETS);
const TOOL_SERIES = 1 + histogramSeries(DURATION_BUCKETS);
const RUN_SERIES = histogramSeries(RUN_BUCKETS);
const seconds = (ms: number) => ms / 1000;
const PII_ACTIONS = new Set(['redacted', 'blocked', 'warned']);
const PII_LOCATIONS = new Set(['llm.output', 'llm.tool_arguments', 'llm.prompt', 'agent.output', 'tool.response']);

/** Values summed per label set (several runtimes past the cap land in one `other` series). */
class Sums {
  readonly m = new Map<string, { labels: Record<string, string>; v: number }>();
  add(labels: Record<string, string>, v: number, f: (a: number, b: number) => number = (a, b) => a + b): void {
    const k = Object.values(labels).join('\u0000');
    const s = this.m.get(k);
    if (s) s.v = f(s.v, v);
    else this.m.set(k, { labels, v });
  }
  into(g: Gauge): void {
    g.reset();
    for (const { labels, v } of this.m.values()) g.set(labels, v);
  }
}

/**
 * The panel's Prometheus registry.
 *
 * @example
 *   const metrics = new PanelMetrics({ budgets: (now) => store.view(now), runtimes: () => runtimes.list() }, { maxAgents: 100, logger });
 *   service.onIngested((i) => metrics.landed(i));
 *   rawRoutes: [metricsRoute({ metrics, tokens, auth: 'loopback', logger })]
 */
export class PanelMetrics implements Scrapable {
  readonly registry = new Registry();
  private readonly runtimeCap = new LabelCap(PANEL_LABEL_CAPS.runtimes);
  /**
   * The names each runtime's rows carry, capped for that runtime alone: a name takes a place only
   * with a series kept within the runtime's share, so one runtime filling its caps takes no name
   * from another (the series bound, not these, bounds the whole).
   */
  private readonly names = new Map<string, Names>();
  /** The error codes of refused or failed batches: the panel's own, capped all the same. */
  private readonly reasonCap = new LabelCap(PANEL_LABEL_CAPS.codes);
  /** The combinations of those values: per runtime and in all (a runtime may send any it likes). */
  private readonly series: SeriesBudget;
  /** Spend in integer micro-dollars per (runtime, agent, provider, model), turned into USD only when scraped. */
  private readonly spend = new Sums();
  private readonly tokens: Histogram;
  private readonly duration: Histogram;
  private readonly firstChunk: Histogram;
  private readonly toolDuration: Histogram;
  private readonly runDuration: Histogram;
  private readonly calls: Counter;
  private readonly pii: Counter;
  private readonly toolCalls: Counter;
  private readonly batches: Counter;
  private readonly rows: Counter;
  private readonly state: Record<'limit' | 'spent' | 'reserved' | 'waiting' | 'granted' | 'leaseSpent' | 'held' | 'leaseWaiting' | 'online' | 'lastSeen' | 'behind' | 'dbUp', Gauge>;

  constructor(
    private readonly sources: PanelMetricSources,
    private readonly o: PanelMetricsOptions,
  ) {
    this.series = new SeriesBudget(o.maxSeriesPerRuntime, o.maxSeries);
    const registers = [this.registry];
    const rt = LABEL.runtime;
    const genAi = [rt, LABEL.operation, LABEL.provider, LABEL.requestModel, LABEL.responseModel];
    this.tokens = new Histogram({
      name: METRIC.tokenUsage,
      help: 'Number of input and output tokens used (gen_ai.client.token.usage), per runtime: what each reported call was charged for.',
      labelNames: [...genAi, LABEL.tokenType],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.duration = new Histogram({
      name: METRIC.operationDuration,
      help: 'GenAI operation duration (gen_ai.client.operation.duration) as each runtime measured it, failed calls included.',
      labelNames: [...genAi, LABEL.errorType],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.firstChunk = new Histogram({
      name: METRIC.timeToFirstChunk,
      help: 'Time to the first chunk of a streamed answer (gen_ai.client.operation.time_to_first_chunk), per runtime.',
      labelNames: genAi,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.toolDuration = new Histogram({
      name: METRIC.toolDuration,
      help: "Tool call duration through each runtime's tool proxy (gen_ai.execute_tool.duration).",
      labelNames: [rt, LABEL.toolName, LABEL.toolType, LABEL.errorType],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({
      name: METRIC.runDuration,
      help: "A supervised agent process's run, start to exit (gen_ai.invoke_agent.duration), per runtime.",
      labelNames: [rt, LABEL.agentName, LABEL.errorType],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.calls = new Counter({
      name: METRIC.calls,
      help: 'LLM calls by runtime, agent, provider, model and how they ended (the ledger rows the runtimes reported).',
      labelNames: [rt, 'agent', 'provider', 'model', 'status'],
      registers,
    });
    this.pii = new Counter({
      name: METRIC.piiDetections,
      help: 'PII found on the runtimes, by type, what was done (redacted, blocked, warned) and where.',
      labelNames: [rt, 'type', 'action', 'location'],
      registers,
    });
    this.toolCalls = new Counter({
      name: METRIC.toolCalls,
      help: 'Tool proxy calls by runtime, service, the tier that answered (live, cache, placeholder) and HTTP status class.',
      labelNames: [rt, 'service', 'tier', 'status_class'],
      registers,
    });
    const spend = this.spend;
    new Counter({
      name: METRIC.spend,
      help: 'Spend in USD by runtime, agent, provider and model: the sum of the ledger rows the runtimes reported (exact to the micro-dollar).',
      labelNames: [rt, 'agent', 'provider', 'model'],
      registers,
      collect() {
        this.reset();
        for (const { labels, v } of spend.m.values()) this.inc(labels, usd(v));
      },
    });
    this.batches = new Counter({
      name: METRIC.batches,
      help: 'Telemetry batches POSTed by each runtime: stored, duplicate (taken before: nothing written), refused (4xx, by reason) or failed (5xx).',
      labelNames: [rt, 'outcome', 'reason'],
      registers,
    });
    this.rows = new Counter({
      name: METRIC.rows,
      help: 'Rows new to the panel, by runtime and kind (a row it already held is not counted).',
      labelNames: [rt, 'kind'],
      registers,
    });
    const { runtimeCap, reasonCap, names } = this;
    const series = this.series;
    new Counter({
      name: METRIC.seriesFolded,
      help: 'Reported rows and events whose labels were folded into `other` because their runtime (or all runtimes) had made metrics.max_series_per_runtime (metrics.max_series) series.',
      labelNames: [rt],
      registers,
      collect() {
        this.reset();
        for (const [runtime, n] of series.folded) this.inc({ [rt]: runtime }, n);
      },
    });
    new Counter({
      name: METRIC.labelOverflow,
      help: 'Label values counted under `other` because the cap on distinct values of that label was reached.',
      labelNames: ['label'],
      registers,
      collect() {
        this.reset();
        const sums: Record<string, number> = { agent: 0, runtime: runtimeCap.overflowed, model: 0, provider: 0, tool: 0, pii_type: 0, code: reasonCap.overflowed };
        for (const caps of names.values()) for (const [label, cap] of Object.entries(caps)) sums[label]! += cap.overflowed;
        for (const [label, n] of Object.entries(sums)) this.inc({ label }, n);
      },
    });
    const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers });
    const budget = ['scope', 'budget'];
    const lease = ['budget', rt];
    this.state = {
      limit: gauge(METRIC.budgetLimit, "Each central budget's limit in USD for its current window.", budget),
      spent: gauge(METRIC.budgetSpent, 'Spent in USD against each central budget in its current window: the sum of the rows tagged with it, exact at scrape time.', budget),
      reserved: gauge(METRIC.budgetReserved, 'Leased to runtimes in USD and not yet spent (Σ max(0, granted − spent) over the leases).', budget),
      waiting: gauge(METRIC.budgetWaiting, 'Calls waiting for headroom on the runtimes holding a live lease of each budget.', budget),
      granted: gauge(METRIC.leaseGranted, "What the panel granted each runtime of a budget's current window, in USD.", lease),
      leaseSpent: gauge(METRIC.leaseSpent, "What each runtime's reported rows spent of a budget's current window, in USD.", lease),
      held: gauge(METRIC.leaseHeld, "What each runtime's in-flight calls held of its lease at its last lease call, in USD.", lease),
      leaseWaiting: gauge(METRIC.leaseWaiting, 'Calls waiting for headroom on each runtime at its last lease call (0 once its lease expired).', lease),
      online: gauge(METRIC.runtimeOnline, `1 when the runtime reported within the last ${ONLINE_WITHIN_MS / 1000} s, else 0.`, [rt]),
      lastSeen: gauge(METRIC.runtimeLastSeen, 'Seconds since the runtime last sent a batch or a hello (absent until it first reports).', [rt]),
      behind: gauge(METRIC.runtimeBehind, 'Rows the runtime said it still had to send after its last batch.', [rt]),
      dbUp: gauge(METRIC.databaseUp, "1 when this scrape read the panel's PostgreSQL, 0 when it could not (budget and runtime gauges are then absent).", []),
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition: the database's figures read now, then every family. */
  async scrape(): Promise<string> {
    await this.readState();
    return this.registry.metrics();
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** A batch POSTed by a runtime ended so (after its transaction, for a stored one). */
  batch(runtime: string, outcome: BatchOutcome, err?: unknown): void {
    const reason = outcome === 'refused' || outcome === 'failed' ? this.reasonCap.of(err instanceof IronCageError ? err.code : 'internal_error') : '';
    this.batches.inc({ [LABEL.runtime]: this.runtimeCap.of(runtime), outcome, reason });
  }

  /** A batch committed: its new rows and events counted, once. */
  landed(i: Ingested): void {
    const runtime = this.runtimeCap.of(i.ack.runtime);
    const rt = { [LABEL.runtime]: runtime };
    const cap = this.namesOf(runtime);
    for (const [kind, n] of Object.entries(i.ack.stored)) if (n > 0) this.rows.inc({ ...rt, kind }, n);
    // Rows grouped by what their labels are made of: each label set is hashed once per batch, not once per row.
    const groups = new Map<string, Ingested['llmRequests']>();
    for (const r of i.llmRequests) {
      const k = `${r.agentId}\u0000${r.provider}\u0000${r.model}\u0000${r.endpoint}\u0000${r.status}\u0000${r.httpStatus}`;
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    }
    for (const rows of groups.values()) {
      const r0 = rows[0]!;
      const name = r0.agentId === null ? null : (i.agentNames.get(r0.agentId) ?? r0.agentId);
      // Each combination is charged once per runtime, before its values take a place under their
      // label's cap: past the runtime's share (or all), folded, and a flood takes no name from others.
      const fold = this.series.admit(runtime, 'llm', combination(name, r0.provider, r0.model, r0.status, r0.endpoint, String(r0.httpStatus)), LLM_SERIES, rows.length);
      const here = this.owner(runtime, fold);
      const kept = fold === 'kept';
      const a = kept ? cap.agent.of(name) : OTHER;
      const model = kept ? cap.model.of(r0.model) : OTHER;
      const provider = kept ? cap.provider.of(r0.provider) : OTHER;
      const status = kept ? cap.code.of(r0.status) : OTHER;
      const operation = kept ? (OPERATION[r0.endpoint] ?? cap.code.of(r0.endpoint)) : OTHER;
      const err = kept ? callError(r0) : OTHER;
      this.calls.inc({ ...here, agent: a, provider, model, status }, rows.length);
      const cost = rows.reduce((sum, r) => sum + r.costMicros, 0);
      if (cost > 0) this.spend.add({ ...here, agent: a, provider, model }, cost);
      const g = {
        ...here,
        [LABEL.operation]: operation,
        [LABEL.provider]: fold === 'kept' ? providerName(provider) : OTHER,
        // A row keeps one model: what was asked for and what answered are the same here.
        [LABEL.requestModel]: model,
        [LABEL.responseModel]: model,
      };
      const input = this.tokens.labels({ ...g, [LABEL.tokenType]: 'input' });
      const output = this.tokens.labels({ ...g, [LABEL.tokenType]: 'output' });
      const duration = this.duration.labels({ ...g, [LABEL.errorType]: err });
      const firstChunk = err === '' ? this.firstChunk.labels(g) : null;
      for (const r of rows) {
        if (r.promptTokens + r.completionTokens > 0) {
          input.observe(r.promptTokens);
          output.observe(r.completionTokens);
        }
        if (r.latencyMs !== null) duration.observe(seconds(r.latencyMs));
        if (r.stream && r.firstByteMs !== null && firstChunk) firstChunk.observe(seconds(r.firstByteMs));
      }
    }
    for (const t of i.toolCalls) {
      const statusClass0 = `${Math.floor(t.status / 100)}xx`;
      const fold = this.series.admit(runtime, 'tool', combination(t.service, t.status >= 400 ? t.reason : '', t.tier ?? 'none', statusClass0), TOOL_SERIES);
      const here = this.owner(runtime, fold);
      const kept = fold === 'kept';
      const service = kept ? cap.tool.of(t.service) : OTHER;
      const err = !kept ? OTHER : t.status >= 400 ? cap.code.of(t.reason) : '';
      const tier = kept ? cap.code.of(t.tier ?? 'none') : OTHER;
      const statusClass = kept ? statusClass0 : OTHER;
      this.toolDuration.observe({ ...here, [LABEL.toolName]: service, [LABEL.toolType]: 'extension', [LABEL.errorType]: err }, seconds(t.latencyMs));
      this.toolCalls.inc({ ...here, service, tier, status_class: statusClass });
    }
    for (const e of i.events) {
      if (e.type !== 'pii.detected' && e.type !== 'agent.exited') continue;
      const data = parseObject(e.data);
      if (!data) continue;
      if (e.type === 'pii.detected') {
        const { action, location, types } = data;
        if (typeof action !== 'string' || !PII_ACTIONS.has(action) || typeof location !== 'string' || !PII_LOCATIONS.has(location) || !isObject(types)) continue;
        for (const [type, n] of Object.entries(types)) {
          if (!Number.isSafeInteger(n) || (n as number) <= 0) continue;
          const fold = this.series.admit(runtime, 'pii', combination(type, action, location), 1, n as number);
          this.pii.inc(fold === 'kept' ? { ...rt, type: cap.pii_type.of(type), action, location } : { ...this.owner(runtime, fold), type: OTHER, action: OTHER, location: OTHER }, n as number);
        }
      } else if (typeof data.durationMs === 'number' && Number.isFinite(data.durationMs) && data.durationMs >= 0) {
        const name = e.agentId === null ? null : (i.agentNames.get(e.agentId) ?? e.agentId);
        const err = data.status === 'crashed' ? 'crashed' : '';
        const fold = this.series.admit(runtime, 'run', combination(name, err), RUN_SERIES);
        const labels =
          fold === 'kept' ? { ...rt, [LABEL.agentName]: cap.agent.of(name), [LABEL.errorType]: err } : { ...this.owner(runtime, fold), [LABEL.agentName]: OTHER, [LABEL.errorType]: OTHER };
        this.runDuration.observe(labels, seconds(data.durationMs));
      }
    }
  }

  /** The caps on one runtime's names (runtimes past their own cap share `other`'s). */
  private namesOf(runtime: string): Names {
    let n = this.names.get(runtime);
    if (!n) {
      const c = PANEL_LABEL_CAPS;
      n = {
        agent: new LabelCap(this.o.maxAgents),
        model: new LabelCap(c.models, 256),
        provider: new LabelCap(c.providers),
        tool: new LabelCap(c.tools),
        pii_type: new LabelCap(c.piiTypes),
        code: new LabelCap(c.codes),
      };
      this.names.set(runtime, n);
    }
    return n;
  }

  /** The runtime label of a combination as admitted: its own, or `other` when nothing was left at all. */
  private owner(runtime: string, fold: Admitted): Record<string, string> {
    return { [LABEL.runtime]: fold === 'folded_all' ? OTHER : runtime };
  }

  /** Budgets, leases and runtimes from PostgreSQL, into their gauges; without the database, none of them and `database_up 0`. */
  private async readState(): Promise<void> {
    const now = this.now();
    const s = this.state;
    let budgets: BudgetView[];
    let runtimes: RuntimeView[];
    try {
      [budgets, runtimes] = await Promise.all([this.sources.budgets(now), this.sources.runtimes()]);
    } catch (err) {
      // The outage is logged where it is noticed (Outage); anything else is a fault worth a line.
      if (!(err instanceof IronCageError && err.status === 503)) this.o.logger.error({ err }, "/metrics could not read the panel's database");
      for (const g of Object.values(s)) g.reset();
      s.dbUp.set(0);
      return;
    }
    // Every runtime is read again at each scrape: one past the cap is `other` each time, but is no new value
    // counted under `other`, so the overflow counter (which counts what the batches put there) is left as it was.
    const overflowed = this.runtimeCap.overflowed;
    const [limit, spent, reserved, waiting, granted, leaseSpent, held, leaseWaiting] = Array.from({ length: 8 }, () => new Sums());
    for (const b of budgets) {
      const l = { scope: 'central', budget: b.id };
      limit!.add(l, usd(b.limitMicros));
      spent!.add(l, usd(b.spentMicros));
      reserved!.add(l, usd(b.leasedMicros));
      waiting!.add(l, b.waiting);
      for (const x of b.leases) {
        const ll = { budget: b.id, [LABEL.runtime]: this.runtimeCap.of(x.runtime) };
        granted!.add(ll, usd(x.grantedMicros));
        leaseSpent!.add(ll, usd(x.spentMicros));
        held!.add(ll, usd(x.heldMicros));
        leaseWaiting!.add(ll, x.online ? x.waiting : 0);
      }
    }
    const [online, lastSeen, behind] = [new Sums(), new Sums(), new Sums()];
    for (const r of runtimes) {
      const l = { [LABEL.runtime]: this.runtimeCap.of(r.id) };
      const seen = r.lastSeenAt !== null && now - r.lastSeenAt <= ONLINE_WITHIN_MS;
      online.add(l, seen ? 1 : 0);
      behind.add(l, r.behind);
      // Past the cap, `other` says the most recent of them.
      if (r.lastSeenAt !== null) lastSeen.add(l, Math.max(0, seconds(now - r.lastSeenAt)), Math.min);
    }
    this.runtimeCap.overflowed = overflowed;
    limit!.into(s.limit);
    spent!.into(s.spent);
    reserved!.into(s.reserved);
    waiting!.into(s.waiting);
    granted!.into(s.granted);
    leaseSpent!.into(s.leaseSpent);
    held!.into(s.held);
    leaseWaiting!.into(s.leaseWaiting);
    online.into(s.online);
    lastSeen.into(s.lastSeen);
    behind.into(s.behind);
    s.dbUp.set(1);
  }
}

/**
 * `error.type` of a reported call, as the runtime's own /metrics names it where the row can
 * tell: '' for an answered call, `pii_blocked`, `client_aborted`, the upstream's HTTP status, else `_OTHER`.
 */
function callError(r: Ingested['llmRequests'][number]): string {
  if (r.status === 'ok') return '';
  if (r.status === 'blocked') return 'pii_blocked';
  if (r.status === 'aborted') return 'client_aborted';
  if (r.httpStatus !== null && r.httpStatus >= 400 && r.httpStatus <= 599) return String(r.httpStatus);
  return '_OTHER';
}

/** A combination of reported values as one key (each cut as a label would be: a long value is no new combination past its first 256 characters). */
const combination = (...values: Array<string | null>) => values.map((v) => (v ?? '').slice(0, 256)).join('\u0000');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}
