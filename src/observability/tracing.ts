import type { Context, Link, Span, Tracer } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { loadOtel, type Otel } from './otel.js';
import type { AnyEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { ObservedCall, ObservedToolCall } from './observed.js';
import { attemptAttributes, emptyTotals, llmAttributes, llmErrorType, operationOf, type RunTotals, runAttributes, toolAttributes, toolErrorType } from './tracing-attributes.js';
import { contentAttributes, stopSequences } from './tracing-content.js';
import type { ExportGuard } from './exported.js';
import { CountedBatchProcessor, type QueueOptions, type SpanStats } from './tracing-export.js';
import { providerName } from './names.js';

export interface TracingOptions {
  /** iron-cage's own environment: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _PROTOCOL, _HEADERS, OTEL_SERVICE_NAME… */
  env: NodeJS.ProcessEnv;
  /** Export prompts and answers (`traces.capture_content`), PII redacted first. */
  captureContent: boolean;
  /** The text with every PII finding replaced (nothing recorded, nothing alerted): what content capture exports. */
  redact(agentId: string, text: string): string;
  agentName(agentId: string): string | null;
  /** Every string an agent could have chosen passes it before it is exported (exported.ts). */
  guard: ExportGuard;
  version: string;
  logger: Logger;
}

/** What the environment asks of the exporter, read once at start. */
export interface TracingSetup {
  url: string;
  /** The URL as logs may show it: origin and path only. */
  shown: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: Record<string, string>;
  timeoutMillis: number;
  queue: QueueOptions;
  serviceName: string;
  resource: Record<string, string>;
  captureContent: boolean;
}

/** The protocols of OTLP over HTTP; `grpc` would need another transport. */
const PROTOCOLS = new Set(['http/protobuf', 'http/json']);
/** How long shutdown waits for the last spans to leave (the runtime's close awaits it). */
const SHUTDOWN_WAIT_MS = 2000;

/**
 * The exporter's settings from the standard OTEL_* variables, or null when no endpoint is set
 * (traces off). Read from the runtime's own environment, not process.env (the exporter's own
 * defaults read process.env: the same in production, not in tests or an embedding process).
 * An unknown protocol (`grpc`) is warned about and `http/protobuf` used instead, as the
 * specification asks of an unrecognised enum value ("generate a warning and gracefully ignore").
 */
export function tracingSetup(env: NodeJS.ProcessEnv, captureContent: boolean, warn: (msg: string) => void): TracingSetup | null {
  const specific = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const general = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (specific === null && general === null) return null;
  // The signal's own endpoint is used as given; the general one gets the signal's path.
  const url = specific ?? `${general!.replace(/\/+$/, '')}/v1/traces`;
  let shown: string;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    // What the log may say of it: no user, password or query (a key may sit in either).
    shown = `${u.origin}${u.pathname}`;
  } catch {
    warn(`Traces are off: ${specific !== null ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT'} is not an http(s) URL.`);
    return null;
  }
  let protocol = (nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? 'http/protobuf').toLowerCase();
  if (!PROTOCOLS.has(protocol)) {
    warn(`OTLP protocol ${JSON.stringify(protocol)} is not supported (OTLP over HTTP only: http/protobuf or http/json); traces are sent as http/protobuf to ${shown}.`);
    protocol = 'http/protobuf';
  }
  const headers = { ...keyPairs(env.OTEL_EXPORTER_OTLP_HEADERS), ...keyPairs(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) };
  const int = (v: string | undefined, dflt: number, min: number) => {
    const n = Number(v);
    return v !== undefined && v.trim() !== '' && Number.isInteger(n) && n >= min ? n : dflt;
  };
  const maxQueueSize = int(env.OTEL_BSP_MAX_QUEUE_SIZE, 2048, 1);
  const resource = keyPairs(env.OTEL_RESOURCE_ATTRIBUTES);
  return {
    url,
    shown,
    protocol: protocol as TracingSetup['protocol'],
    headers,
    timeoutMillis: int(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT, 10_000, 1),
    queue: {
      maxQueueSize,
      maxExportBatchSize: Math.min(int(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512, 1), maxQueueSize),
      scheduledDelayMillis: int(env.OTEL_BSP_SCHEDULE_DELAY, 5000, 0),
      exportTimeoutMillis: int(env.OTEL_BSP_EXPORT_TIMEOUT, 30_000, 1),
    },
    serviceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? resource['service.name'] ?? 'iron-cage',
    resource,
    captureContent: captureContent || env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase() === 'true',
  };
}

