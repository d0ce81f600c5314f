import { VERSION } from '../core/index.js';
import type { AnyEvent } from '../core/events.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import type { Platform, Service } from '../server/index.js';
import { type BreakerRegistry, rowName } from '../reliability/index.js';
import { ExportGuard } from './exported.js';
import { RuntimeMetrics } from './metrics.js';
import { metricsRoute } from './metrics.routes.js';
import type { Observer } from './observed.js';
import { Tracing, tracingSetup } from './tracing.js';

export type ObservabilityDeps = Pick<Platform, 'config' | 'state' | 'tokens' | 'logger' | 'env'> & {
  tracker: Pick<BudgetTracker, 'agents' | 'snapshot' | 'centralIds' | 'central'>;
  breakers: Pick<BreakerRegistry, 'rows'>;
  /** The text with PII replaced, for opt-in content capture on spans. */
  redact(agentId: string, text: string): string;
  /** The PII types a short text holds (PiiProtection.typesIn): what every exported value an agent chose is checked by. */
  typesIn(text: string): string[];
};

/**
 * Metrics (GET /metrics) and traces (OTLP, when the OTEL_* variables ask for it) for the
 * runtime. `observer` is what the gateway and the tool proxy report to; it fans out to both.
 */
export function observabilityService(d: ObservabilityDeps): { service: Service; observer: Observer; metrics: RuntimeMetrics } {
  const agentName = (id: string) => d.state.agentBrief(id)?.name ?? null;
  // One guard for traces and metrics alike: no value holding PII is exported, whoever chose it.
  const guard = new ExportGuard((text) => d.typesIn(text).length > 0);
  // The SDK loads only when traces are on (otel.ts); it is in place before any agent starts
  // (the runtime awaits every service's `ready` first). Calls before that are not traced.
  let tracing: Tracing | null = null;
  const on = tracingSetup(d.env, d.config.traces.captureContent, () => {}) !== null;
  const ready = Tracing.fromEnv({ env: d.env, captureContent: d.config.traces.captureContent, redact: d.redact, agentName, guard, version: VERSION, logger: d.logger }).then(
    (t) => {
      tracing = t;
    },
    (err: unknown) => d.logger.error({ err }, 'traces are off: the OpenTelemetry SDK could not be loaded'),
  );
  const metrics = new RuntimeMetrics(
    {
      budgets: d.tracker,
      agentName,
      breakers: (kind) => d.breakers.rows(kind).map((r) => ({ name: rowName(kind, r), state: r.state, blocked: r.blocked })),
      ...(on ? { spans: () => tracing?.stats() ?? { exported: 0, dropped: {} } } : {}),
    },
    { maxAgents: d.config.metrics.maxAgents, guard },
  );
  const guarded =
    <A extends unknown[]>(what: string, fn: (...a: A) => void) =>
    (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        d.logger.error({ err }, `observability: ${what} failed`);
      }
    };
  const observer: Observer = {
    llmCall: guarded('an LLM call', (c, err) => {
      metrics.llmCall(c, err);
      tracing?.llmCall(c, err);
    }),
    settled: guarded('a settled call', (c, row) => metrics.settled(c, row)),
    toolCall: guarded('a tool call', (t) => {
      metrics.toolCall(t);
      tracing?.toolCall(t);
    }),
  };
  const unsubscribe = d.state.subscribe(
    guarded('an event', (event) => {
      const e = event as AnyEvent;
      metrics.onEvent(e);
      tracing?.onEvent(e);
    }),
  );
  const service: Service = {
    name: 'observability',
    rawRoutes: [metricsRoute({ metrics, tokens: d.tokens, auth: d.config.metrics.auth, enabled: d.config.metrics.enabled, logger: d.logger })],
    ready,
    agentEnv: (agentId): Record<string, string> => {
      const tp = tracing?.traceparent(agentId) ?? null;
      return tp ? { TRACEPARENT: tp } : {};
    },
    announce: () => {
      const t = tracing as Tracing | null;
      if (t) d.logger.info(`Traces go to ${t.setup.shown} (OTLP ${t.setup.protocol}${t.setup.captureContent ? ', with prompts and answers, PII redacted' : ''})`);
    },
    close: async () => {
      unsubscribe();
      await ready;
      await (tracing as Tracing | null)?.shutdown();
    },
  };
  return { service, observer, metrics };
}
