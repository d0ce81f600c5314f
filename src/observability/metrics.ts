import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AnyEvent } from '../core/events.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import { BREAKER_KINDS, type BreakerKind } from '../core/events.js';
import type { LlmRequestInput } from '../state/index.js';
import type { ExportGuard } from './exported.js';
import { LabelCap } from './labels.js';
import { KeyedCounter, KeyedHistogram } from './series.js';
import { DURATION_BUCKETS, errorType, LABEL, METRIC, OPERATION, OVERHEAD_BUCKETS, providerName, RUN_BUCKETS, seconds, TOKEN_BUCKETS, WAIT_BUCKETS } from './names.js';
import type { ObservedCall, ObservedToolCall } from './observed.js';

/** A breaker's state as a number: a gauge Grafana can colour (0 closed, 1 half-open, 2 open). */
export const BREAKER_STATE = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;

/** What the metrics read at scrape time: exact then, never refreshed by a timer. */
export interface MetricSources {
  budgets: Pick<BudgetTracker, 'agents' | 'snapshot' | 'centralIds' | 'central'>;
  agentName(agentId: string): string | null;
  breakers(kind: BreakerKind): Array<{ name: string; state: keyof typeof BREAKER_STATE; blocked: number }>;
  /** The trace exporter's figures, when traces are on. */
  spans?(): { exported: number; dropped: Record<string, number> };
}

export interface MetricsOptions {
  /** Distinct agent names kept as label values; later ones are `other`. */
  maxAgents: number;
  /** What a label value that came from outside (a model, an agent's or a service's name) may be shown as (exported.ts). */
  guard: ExportGuard;
}

const usd = (micros: number) => micros / 1_000_000;

/**
 * Distinct model names kept as label values. A model name is the agent's to choose (a real
 * provider answers an unknown one with a 404 that is still a row), so it is bounded like agents.
 */
export const MAX_MODELS = 256;

/**
 * The runtime's Prometheus registry: the GenAI conventions' client metrics and ours, fed by the
 * gateway and tool proxy (`Observer`) and the event bus, budgets and breakers read at scrape.
 * Money is kept in integer micro-dollars and turned into USD only when scraped, so the counter
 * equals the ledger's sum exactly. What every LLM call touches is a keyed series (series.ts).
 */
export class RuntimeMetrics {
  readonly registry = new Registry();
  private readonly agents: LabelCap;
  private readonly models: LabelCap;
  private readonly guard: ExportGuard;
  // On every LLM call: keyed series (series.ts), a tenth of prom-client's cost per observation.
  private readonly tokens = new KeyedHistogram(METRIC.tokenUsage, 'Number of input and output tokens used (gen_ai.client.token.usage): what each call was charged for.', TOKEN_BUCKETS);
  private readonly duration = new KeyedHistogram(
    METRIC.operationDuration,
    'GenAI operation duration (gen_ai.client.operation.duration), as the agent saw it, failed calls included.',
    DURATION_BUCKETS,
  );
  private readonly firstChunk = new KeyedHistogram(METRIC.timeToFirstChunk, 'Time to the first chunk of a streamed answer (gen_ai.client.operation.time_to_first_chunk).', DURATION_BUCKETS);
  private readonly overhead = new KeyedHistogram(METRIC.overhead, 'Time an LLM call spent in iron-cage itself: its whole duration less the upstream and any wait for budget.', OVERHEAD_BUCKETS);
  private readonly calls = new KeyedCounter(METRIC.calls, 'LLM calls by agent, provider, model and how they ended (the ledger rows this process wrote).');
  private readonly spend = new KeyedCounter(METRIC.spend, 'Spend in USD by agent, model and provider: the sum of the ledger rows this process wrote (exact to the micro-dollar).', 1_000_000);
  private readonly toolDuration: Histogram;
  private readonly runDuration: Histogram;
  private readonly refusals: Counter;
  private readonly policy: Counter;
  private readonly approvalWait: Histogram;
  private readonly egress: Counter;
  private readonly egressBytes: Counter;
  private readonly pii: Counter;
  private readonly injection: Counter;
  private readonly toolCalls: Counter;
  /** Open runs: agent id → when it started and its name. */
  private readonly runs = new Map<string, { startMs: number; name: string }>();

