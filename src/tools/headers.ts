import type { IncomingHttpHeaders } from 'node:http';

// Which headers cross the proxy, each way.

/** RFC 9110 §7.6.1: they describe one connection, not the message. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Never forwarded upstream: the agent's iron-cage token (Authorization, x-api-key) is ours,
 * not the service's; cookies belong to the iron-cage host the agent talked to; Host, the
 * length and the encoding are set by the proxy for the upstream connection; forwarding
 * headers would describe the agent's machine to a third party.
 */
const DROP_REQUEST = new Set([
  ...HOP_BY_HOP,
  'host',
  'authorization',
  'x-api-key',
  'cookie',
  'content-length',
  'expect',
  'accept-encoding',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'via',
]);

/**
 * Never forwarded back: cookies are scoped to the upstream's domain and mean nothing to the
 * agent talking to iron-cage; the length is recomputed after redaction.
 */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, 'set-cookie', 'content-length']);

/** Our own markers: an agent must not send them upstream, an upstream must not forge them. */
const OWN_PREFIX = 'x-iron-cage-';

/** Kept with a cached answer: enough to interpret the body, nothing tied to the original exchange. */
const CACHED = ['content-type', 'content-language'];

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * Forwarded, but not part of a cache key: they trace or label one request and never change
 * what a service answers. Every other forwarded header is in the key (docs/tools.md, whose cached answer).
 */
const NOT_IN_CACHE_KEY = new Set([
  'traceparent',
  'tracestate',
  'baggage',
  'sentry-trace',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'x-stainless-retry-count',
  'x-request-id',
  'request-id',
  'x-correlation-id',
  'x-amzn-trace-id',
  'x-cloud-trace-context',
  'idempotency-key',
  'date',
]);

/** The agent's own headers that may go upstream (before the service's configured ones). */
function forwardable(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || DROP_REQUEST.has(name) || named.has(name) || name.startsWith(OWN_PREFIX)) continue;
    out[name] = value;
  }
  return out;
}

/** The agent's headers that go upstream, with the service's configured headers on top. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, configured: Record<string, string>): Record<string, string | string[]> {
  const out = forwardable(incoming);
  // The body is buffered and may be scanned and cached: ask for it uncompressed.
  out['accept-encoding'] = 'identity';
  for (const [name, value] of Object.entries(configured)) out[name.toLowerCase()] = value;
  return out;
}

/** The upstream's response headers the agent gets; `decoded`: the body was decompressed here. */
export function agentResponseHeaders(upstream: Record<string, string | string[] | undefined>, decoded: boolean): Record<string, string | string[]> {
  const named = connectionTokens(upstream.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    const key = name.toLowerCase();
    if (value === undefined || DROP_RESPONSE.has(key) || named.has(key) || key.startsWith(OWN_PREFIX)) continue;
    if (decoded && key === 'content-encoding') continue;
    out[key] = value;
  }
  return out;
}

/**
 * The agent's headers that can change the answer, for the cache key: every one it forwards
 * except the tracing labels above. The service's configured headers are left out: they are
 * the same for every agent, and a rotated secret must not orphan what was cached.
 *
 * @example
 * cacheKeyHeaders({ 'x-user': 'alice', traceparent: '00-…', authorization: 'Bearer …' }); // { 'x-user': 'alice' }
 */
export function cacheKeyHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const out = forwardable(incoming);
  for (const name of Object.keys(out)) if (NOT_IN_CACHE_KEY.has(name)) delete out[name];
  return out;
}

export function cachedHeaders(headers: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CACHED) {
    const v = headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
