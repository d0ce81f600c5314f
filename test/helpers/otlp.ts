import type { IncomingHttpHeaders } from 'node:http';
import protobuf from 'protobufjs';
import { serve, type TestServer } from './http.js';

// An OTLP/HTTP trace receiver for tests: POST /v1/traces, protobuf (decoded with the OTLP schema
// below, a subset of opentelemetry/proto's trace and common messages, field numbers as upstream)
// or JSON. Every span lands in `spans`, flattened with its resource's attributes.

const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;

const Request = protobuf.parse(OTLP_PROTO, { keepCase: false }).root.lookupType('otlp.ExportTraceServiceRequest');

/** SpanKind as OTLP numbers it. */
export const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
/** Status codes as OTLP numbers them. */
export const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export type AttrValue = string | number | boolean | AttrValue[] | Record<string, unknown>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** W3C tracestate the span carries ('' when none). */
  traceState: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttrValue>;
  events: Array<{ name: string; timeMs: number; attributes: Record<string, AttrValue> }>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, AttrValue> }>;
  status: { code: number; message: string };
  resource: Record<string, AttrValue>;
}

export interface OtlpReceiver extends TestServer {
  spans: ReceivedSpan[];
  /** Each export request's headers and content type, in order. */
  requests: Array<{ headers: IncomingHttpHeaders; contentType: string }>;
  /** Each export request's body as received (protobuf or JSON bytes), in order: what must not hold a value is searched here. */
  bodies: Buffer[];
  /** Read every request, then hold it open, never answering (a collector that hangs): its spans are not kept. */
  hang: boolean;
}

/**
 * Starts a receiver on 127.0.0.1.
 *
 * @example
 *   const r = await otlpReceiver();
 *   // OTEL_EXPORTER_OTLP_ENDPOINT=r.url … r.spans.find((s) => s.name === 'chat gpt-4o')
 */
export async function otlpReceiver(): Promise<OtlpReceiver> {
  const r = { spans: [] as ReceivedSpan[], requests: [] as OtlpReceiver['requests'], bodies: [] as Buffer[], hang: false };
  const server = await serve((req, res) => {
    void (async () => {
      const contentType = String(req.headers['content-type'] ?? '');
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      r.requests.push({ headers: req.headers, contentType });
      r.bodies.push(body);
      if (r.hang) return;
      const decoded = contentType.includes('json') ? fromJson(JSON.parse(body.toString('utf8'))) : fromProto(body);
      r.spans.push(...decoded);
      const json = contentType.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : Buffer.alloc(0));
    })();
  });
  return Object.assign(r, server);
}

const hex = (b: Uint8Array | string | undefined): string => (b === undefined ? '' : typeof b === 'string' ? b : Buffer.from(b).toString('hex'));
const nanosToMs = (n: unknown): number => Number(BigInt(String(n ?? 0)) / 1000n) / 1000;

function fromProto(body: Buffer): ReceivedSpan[] {
  const msg = Request.toObject(Request.decode(body), { longs: String }) as any;
  return flatten(msg.resourceSpans, (v) => protoValue(v), hex);
}

function protoValue(v: any): AttrValue {
  if (!v) return '';
  // A oneof member is present when it was sent, its default value included.
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(protoValue);
  if (v.kvlistValue !== undefined) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv: any) => [kv.key, protoValue(kv.value)]));
  return '';
}

function fromJson(msg: any): ReceivedSpan[] {
  return flatten(msg.resourceSpans, jsonValue, (s) => (typeof s === 'string' ? s : hex(s)));
}

function jsonValue(v: any): AttrValue {
  if (!v) return '';
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(jsonValue);
  if ('kvlistValue' in v) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv: any) => [kv.key, jsonValue(kv.value)]));
  return '';
}

function flatten(resourceSpans: any[] | undefined, value: (v: any) => AttrValue, id: (b: any) => string): ReceivedSpan[] {
  const attrs = (kvs: any[] | undefined) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, value(kv.value)]));
  const out: ReceivedSpan[] = [];
  for (const rs of resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        out.push({
          traceId: id(s.traceId),
          spanId: id(s.spanId),
          parentSpanId: id(s.parentSpanId),
          traceState: s.traceState ?? '',
          name: s.name,
          kind: Number(s.kind ?? 0),
          startMs: nanosToMs(s.startTimeUnixNano),
          endMs: nanosToMs(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e: any) => ({ name: e.name, timeMs: nanosToMs(e.timeUnixNano), attributes: attrs(e.attributes) })),
          links: (s.links ?? []).map((l: any) => ({ traceId: id(l.traceId), spanId: id(l.spanId), attributes: attrs(l.attributes) })),
          status: { code: Number(s.status?.code ?? 0), message: s.status?.message ?? '' },
          resource,
        });
  }
  return out;
}

/** Every string anywhere in a span (name, attribute values, events', links'), for searching what it must not hold. */
export function spanStrings(s: ReceivedSpan): string[] {
  const out: string[] = [s.name, s.status.message];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(s.attributes);
  for (const e of s.events) walk(e.attributes);
  for (const l of s.links) walk(l.attributes);
  return out;
}