  constructor(
    private readonly sources: MetricSources,
    options: MetricsOptions,
  ) {
    // Every label value that came from outside passes the export guard: one holding PII is its marker.
    this.guard = options.guard;
    const shown = (v: string, max: number) => options.guard.text(v, max);
    this.agents = new LabelCap(options.maxAgents, 64, shown);
    this.models = new LabelCap(MAX_MODELS, 256, shown);
    const registers = [this.registry];
    for (const m of [this.tokens, this.duration, this.firstChunk, this.overhead, this.calls, this.spend]) this.registry.registerMetric(m as never);
    this.toolDuration = new Histogram({
      name: METRIC.toolDuration,
      help: 'Tool call duration through the tool proxy (gen_ai.execute_tool.duration).',
      labelNames: [LABEL.toolName, LABEL.toolType, LABEL.errorType],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({
      name: METRIC.runDuration,
      help: "A supervised agent process's run, start to exit (gen_ai.invoke_agent.duration).",
      labelNames: [LABEL.agentName, LABEL.errorType],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.egress = new Counter({
      name: METRIC.egress,
      help: "Sandboxed agents' connections through the cage's egress proxy, by the sandbox.network.allow entry that carried them (empty when refused) and outcome (allowed, refused).",
      labelNames: ['rule', 'outcome'],
      registers,
    });
    this.egressBytes = new Counter({
      name: METRIC.egressBytes,
      help: "Bytes through the cage's egress proxy, by allow-list entry and direction (up: from the agent, down: to it).",
      labelNames: ['rule', 'direction'],
      registers,
    });
    this.refusals = new Counter({
      name: METRIC.refusals,
      help: 'Calls iron-cage refused, by reason (budget_exhausted, budget_wait_timeout, no_lease, pii_blocked, circuit_open, unknown_service…).',
      labelNames: ['reason', 'kind'],
      registers,
    });
    this.pii = new Counter({ name: METRIC.piiDetections, help: 'PII found, by type, what was done (redacted, blocked, warned) and where.', labelNames: ['type', 'action', 'location'], registers });
    this.injection = new Counter({
      name: METRIC.injectionDetected,
      help: 'Prompt injections found in what an agent reads, by where (source) and what was done (detected, warned, blocked).',
      labelNames: ['source', 'action'],
      registers,
    });
    this.toolCalls = new Counter({
      name: METRIC.toolCalls,
      help: 'Tool proxy calls by service, the tier that answered (live, cache, placeholder) and HTTP status class.',
      labelNames: ['service', 'tier', 'status_class'],
      registers,
    });
    this.policy = new Counter({
      name: METRIC.policyDecisions,
      help: "Tool calls (HTTP, MCP, and those in models' answers) a policy rule decided, by rule (its name, policies[i], or default) and decision: allow, deny, approve (held for a person), rate_limited; then how each held call ended: approved, denied, expired, withdrawn.",
      labelNames: ['rule', 'decision'],
      registers,
    });
    this.approvalWait = new Histogram({
      name: METRIC.approvalWait,
      help: 'How long a tool call held for approval waited for a person, by rule and outcome (approved, denied, expired, withdrawn).',
      labelNames: ['rule', 'outcome'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.budgetGauges();
    this.breakerGauges();
    this.spanCounters();
    const { agents, models } = this;
    new Counter({
      name: METRIC.labelOverflow,
      help: 'Label values counted under `other` because the cap on distinct agent (metrics.max_agents) or model (256) names was reached.',
      labelNames: ['label'],
      registers,
      collect() {
        this.reset();
        this.inc({ label: 'agent' }, agents.overflowed);
        this.inc({ label: 'model' }, models.overflowed);
      },
    });
  }

  /** The exposition, as Prometheus scrapes it. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  agentLabel(agentId: string | null): string {
    return this.agents.of(agentId === null ? null : (this.sources.agentName(agentId) ?? agentId));
  }

  /** An LLM call is over: its duration, first chunk, overhead and (a refusal of ours) its reason. */
  llmCall(c: ObservedCall, error: unknown): void {
    const status = c.row?.httpStatus ?? null;
    const err = errorType(error, error ? null : status) ?? '';
    const g = this.genAi(c.endpoint, c.provider, c.requestModel, c.answer?.model ?? c.model);
    const totalMs = performance.now() - c.t0;
    this.duration.observe(`${g.key}\u0000${err}`, () => ({ ...g.labels(), [LABEL.errorType]: err }), seconds(totalMs));
    if (c.stream && c.firstChunkMs !== null && err === '') this.firstChunk.observe(g.key, g.labels, seconds(c.firstChunkMs));
    if (c.attempts.length > 0) this.overhead.observe(g.op, () => ({ [LABEL.operation]: g.op }), seconds(Math.max(0, totalMs - c.upstreamMs - c.budgetWaitMs - c.retryWaitMs)));
    const reason = refusalOf(error, c.row);
    if (reason) this.refusals.inc({ reason, kind: 'llm' });
  }

  /** A row is on disk: its tokens and money, counted once. */
  settled(c: ObservedCall | undefined, row: LlmRequestInput): void {
    const agent = this.agentLabel(row.agentId);
    const model = this.models.of(row.model);
    const { provider, status } = row;
    const key = `${agent}\u0000${provider}\u0000${model}`;
    // A priced MCP tool call's row (provider `mcp`, model `<server>/<tool>`) is spend, not an LLM call: counted in the one, not the other.
    if (row.endpoint !== 'mcp') this.calls.inc(`${key}\u0000${status}`, () => ({ agent, provider, model, status }));
    if (row.costMicros > 0) this.spend.inc(key, () => ({ agent, provider, model }), row.costMicros);
    if (row.promptTokens + row.completionTokens === 0) return;
    const g = this.genAi(row.endpoint, provider, c?.requestModel ?? row.model, c?.answer?.model ?? row.model);
    this.tokens.observe(`${g.key}\u0000i`, () => ({ ...g.labels(), [LABEL.tokenType]: 'input' }), row.promptTokens);
    // An embedding produces no output tokens: nothing to observe (a 0 would skew the distribution).
    if (row.endpoint !== 'embeddings') this.tokens.observe(`${g.key}\u0000o`, () => ({ ...g.labels(), [LABEL.tokenType]: 'output' }), row.completionTokens);
  }

  toolCall(t: ObservedToolCall): void {
    const r = t.row;
    const err = t.errorCode ?? (r.status >= 400 ? String(r.status) : null);
    const service = this.guard.text(r.service);
    this.toolDuration.observe({ [LABEL.toolName]: service, [LABEL.toolType]: 'extension', [LABEL.errorType]: err ?? '' }, seconds(r.latencyMs));
    this.toolCalls.inc({ service, tier: r.tier ?? 'none', status_class: `${Math.floor(r.status / 100)}xx` });
    if (t.errorCode && TOOL_REFUSALS.has(t.errorCode)) this.refusals.inc({ reason: t.errorCode, kind: 'tool' });
  }

  /** PII findings and runs, from the event bus. */
  onEvent(e: AnyEvent): void {
    switch (e.type) {
      case 'pii.detected':
        for (const [type, n] of Object.entries(e.data.types)) this.pii.inc({ type, action: e.data.action, location: e.data.location }, n);
        return;
      case 'injection.detected':
        this.injection.inc({ source: e.data.source, action: e.data.action });
        return;
      case 'sandbox.egress': {
        // The rule is the operator's config (bounded); the host the agent asked for is never a label.
        const rule = e.data.rule ?? '';
        this.egress.inc({ rule, outcome: e.data.allowed ? 'allowed' : 'refused' });
        if (e.data.bytesUp > 0) this.egressBytes.inc({ rule, direction: 'up' }, e.data.bytesUp);
        if (e.data.bytesDown > 0) this.egressBytes.inc({ rule, direction: 'down' }, e.data.bytesDown);
        return;
      }
      // The rule is the operator's config (bounded: its name or its place), never the agent's text.
      case 'policy.decision':
        this.policy.inc({ rule: e.data.rule, decision: e.data.action });
        return;
      case 'approval.decided':
        this.policy.inc({ rule: e.data.rule, decision: e.data.status });
        this.approvalWait.observe({ rule: e.data.rule, outcome: e.data.status }, seconds(e.data.waitedMs));
        return;
      case 'tool.refused':
        // Counted where the call ends (toolCall) when the service is known; a path naming none is only this event.
        if (e.data.service === null) this.refusals.inc({ reason: e.data.reason, kind: 'tool' });
        return;
      case 'agent.started':
        if (e.agentId) this.runs.set(e.agentId, { startMs: Date.parse(e.ts), name: this.agentLabel(e.agentId) });
        return;
      case 'agent.exited':
      case 'agent.restarting': {
        const run = e.agentId ? this.runs.get(e.agentId) : undefined;
        if (!run || !e.agentId) return;
        this.runs.delete(e.agentId);
        // A crash is said by agent.exited (crashed) before any restart; agent.restarting alone is a requested restart.
        const failed = e.type === 'agent.exited' && e.data.status === 'crashed' ? 'crashed' : '';
        this.runDuration.observe({ [LABEL.agentName]: run.name, [LABEL.errorType]: failed }, seconds(Date.parse(e.ts) - run.startMs));
        return;
      }
      default:
        return;
    }
  }

  /** The conventions' four labels of a call (model names bounded), as a key, and the labels made only for a new series. */
  private genAi(endpoint: string, provider: string | null, requestModel: string | null, responseModel: string | null) {
    const op = OPERATION[endpoint] ?? endpoint;
    const p = provider === null ? '' : providerName(provider);
    const req = requestModel === null ? '' : this.models.of(requestModel);
    const res = responseModel === null ? '' : this.models.of(responseModel);
    return {
      op,
      key: `${op}\u0000${p}\u0000${req}\u0000${res}`,
      labels: () => ({ [LABEL.operation]: op, [LABEL.provider]: p, [LABEL.requestModel]: req, [LABEL.responseModel]: res }),
    };
  }

  /** Each budget's limit, spent, reserved and waiting calls, read from the tracker when scraped. */
  private budgetGauges(): void {
    const { budgets } = this.sources;
    const self = this;
    const gauge = (name: string, help: string, field: 'limit' | 'spent' | 'reserved' | 'waiting') =>
      new Gauge({
        name,
        help,
        labelNames: ['scope', 'budget'],
        registers: [this.registry],
        collect() {
          this.reset();
          const sums = new Map<string, { labels: Record<string, string>; v: number }>();
          const add = (labels: Record<string, string>, v: number) => {
            const k = `${labels.scope}\u0000${labels.budget}`;
            const s = sums.get(k);
            if (s) s.v += v;
            else sums.set(k, { labels, v });
          };
          for (const id of budgets.agents()) {
            const s = budgets.snapshot(id);
            if (!s || (field === 'limit' && s.limitMicros === null)) continue;
            const v = field === 'limit' ? usd(s.limitMicros!) : field === 'spent' ? usd(s.spentMicros) : field === 'reserved' ? usd(s.reservedMicros) : s.waitingCalls;
            add({ scope: 'agent', budget: self.agentLabel(id) }, v);
          }
          for (const id of budgets.centralIds()) {
            const s = budgets.central(id);
            if (!s) continue;
            // On a runtime a central budget is its lease: the limit it may spend here.
            const v = field === 'limit' ? usd(s.leaseMicros) : field === 'spent' ? usd(s.spentMicros) : field === 'reserved' ? usd(s.reservedMicros) : s.waitingCalls;
            add({ scope: 'central_lease', budget: s.label }, v);
          }
          for (const { labels, v } of sums.values()) this.set(labels, v);
        },
      });
    gauge(METRIC.budgetLimit, "Each budget's limit in USD (an agent's own; on a runtime, a central budget's lease).", 'limit');
    gauge(METRIC.budgetSpent, 'Spent in USD against each budget, exact at scrape time.', 'spent');
    gauge(METRIC.budgetReserved, 'Held in USD by calls in flight against each budget.', 'reserved');
    gauge(METRIC.budgetWaiting, 'Calls waiting for in-flight calls to free budget.', 'waiting');
  }

  private breakerGauges(): void {
    const { breakers } = this.sources;
    new Gauge({
      name: METRIC.breakerState,
      help: "Each circuit breaker's state: 0 closed, 1 half-open, 2 open.",
      labelNames: ['kind', 'service'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const kind of BREAKER_KINDS) for (const b of breakers(kind)) this.set({ kind, service: b.name }, BREAKER_STATE[b.state]);
      },
    });
    new Counter({
      name: METRIC.breakerBlocked,
      help: 'Calls a circuit breaker refused while open (or half-open and already probing).',
      labelNames: ['kind', 'service'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const kind of BREAKER_KINDS) for (const b of breakers(kind)) this.inc({ kind, service: b.name }, b.blocked);
      },
    });
  }

  private spanCounters(): void {
    const { spans } = this.sources;
    if (!spans) return;
    new Counter({
      name: METRIC.spansExported,
      help: 'Spans the OTLP exporter delivered.',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(spans().exported);
      },
    });
    new Counter({
      name: METRIC.spansDropped,
      help: 'Spans dropped rather than slow a call: the export queue was full (queue_full), the collector refused or could not be reached (export_failed), or they were still queued when shutdown stopped waiting (shutdown).',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(spans().dropped)) this.inc({ reason }, n);
      },
    });
  }
}

/** Tool refusals that are iron-cage's (an agent reaching for what it may not, an open circuit, a policy's deny, rate or a person's answer). */
const TOOL_REFUSALS = new Set(['unknown_service', 'invalid_path', 'circuit_open', 'policy_denied', 'approval_denied', 'approval_expired', 'rate_limited']);

/** LLM refusals that are iron-cage's own decision, by reason; an upstream's failure is not one. */
const LLM_REFUSALS = new Set(['budget_exhausted', 'budget_wait_timeout', 'budget_queue_full', 'no_lease', 'pii_blocked', 'circuit_open', 'model_holds_pii']);

function refusalOf(error: unknown, row: LlmRequestInput | null): string | null {
  if (row?.status === 'blocked') return 'pii_blocked';
  const t = errorType(error);
  return t !== null && LLM_REFUSALS.has(t) ? t : null;
}
