import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { isLoopbackHost } from '../../src/config/tools.js';
import { tempDir } from '../helpers/runtime.js';

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'x.yaml'), yaml);
    return loadConfig({ configPath: join(dir, 'x.yaml'), env, cwd: dir });
  } finally {
    cleanup();
  }
}

const failure = (yaml: string): string => {
  try {
    load(yaml);
  } catch (e) {
    return (e as Error).message.replace(/^config \S+: /, '');
  }
  throw new Error('expected the config to be refused');
};

describe('tools config', () => {
  it('fills every default and converts units', () => {
    const c = load(`
tools:
  linkedin:
    url: https://api.linkedin.example/v2/
    headers: { X-Api-Key: abc }
    cost_per_call_usd: 0.1
    cache_ttl_s: 600
    placeholder: { name: unknown, source: placeholder }
    breaker:
      failure_threshold: 5
      cooldown_s: 60
      half_open_probes: 2
      failure_rate: { threshold_percent: 50, min_calls: 10, window_calls: 20 }
      failure_statuses: [429]
    retry: { attempts: 3, base_ms: 100 }
  plain:
    url: http://127.0.0.1:9000
`);
    expect(c.tools.linkedin).toMatchObject({
      name: 'linkedin',
      url: 'https://api.linkedin.example/v2',
      headers: { 'X-Api-Key': 'abc' },
      timeoutMs: 10_000,
      costPerCallMicros: 100_000,
      cacheTtlMs: 600_000,
      placeholder: { value: { name: 'unknown', source: 'placeholder' } },
      breaker: {
        failureThreshold: 5,
        cooldownMs: 60_000,
        halfOpenMaxProbes: 2,
        failureRate: { thresholdPercent: 50, minCalls: 10, windowCalls: 20, windowMs: null },
        classify: { failureStatuses: [429], serverErrorsFail: true },
      },
      retry: { attempts: 3, baseMs: 100, maxMs: 8000 },
    });
    expect(c.tools.plain).toMatchObject({ url: 'http://127.0.0.1:9000', headers: {}, placeholder: null, retry: null, cacheTtlMs: 86_400_000, breaker: { failureThreshold: 5, cooldownMs: 60_000 } });
    expect(c.faults).toEqual([]);
    expect(c.allowFaults).toBe(false);
  });

  it('names the key of every mistake, and never echoes a header value', () => {
    expect(failure('tools:\n  linkedin:\n    url: ftp://files.example/x\n')).toBe('tools.linkedin.url: must be an http(s) URL (got ftp:)');
    expect(failure('tools:\n  linkedin:\n    url: not a url\n')).toBe('tools.linkedin.url: must be an http(s) URL');
    expect(failure('tools:\n  linkedin:\n    url: https://user:pw@api.example\n')).toBe('tools.linkedin.url: must not contain credentials; put them in headers');
    expect(failure('tools:\n  linkedin:\n    url: https://api.example/?key=1\n')).toBe('tools.linkedin.url: must not have a query or fragment');
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    timeout: 5\n')).toBe("unknown key 'tools.linkedin.timeout'");
    expect(failure('tools:\n  linkedin:\n    headers: {}\n')).toBe('tools.linkedin.url: expected string');
    expect(failure('tools:\n  "bad name":\n    url: https://api.example\n')).toMatch(/^tools\.bad name: service names must be 1-64 letters/);
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    headers: { Host: evil.example }\n')).toBe('tools.linkedin.headers.Host: is set by the proxy and cannot be configured');
    const secret = 'Bearer sk-live-SECRET\\r\\nX-Evil: 1';
    const msg = failure(`tools:\n  linkedin:\n    url: https://api.example\n    headers: { Authorization: "${secret}" }\n`);
    expect(msg).toBe('tools.linkedin.headers.Authorization: must not contain line breaks or NUL');
    expect(msg).not.toContain('SECRET');
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    cost_per_call_usd: -1\n')).toBe('tools.linkedin.cost_per_call_usd: must be 0 or more');
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    breaker: { failure_threshold: 0 }\n')).toBe('tools.linkedin.breaker.failure_threshold: must be 1 or more');
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    breaker: { failure_rate: { threshold_percent: 50 } }\n')).toBe(
      'tools.linkedin.breaker.failure_rate: needs window_calls (last N calls) or window_s (last T seconds), or both',
    );
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\n    breaker: { failure_statuses: [200] }\n')).toBe('tools.linkedin.breaker.failure_statuses.0: must be 400-599');
  });

  it('checks fault plans against the configured services', () => {
    expect(failure('faults:\n  - service: linkedin\n    status: 429\n')).toBe("faults.0.service: no tool service 'linkedin' is configured (add tools.linkedin)");
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\nfaults:\n  - service: linkedin\n    status: 200\n')).toBe(
      'faults.0.status: must be an HTTP status from 400 to 599, "timeout" or "connection"',
    );
    // A plan from the file is checked here once (the reliability domain trusts what it is given).
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\nfaults:\n  service: linkedin\n')).toMatch(/^faults: /);
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\nfaults:\n  - service: linkedin\n    status: 500\n  - service: linkedin\n    status: x\n')).toMatch(/^faults\.1\.status: /);
    expect(failure('tools:\n  linkedin:\n    url: https://api.example\nfaults:\n  - service: linkedin\n    status: 500\n    from_call: 0\n')).toBe('faults.0.from_call: must be 1 or more');
    const c = load('tools:\n  linkedin:\n    url: https://api.example\nfaults:\n  - service: linkedin\n    from_call: 34\n    duration_s: 30\n    status: timeout\n');
    expect(c.faults).toEqual([{ service: 'linkedin', fromCall: 34, count: null, durationMs: 30_000, status: 'timeout' }]);
  });

  it('knows a loopback bind when it sees one', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'LOCALHOST']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.5', 'example.com', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });
});
