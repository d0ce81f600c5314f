import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalQuery, responseCacheKey } from '../../src/domain/reliability/index.js';

describe('response cache key', () => {
  const base = { service: 'linkedin', method: 'GET', path: '/people' };

  it('is stable: query order, method case and JSON key order do not matter', () => {
    const k = responseCacheKey({ ...base, query: 'name=Ada&company=ACME' });
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(responseCacheKey({ ...base, method: 'get', query: { company: 'ACME', name: 'Ada' } })).toBe(k);
    expect(responseCacheKey({ ...base, query: new URLSearchParams('company=ACME&name=Ada') })).toBe(k);
    expect(responseCacheKey({ ...base, method: 'POST', body: { b: [1, { y: 2, x: 1 }], a: 'z' } })).toBe(responseCacheKey({ ...base, method: 'POST', body: { a: 'z', b: [1, { x: 1, y: 2 }] } }));
  });

  it('tells different requests apart', () => {
    const keys = new Set([
      responseCacheKey(base),
      responseCacheKey({ ...base, method: 'POST' }),
      responseCacheKey({ ...base, path: '/people/1' }),
      responseCacheKey({ ...base, service: 'crm' }),
      responseCacheKey({ ...base, query: { name: 'Ada' } }),
      responseCacheKey({ ...base, query: { name: 'Bob' } }),
      responseCacheKey({ ...base, query: 'tag=x&tag=y' }),
      responseCacheKey({ ...base, query: 'tag=y&tag=x' }),
      responseCacheKey({ ...base, body: 'a' }),
      responseCacheKey({ ...base, body: new Uint8Array([1, 2]) }),
      // shifting text from the path into the query must not collide
      responseCacheKey({ ...base, path: '/people?a=1' }),
      responseCacheKey({ ...base, query: 'a=1' }),
    ]);
    expect(keys.size).toBe(12);
  });

  it('tells callers and headers apart, whatever order the headers came in', () => {
    const k = responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-user': 'alice', accept: 'application/json' } });
    expect(responseCacheKey({ ...base, scope: 'agent:a', headers: { accept: 'application/json', 'x-user': 'alice' } })).toBe(k);
    const keys = new Set([
      k,
      responseCacheKey({ ...base, scope: 'agent:b', headers: { 'x-user': 'alice', accept: 'application/json' } }),
      responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-user': 'bob', accept: 'application/json' } }),
      responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-user': 'alice' } }),
      // shifting text between a header's name and value, or between headers, must not collide
      responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-user': 'aliceaccept', accept: '' } }),
      responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-usera': 'lice', accept: 'application/json' } }),
      responseCacheKey({ ...base, scope: 'agent:a', headers: { 'x-user': ['alice', 'bob'], accept: 'application/json' } }),
    ]);
    expect(keys.size).toBe(7);
  });

  it('canonical query and JSON forms', () => {
    expect(canonicalQuery({ b: 2, a: [3, 1], c: undefined, d: null })).toBe('a=3&a=1&b=2');
    expect(canonicalQuery('?z=1&a=2')).toBe('a=2&z=1');
    expect(canonicalJson({ b: 1, a: { d: [true, null], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[true,null]},"b":1}');
  });
});
