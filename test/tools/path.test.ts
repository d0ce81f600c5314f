import { describe, expect, it } from 'vitest';
import { agentResponseHeaders, upstreamRequestHeaders } from '../../src/tools/headers.js';
import { parseToolUrl, upstreamUrl } from '../../src/tools/index.js';

const target = (url: string) => {
  const p = parseToolUrl(url);
  if (!p.ok) throw new Error(p.message);
  return p.target;
};

describe('tool paths', () => {
  it('splits service, path and query as written', () => {
    expect(target('/tools/linkedin/people/search?b=2&a=1')).toEqual({ service: 'linkedin', rest: 'people/search', query: 'b=2&a=1' });
    expect(target('/tools/linkedin')).toEqual({ service: 'linkedin', rest: '', query: '' });
    expect(target('/tools/linkedin/?x=1')).toEqual({ service: 'linkedin', rest: '', query: 'x=1' });
    expect(target('/tools/gitlab/projects/group%2Fproject/issues/')).toEqual({ service: 'gitlab', rest: 'projects/group%2Fproject/issues/', query: '' });
  });

  it('builds URLs under the base only', () => {
    const base = 'https://api.example.com/v2';
    expect(upstreamUrl(base, target('/tools/s/people/1?q=a%20b'))!.href).toBe('https://api.example.com/v2/people/1?q=a%20b');
    expect(upstreamUrl(base, target('/tools/s'))!.href).toBe('https://api.example.com/v2');
    expect(upstreamUrl('http://127.0.0.1:9', target('/tools/s/x'))!.href).toBe('http://127.0.0.1:9/x');
    // Should anything slip past the checks, the built URL is checked again.
    expect(upstreamUrl(base, { service: 's', rest: '%2e%2e/admin', query: '' })).toBeNull();
    expect(upstreamUrl(base, { service: 's', rest: '/evil.example/x', query: '' })!.host).toBe('api.example.com');
    expect(upstreamUrl('https://api.example.com', { service: 's', rest: '@evil.example', query: '' })!.host).toBe('api.example.com');
  });

  it('explains each refusal', () => {
    const why = (url: string) => {
      const p = parseToolUrl(url);
      return p.ok ? 'accepted' : p.message;
    };
    expect(why('/tools/')).toBe('name the service: /tools/<service>/<path>');
    expect(why('/tools/a%20b/x')).toMatch(/is not a service name/);
    expect(why('/tools/s/../x')).toMatch(/'\.\.' segments are not allowed/);
    expect(why('/tools/s/%252e%252e/x')).toMatch(/'\.\.' segments are not allowed/);
    // Decoded until stable, however many times; `;params` do not hide a dot segment.
    expect(why('/tools/s/%252525252e%252525252e/x')).toMatch(/'\.\.' segments are not allowed/);
    expect(why('/tools/s/..;/x')).toMatch(/'\.\.' segments are not allowed/);
    // What an upstream that decodes then cuts (`?`, `#`) or trims sees as `..`, and `//` spelt encoded.
    for (const p of ['/tools/s/..%3f/x', '/tools/s/..%23', '/tools/s/..%20/x', '/tools/s/a/..%c2%a0']) expect(why(p), p).toMatch(/'\.\.' segments are not allowed/);
    for (const p of ['/tools/s/%2f%2fevil.com/x', '/tools/s/a/%2fb', '/tools/s/a%2f%2fb']) expect(why(p), p).toMatch(/empty path segments/);
    expect(why('/tools/s/a/.;jsessionid=1/x')).toMatch(/'\.\.' segments are not allowed/);
    expect(why('/tools/s/%2e%2e%3bx/y')).toMatch(/'\.\.' segments are not allowed/);
    expect(why('/tools/s/v1.2;rev=3/a..b')).toBe('accepted');
    expect(why('/tools/s//h/x')).toMatch(/empty path segments/);
    expect(why('/tools/s/javascript:alert(1)')).toMatch(/absolute URLs/);
    expect(why('/tools/s/a\\b')).toMatch(/backslashes/);
    expect(why('/tools/s/%E0%A4%A')).toMatch(/malformed percent-encoding/);
    expect(why('/tools/s/a%0d%0aX:1')).toMatch(/control characters/);
    expect(why('/tools/s/users/@me')).toBe('accepted');
    expect(why('/tools/s/v1/projects/p:batch')).toBe('accepted');
  });
});

describe('headers across the proxy', () => {
  it('keeps the agent token, cookies and connection headers from the upstream; config wins', () => {
    const out = upstreamRequestHeaders(
      {
        authorization: 'Bearer agent-token',
        'x-api-key': 'agent-token',
        cookie: 'sid=1',
        host: '127.0.0.1:8080',
        connection: 'keep-alive, x-hop',
        'x-hop': 'per-connection',
        'accept-encoding': 'gzip',
        'x-iron-cage-tier': 'spoof',
        'x-trace': 't1',
        'X-Key': undefined,
      },
      { 'X-Key': 'configured', 'x-trace': 'from-config' },
    );
    expect(out).toEqual({ 'accept-encoding': 'identity', 'x-key': 'configured', 'x-trace': 'from-config' });
  });

  it('drops cookies, framing and forged markers from the answer', () => {
    const upstream = { 'content-type': 'application/json', 'set-cookie': ['a=1'], 'content-length': '10', 'x-iron-cage-tier': 'cache', 'content-encoding': 'gzip', etag: '"1"' };
    expect(agentResponseHeaders(upstream, true)).toEqual({ 'content-type': 'application/json', etag: '"1"' });
    expect(agentResponseHeaders(upstream, false)).toEqual({ 'content-type': 'application/json', 'content-encoding': 'gzip', etag: '"1"' });
  });
});
