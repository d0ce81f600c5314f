import { createHash } from 'node:crypto';

type QueryScalar = string | number | boolean;
export type QueryInput =
  | string
  | URLSearchParams
  | Readonly<Record<string, QueryScalar | readonly QueryScalar[] | null | undefined>>;

export interface CacheKeyInput {
  service?: string;
  method: string;
  path: string;
  query?: QueryInput | null;
  /** Raw bytes or text are hashed as sent; any other value is hashed as canonical JSON. */
  body?: string | Uint8Array | object | null;
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
 * A stable response-cache key: sha256 over length-prefixed parts, so no choice of path, query
 * or body can make two different requests collide by shifting text between the parts.
 */
export function responseCacheKey(input: CacheKeyInput): string {
  const hash = createHash('sha256');
  const part = (bytes: string | Uint8Array): void => {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    hash.update(`${buf.length}:`);
    hash.update(buf);
  };
  part(input.service ?? '');
  part(input.method.toUpperCase());
  part(input.path);
  part(canonicalQuery(input.query));
  const body = input.body;
  if (body == null) part('');
  else if (typeof body === 'string' || body instanceof Uint8Array) part(body);
  else part(canonicalJson(body));
  return hash.digest('hex');
}