const nonEmpty = (v: string | undefined): string | null => (v !== undefined && v.trim() !== '' ? v.trim() : null);

/**
 * `key=value,key2=value2` as the OTel variables write headers and resource attributes: trimmed,
 * values URL-decoded (a pair without `=`, or a value that does not decode, is skipped).
 *
 * @example keyPairs('x-team=a%20b, env=prod') // { 'x-team': 'a b', env: 'prod' }
 */
export function keyPairs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    try {
      if (key) out[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      /* not URL-encoded as the variable's format asks: skipped */
    }
  }
  return out;
}

/** One supervised run of an agent: its invoke_agent span, open from before the process starts. */
interface Run {
  span: Span;
  context: Context;
  totals: RunTotals;
}

/**
 * OpenTelemetry traces of the GenAI conventions, exported over OTLP/HTTP: `invoke_agent {name}`
 * per run, `chat {model}` (or `embeddings`, `text_completion`) per LLM call, `execute_tool
 * {service}` per tool-proxy call. Off unless the standard OTLP endpoint variables are set.
 *
 * A call's span is built once the call is over, with the times its record holds: nothing is
 * traced while it runs, and ending a span only queues it (the batch processor exports on a
 * timer, a full queue drops and counts). A private tracer provider, no global one and no
 * context manager: every parent is passed explicitly, so several runtimes share a process.
 */
export class Tracing {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly processor: CountedBatchProcessor;
  private readonly propagator: W3CTraceContextPropagator;
  /** Per agent: the run whose process is running, and the next one, opened for its environment before it starts. */
  private readonly runs = new Map<string, { current: Run | null; next: Run | null }>();
  private closed = false;

  private constructor(
    private readonly o: TracingOptions,
    readonly setup: TracingSetup,
    private readonly otel: Otel,
  ) {
    this.propagator = new otel.core.W3CTraceContextPropagator();
    const Exporter = setup.protocol === 'http/json' ? otel.json.OTLPTraceExporter : otel.proto.OTLPTraceExporter;
    const exporter = new Exporter({ url: setup.url, headers: setup.headers, timeoutMillis: setup.timeoutMillis });
    this.processor = new CountedBatchProcessor(otel, exporter, setup.queue);
    this.provider = new otel.sdk.TracerProvider({
      resource: otel.resources.resourceFromAttributes({
        ...otel.core.SDK_INFO,
        ...setup.resource,
        'service.name': setup.serviceName,
        'service.version': o.version,
      }),
      sampler: new otel.sdk.ParentBasedSampler({ root: new otel.sdk.AlwaysOnSampler() }),
      spanProcessors: [this.processor],
      // Content is bounded where it is built; this bounds anything else.
      spanLimits: { attributeValueLengthLimit: 128 * 1024 },
    });
    this.tracer = this.provider.getTracer('iron-cage', o.version);
  }

  /** Tracing as the environment asks for it, or null when no OTLP endpoint is set. */
  static async fromEnv(o: TracingOptions): Promise<Tracing | null> {
    const setup = tracingSetup(o.env, o.captureContent, (msg) => o.logger.warn(msg));
    return setup ? new Tracing(o, setup, await loadOtel()) : null;
  }

