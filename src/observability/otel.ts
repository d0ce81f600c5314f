import type * as Api from '@opentelemetry/api';
import type * as Core from '@opentelemetry/core';
import type * as OtlpJson from '@opentelemetry/exporter-trace-otlp-http';
import type * as OtlpProto from '@opentelemetry/exporter-trace-otlp-proto';
import type * as Resources from '@opentelemetry/resources';
import type * as Sdk from '@opentelemetry/sdk-trace';

/** The OpenTelemetry packages tracing uses, loaded together. */
export interface Otel {
  api: typeof Api;
  core: typeof Core;
  sdk: typeof Sdk;
  resources: typeof Resources;
  json: typeof OtlpJson;
  proto: typeof OtlpProto;
}

/**
 * The SDK and both OTLP exporters, imported only when traces are on: loaded at start they cost
 * every process (each CLI command included) about 50 ms and 10 MB for a feature off by default.
 * Type-only imports above, dynamic ones here: the bundle keeps them as `import()`.
 */
export async function loadOtel(): Promise<Otel> {
  const [api, core, sdk, resources, json, proto] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  return { api, core, sdk, resources, json, proto };
}
