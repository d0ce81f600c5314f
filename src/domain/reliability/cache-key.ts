import { createHash } from 'node:crypto';

type QueryScalar = string | number | boolean;
export type QueryInput = string | URLSearchParams | Readonly<Record<string, QueryScalar | readonly QueryScalar[] | null | undefined>>;

export interface CacheKeyInput {
  /**
   * Whose answer this is (e.g. `agent:lg-7a3f9c2d`): one caller's cached answer is never
   * served to another, whatever else matches.
   */
  scope?: string;
  service?: string;
  method: string;
  path: string;
  query?: QueryInput | null;
  /** Raw bytes or text are hashed as sent; any other value is hashed as canonical JSON. */
  body?: string | Uint8Array | object | null;
  /**
   * Request headers that can change the answer (the caller picks which; names lower case).
   * Hashed in name order, so the order they were sent in does not split the cache.
   */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>> | null;
}

/**
 * Headers as one string for the key, in name order, each name and value length-prefixed so
 * no header can be shifted into another.
 *
 * @example
 * canonicalHeaders({ 'x-user': 'alice', accept: 'application/json' }); // '6:accept16:application/json6:x-user5:alice'
 */
export function canonicalHeaders(headers: CacheKeyInput['headers']): string {
  if (!headers) return '';
  let out = '';
  for (const name of Object.keys(headers).sort()) {
    const v = headers[name];
    if (v === undefined) continue;
    const value = typeof v === 'string' ? v : v.join('\n');
    out += `${name.length}:${name}${value.length}:${value}`;
  }
  return out;
}

function queryPairs(query: QueryInput | null | undefined): [string, string][] {
  if (query == null) return [];
  if (typeof query === 'string' || query instanceof URLSearchParams) {
    return [...new URLSearchParams(query)];
  }
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value == null) continue;
    for (const v of Array.isArray(value) ? value : [value]) pairs.push([key, String(v)]);
  }
  return pairs;
}

/**
 * Keys sorted so `?b=2&a=1` and `?a=1&b=2` share an entry; repeated keys keep their order
 * (the sort is stable) because `?tag=x&tag=y` may mean something different to the service.
 */
export function canonicalQuery(query: QueryInput | null | undefined): string {
  const pairs = queryPairs(query).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return new URLSearchParams(pairs).toString();
}

/** JSON with object keys sorted at every depth, so key order in a body does not split the cache. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return canonicalJson(json.call(value));
  const entries = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * A stable response-cache key: sha256 over length-prefixed parts, so no choice of scope, path,
 * query, body or headers can make two different requests collide by shifting text between
 * the parts.
 *
 * @example
 * responseCacheKey({ scope: 'agent:lg-1', service: 'crm', method: 'GET', path: 'orders', query: 'id=7', headers: { 'x-user': 'alice' } });
 */
export function responseCacheKey(input: CacheKeyInput): string {
  const hash = createHash('sha256');
  const part = (bytes: string | Uint8Array): void => {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    hash.update(`${buf.length}:`);
    hash.update(buf);
  };
  part(input.scope ?? '');
  part(input.service ?? '');
  part(input.method.toUpperCase());
  part(input.path);
  part(canonicalQuery(input.query));
  const body = input.body;
  if (body == null) part('');
  else if (typeof body === 'string' || body instanceof Uint8Array) part(body);
  else part(canonicalJson(body));
  part(canonicalHeaders(input.headers));
  return hash.digest('hex');
}
