import { VERSION } from '../core/index.js';
import type { AnyEvent } from '../core/events.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import type { Platform, Service } from '../server/index.js';
import type { BreakerRegistry } from '../reliability/index.js';
import { RuntimeMetrics } from './metrics.js';
import { metricsRoute } from './metrics.routes.js';
import type { Observer } from './observed.js';
import { Tracing } from './tracing.js';

export type ObservabilityDeps = Pick<Platform, 'config' | 'state' | 'tokens' | 'logger' | 'env'> & {
  tracker: Pick<BudgetTracker, 'agents' | 'snapshot' | 'centralIds' | 'central'>;
  breakers: Pick<BreakerRegistry, 'rows'>;
  /** The text with PII replaced, for opt-in content capture on spans. */
  redact(agentId: string, text: string): string;
};

/**
 * Metrics (GET /metrics) and traces (OTLP, when the OTEL_* variables ask for it) for the
 * runtime. `observer` is what the gateway and the tool proxy report to; it fans out to both.
 */
export function observabilityService(d: ObservabilityDeps): { service: Service; observer: Observer; metrics: RuntimeMetrics; tracing: Tracing | null } {
  const agentName = (id: string) => d.state.agentBrief(id)?.name ?? null;
  const tracing = Tracing.fromEnv({ env: d.env, captureContent: d.config.traces.captureContent, redact: d.redact, agentName, version: VERSION, logger: d.logger });
  const metrics = new RuntimeMetrics(
    {
      budgets: d.tracker,
      agentName,
      breakers: (kind) => d.breakers.rows(kind).map((r) => ({ name: String(kind === 'tool' ? r.service : r.provider), state: r.state, blocked: r.blocked })),
      ...(tracing ? { spans: () => tracing.stats() } : {}),
    },
    { maxAgents: d.config.metrics.maxAgents },
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
    agentEnv: (agentId): Record<string, string> => {
      const tp = tracing?.traceparent(agentId) ?? null;
      return tp ? { TRACEPARENT: tp } : {};
    },
    announce: () => {
      if (tracing) d.logger.info(`Traces go to ${tracing.setup.shown} (OTLP ${tracing.setup.protocol}${tracing.setup.captureContent ? ', with prompts and answers, PII redacted' : ''})`);
    },
    close: async () => {
      unsubscribe();
      await tracing?.shutdown();
    },
  };
  return { service, observer, metrics, tracing };
}
