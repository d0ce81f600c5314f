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
    import('@opentelemetry/api').then(exportsOf),
    import('@opentelemetry/core').then(exportsOf),
    import('@opentelemetry/sdk-trace').then(exportsOf),
    import('@opentelemetry/resources').then(exportsOf),
    import('@opentelemetry/exporter-trace-otlp-http').then(exportsOf),
    import('@opentelemetry/exporter-trace-otlp-proto').then(exportsOf),
  ]);
  return { api, core, sdk, resources, json, proto };
}

/**
 * A package's exports however it was imported: Node gives a CommonJS package's names on the
 * namespace, the bundle (scripts/build.mjs, a CommonJS package in a chunk of its own) only its
 * `default`, the whole `module.exports`; an ES module has no `default` here.
 */
function exportsOf<T extends object>(m: T): T {
  const whole = (m as { default?: unknown }).default;
  return typeof whole === 'object' && whole !== null && !(Object.keys(m).length > 1) ? (whole as T) : m;
}
