import * as z from 'zod';
import { layer, type Keys } from './layer.js';

// The `metrics:` and `traces:` sections. /metrics is on by default; traces are on only when the
// standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables name a
// collector (read by observability/, never here: they are OpenTelemetry's, not ours).

const metricsSection = z.strictObject({
  enabled: z.boolean().optional(),
  /** `loopback`: a scraper on this machine needs no token, any other needs a metrics (or admin) token; `token`: every scrape needs one. */
  auth: z.enum(['loopback', 'token']).optional(),
  max_agents: z.number().int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').optional(),
  /** On a control panel: series one runtime's reported rows may make, and all runtimes' together; past either, folded into `other`. */
  max_series_per_runtime: z.number().int('must be a whole number').min(100, 'must be at least 100').max(1_000_000, 'must be at most 1000000').optional(),
  max_series: z.number().int('must be a whole number').min(1_000, 'must be at least 1000').max(10_000_000, 'must be at most 10000000').optional(),
});

const tracesSection = z.strictObject({
  /** Export prompts and answers on spans (`gen_ai.input.messages`…), PII redacted first. Off by default. */
  capture_content: z.boolean().optional(),
});

export const observabilityFileSchema = { metrics: metricsSection.optional(), traces: tracesSection.optional() };

export interface MetricsConfig {
  /** GET /metrics is served. */
  enabled: boolean;
  auth: 'loopback' | 'token';
  /** Distinct agent names kept as label values; later ones are counted under `other`. */
  maxAgents: number;
  /** On a control panel: series one runtime's rows may make (its histograms' buckets each count); past it, its new combinations are folded into `other`. */
  maxSeriesPerRuntime: number;
  /** On a control panel: series all runtimes' rows may make together. */
  maxSeries: number;
}

export interface TracesConfig {
  captureContent: boolean;
}

export const METRICS_DEFAULTS: MetricsConfig = { enabled: true, auth: 'loopback', maxAgents: 100, maxSeriesPerRuntime: 2_000, maxSeries: 10_000 };
export const TRACES_DEFAULTS: TracesConfig = { captureContent: false };

const METRICS_KEYS: Keys<MetricsConfig, z.output<typeof metricsSection>> = {
  enabled: 'enabled',
  auth: 'auth',
  maxAgents: 'max_agents',
  maxSeriesPerRuntime: 'max_series_per_runtime',
  maxSeries: 'max_series',
};
const TRACES_KEYS: Keys<TracesConfig, z.output<typeof tracesSection>> = { captureContent: 'capture_content' };

export const applyMetrics = (cur: MetricsConfig, l: { metrics?: z.output<typeof metricsSection> }): MetricsConfig => layer(cur, l.metrics, METRICS_KEYS);
export const applyTraces = (cur: TracesConfig, l: { traces?: z.output<typeof tracesSection> }): TracesConfig => layer(cur, l.traces, TRACES_KEYS);