  /** An LLM call is over: its CLIENT span, from arrival to the end of its answer, each upstream attempt an event. */
  llmCall(c: ObservedCall, error: unknown): void {
    if (this.closed) return;
    // A model name that holds PII was refused as no model name: it is not shown either.
    const err = llmErrorType(c, error);
    if (err === 'model_holds_pii') c = { ...c, requestModel: null };
    const { guard } = this.o;
    const name = guard.name(operationOf(c), c.requestModel);
    const run = this.runs.get(c.agentId)?.current ?? null;
    const { context, links } = this.parentOf(c.headers, run);
    // Every string in them through the guard, before content (redacted text of its own) joins them.
    const attributes = guard.attributes(llmAttributes(c, err, this.o.agentName(c.agentId)));
    if (this.setup.captureContent) {
      try {
        Object.assign(
          attributes,
          contentAttributes(c, (text) => this.o.redact(c.agentId, text)),
        );
        // Stop sequences are the agent's own text: exported only with its content, redacted.
        const stop = stopSequences(c.request);
        if (stop.length > 0) attributes['gen_ai.request.stop_sequences'] = stop.map((s) => this.o.redact(c.agentId, s));
      } catch (e) {
        this.o.logger.debug({ err: e }, 'tracing: content capture could not read a call');
      }
    }
    const span = this.tracer.startSpan(name, { kind: this.otel.api.SpanKind.CLIENT, startTime: c.startMs, attributes, links }, context);
    for (const t of c.attempts) span.addEvent('iron_cage.upstream.attempt', guard.attributes(attemptAttributes(t)), t.startMs);
    if (err !== null) span.setStatus({ code: this.otel.api.SpanStatusCode.ERROR, message: guard.text(err) });
    span.end(c.startMs + (performance.now() - c.t0));
    if (run && c.row) {
      const t = run.totals;
      t.llmCalls++;
      t.inputTokens += c.row.promptTokens;
      t.outputTokens += c.row.completionTokens;
      t.costMicros += c.row.costMicros;
      const p = providerName(c.row.provider);
      t.providers.set(p, (t.providers.get(p) ?? 0) + 1);
    }
  }

  /** A tool-proxy call is over: its execute_tool span. */
  toolCall(t: ObservedToolCall): void {
    if (this.closed) return;
    const run = t.row.agentId ? (this.runs.get(t.row.agentId)?.current ?? null) : null;
    const { context, links } = this.parentOf(t.headers, run);
    const err = toolErrorType(t);
    const { guard } = this.o;
    const span = this.tracer.startSpan(
      guard.name('execute_tool', t.mcp?.tool ?? t.row.service),
      { kind: this.otel.api.SpanKind.INTERNAL, startTime: t.startMs, attributes: guard.attributes(toolAttributes(t, err)), links },
      context,
    );
    if (err !== null) span.setStatus({ code: this.otel.api.SpanStatusCode.ERROR, message: guard.text(err) });
    span.end(t.startMs + t.row.latencyMs);
    if (run) run.totals.toolCalls++;
  }

  /** Runs: a process started opens (or adopts) its run's span; its exit or restart ends it. */
  onEvent(e: AnyEvent): void {
    if (this.closed || !e.agentId) return;
    switch (e.type) {
      case 'agent.started': {
        const r = this.runsOf(e.agentId);
        if (r.current) this.endRun(e.agentId, r.current, Date.parse(e.ts), null);
        r.current = r.next ?? this.openRun(e.agentId, Date.parse(e.ts));
        r.next = null;
        r.current.span.setAttribute('iron_cage.run.attempt', e.data.attempt);
        r.current.span.setAttribute('process.pid', e.data.pid);
        return;
      }
      case 'agent.exited':
      case 'agent.restarting': {
        const r = this.runs.get(e.agentId);
        if (!r?.current) return;
        // A crash is an exit that says so (one restarted after it too); a restart asked for is none.
        const crashed = e.type === 'agent.exited' && e.data.status === 'crashed';
        if (e.type === 'agent.exited' && e.data.exitCode !== null) r.current.span.setAttribute('process.exit.code', e.data.exitCode);
        r.current.span.setAttribute('iron_cage.run.status', e.type === 'agent.exited' ? e.data.status : 'restarted');
        this.endRun(e.agentId, r.current, Date.parse(e.ts), crashed ? 'crashed' : null);
        r.current = null;
        if (!r.next) this.runs.delete(e.agentId);
        return;
      }
      default:
        return;
    }
  }

