import type { AnyEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { ObservedCall, ObservedToolCall } from './observed.js';

export interface TracingOptions {
  /** iron-cage's own environment: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _PROTOCOL, _HEADERS, OTEL_SERVICE_NAME… */
  env: NodeJS.ProcessEnv;
  /** Export prompts and answers (`traces.capture_content`), PII redacted first. */
  captureContent: boolean;
  /** The text with every PII finding replaced (nothing recorded, nothing alerted): what content capture exports. */
  redact(agentId: string, text: string): string;
  agentName(agentId: string): string | null;
  version: string;
  logger: Logger;
}

/**
 * OpenTelemetry traces of the GenAI conventions, exported over OTLP/HTTP: `invoke_agent {name}`
 * per run, `chat {model}` (or `embeddings`, `text_completion`) per LLM call, `execute_tool
 * {service}` per tool-proxy call. Off unless the standard OTLP endpoint variables are set.
 * (Being built: see the contract in observability/observed.ts.)
 */
export class Tracing {
  private constructor(private readonly o: TracingOptions) {}

  /** Tracing as the environment asks for it, or null when no OTLP endpoint is set. */
  static fromEnv(o: TracingOptions): Tracing | null {
    const e = o.env;
    if (!e.OTEL_EXPORTER_OTLP_ENDPOINT && !e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return null;
    return new Tracing(o);
  }

  llmCall(_c: ObservedCall, _error: unknown): void {}

  toolCall(_t: ObservedToolCall): void {}

  onEvent(_e: AnyEvent): void {}

  /** W3C traceparent of the agent's current run span, for its environment (TRACEPARENT); null when none. */
  traceparent(_agentId: string): string | null {
    return null;
  }

  stats(): { exported: number; dropped: Record<string, number> } {
    return { exported: 0, dropped: {} };
  }

  async shutdown(): Promise<void> {
    this.o.logger.debug('tracing shut down');
  }
}