  /**
   * W3C traceparent of the run about to start for `agentId` (its environment is built before the
   * process starts): the run's span is opened here, and adopted when the process has started.
   */
  traceparent(agentId: string): string | null {
    if (this.closed) return null;
    const r = this.runsOf(agentId);
    r.next ??= this.openRun(agentId, Date.now());
    const s = r.next.span.spanContext();
    return `00-${s.traceId}-${s.spanId}-0${s.traceFlags.toString(16)}`;
  }

  stats(): { exported: number; dropped: Record<string, number> } {
    const s: SpanStats = this.processor.stats();
    return { exported: s.exported, dropped: { ...s.dropped } };
  }

  /** Ends the runs still open, then flushes, waiting at most a few seconds: a collector that is down never holds shutdown up. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    for (const [agentId, r] of this.runs) {
      if (r.current) this.endRun(agentId, r.current, now, null);
      // A run opened for a process that never started is no run.
    }
    this.runs.clear();
    this.closed = true;
    await this.processor.shutdown(Math.min(SHUTDOWN_WAIT_MS, this.setup.timeoutMillis + 500));
    this.o.logger.debug(`tracing shut down: ${JSON.stringify(this.stats())}`);
  }

  /**
   * A span's parent: the trace the agent's request names in `traceparent` (and `tracestate`),
   * the run linked to it; else the agent's current run; else none (a root). A malformed header
   * is no header. Only these two headers are read (never `baggage`); a `tracestate` member that
   * holds PII is left out (the guard), one that is no W3C member too (the propagator).
   */
  private parentOf(headers: ObservedCall['headers'], run: Run | null): { context: Context; links: Link[] } {
    const { trace, ROOT_CONTEXT } = this.otel.api;
    if (headers.traceparent !== undefined) {
      const carrier = { traceparent: headers.traceparent, tracestate: this.o.guard.traceState(headers.tracestate) };
      const joined = this.propagator.extract(ROOT_CONTEXT, carrier, this.otel.api.defaultTextMapGetter);
      const remote = trace.getSpanContext(joined);
      if (remote && trace.isSpanContextValid(remote)) return { context: joined, links: run ? [{ context: run.span.spanContext(), attributes: { 'iron_cage.link': 'agent_run' } }] : [] };
    }
    return { context: run ? run.context : ROOT_CONTEXT, links: [] };
  }

  private runsOf(agentId: string): { current: Run | null; next: Run | null } {
    let r = this.runs.get(agentId);
    if (!r) this.runs.set(agentId, (r = { current: null, next: null }));
    return r;
  }

  private openRun(agentId: string, startMs: number): Run {
    const { trace, ROOT_CONTEXT } = this.otel.api;
    const span = this.tracer.startSpan(this.o.guard.name('invoke_agent', this.o.agentName(agentId)), { kind: this.otel.api.SpanKind.INTERNAL, startTime: startMs }, ROOT_CONTEXT);
    return { span, context: trace.setSpan(ROOT_CONTEXT, span), totals: emptyTotals() };
  }

  private endRun(agentId: string, run: Run, endMs: number, err: string | null): void {
    const name = this.o.agentName(agentId);
    if (name) run.span.updateName(this.o.guard.name('invoke_agent', name));
    run.span.setAttributes(this.o.guard.attributes(runAttributes(agentId, name, run.totals)));
    if (err !== null) {
      run.span.setAttribute('error.type', err);
      run.span.setStatus({ code: this.otel.api.SpanStatusCode.ERROR, message: err });
    }
    run.span.end(Number.isFinite(endMs) ? endMs : Date.now());
  }
}
