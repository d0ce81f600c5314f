import { describe, expect, it } from 'vitest';
import { checkUsd, MAX_USD, usdAmount, usdInput, usdSchema } from '../../src/core/validation.js';
import { jsonDepth, JsonTooDeepError, MAX_JSON_DEPTH, parseBoundedJson, routeTable } from '../../src/server/index.js';
import { singleHost } from '../../src/server/hosts.js';
import { repairAgentRow, repairSpend } from '../../src/state/runtime/repair.js';
import type { AgentRow } from '../../src/state/schema.js';

// The shared boundary rules on their own; test/security/boundaries.test.ts drives them end to end.

describe('money: checkUsd and the schemas built on it', () => {
  it('turns dollars into whole micro-dollars, floats included', () => {
    expect(checkUsd(12.5)).toBe(12_500_000);
    expect(checkUsd(0.1)).toBe(100_000);
    expect(checkUsd(0.000001)).toBe(1);
    expect(checkUsd(MAX_USD)).toBe(MAX_USD * 1_000_000);
    expect(checkUsd(999_999.999999)).toBe(999_999_999_999);
  });

  it('refuses what would be stored wrong, each with its reason', () => {
    expect(checkUsd(1e300)).toBe('must be at most $1,000,000.00');
    expect(checkUsd(Infinity)).toBe('must be a finite number of dollars');
    expect(checkUsd(Number.NaN)).toBe('must be a finite number of dollars');
    expect(checkUsd(1e-12)).toBe('must have at most 6 decimal places (micro-dollars)');
    expect(checkUsd(0.0000015)).toBe('must have at most 6 decimal places (micro-dollars)');
    expect(checkUsd(0)).toBe('must be more than $0');
    expect(checkUsd(-1)).toBe('must be more than $0');
  });

  it('zero only where a boundary allows it, and a tighter maximum', () => {
    expect(checkUsd(0, { allowZero: true })).toBe(0);
    expect(checkUsd(-1, { allowZero: true })).toBe('must be 0 or more');
    expect(checkUsd(1001, { maxUsd: 1000 })).toBe('must be at most $1,000.00');
    // A looser maximum than MAX_USD is not granted.
    expect(checkUsd(2e6, { maxUsd: 1e9 })).toBe('must be at most $1,000,000.00');
  });

  it('schemas: JSON numbers (usdAmount, usdSchema) and written amounts (usdInput)', () => {
    expect(usdAmount.parse(5)).toBe(5_000_000);
    expect(usdAmount.safeParse('5').success).toBe(false);
    expect(usdAmount.safeParse(Infinity).error?.issues[0]?.message).toBe('must be a finite number of dollars');
    expect(usdSchema({ allowZero: true }).parse(0)).toBe(0);
    expect(usdInput().parse('$1,250.5')).toBe(1_250_500_000);
    expect(usdInput().parse(50)).toBe(50_000_000);
    expect(usdInput().safeParse('$2,000,000').error?.issues[0]?.message).toBe('must be at most $1,000,000.00');
    expect(usdInput().safeParse('0').error?.issues[0]?.message).toMatch(/^must be more than \$0 \(if you typed --budget \$50/);
    expect(usdInput().safeParse('1e300').error?.issues[0]?.message).toMatch(/"1e300" is not an amount in dollars/);
  });
});

describe('JSON depth', () => {
  it('counts nesting without recursion, ignoring brackets in strings and escaped quotes', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":"[["}]}')).toBe(3);
    expect(jsonDepth('["\\"[[[", []]')).toBe(2);
    expect(jsonDepth('['.repeat(1_000_000))).toBe(1_000_000);
    expect(jsonDepth('['.repeat(1_000_000), 10)).toBe(11);
  });

  it('parseBoundedJson: at the limit parses, past it is a 400 that says so', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(() => parseBoundedJson(deep(MAX_JSON_DEPTH))).not.toThrow();
    const err = (() => {
      try {
        parseBoundedJson(deep(MAX_JSON_DEPTH + 1));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(JsonTooDeepError);
    expect(err).toMatchObject({ status: 400, code: 'json_too_deep', message: 'JSON nested deeper than 64 levels' });
    expect(() => parseBoundedJson('{bad')).toThrow(SyntaxError);
  });
});

describe('server tables and headers', () => {
  it('singleHost: one Host header, none, or several', () => {
    expect(singleHost(['Host', 'a:1', 'Accept', '*/*'])).toBe('a:1');
    expect(singleHost(['Accept', '*/*'])).toBeUndefined();
    expect(singleHost(['Host', 'a:1', 'host', 'b:2'])).toBeNull();
  });

  it('routeTable: routes without middleware or duplicates, raw prefixes, the WebSockets', () => {
    const rows = routeTable(
      [
        { method: 'ALL', path: '/api/*' },
        { method: 'GET', path: '/api/x' },
        { method: 'GET', path: '/api/x' },
      ],
      [{ prefix: '/v1/' }],
      [{ path: '/v1/responses' }],
    );
    expect(rows).toEqual([
      { method: 'GET', path: '/api/x', surface: 'rest' },
      { method: '*', path: '/v1/*', surface: 'raw' },
      { method: 'GET', path: '/ws', surface: 'ws' },
      { method: 'GET', path: '/v1/responses', surface: 'ws' },
    ]);
  });
});

describe('stored rows repaired on load', () => {
  const row = (o: Partial<AgentRow>) => ({ id: 'a-1', args: '[]', limitMicros: 5_000_000, ...o }) as AgentRow;
  const repaired = (o: Partial<AgentRow>) => {
    const warnings: string[] = [];
    return { row: repairAgentRow(row(o), (m) => warnings.push(m)), warnings };
  };

  it('leaves a good row alone, silently', () => {
    const good = row({});
    expect(repairAgentRow(good, () => expect.unreachable())).toBe(good);
    expect(repaired({ limitMicros: null }).warnings).toEqual([]);
  });

  it('clamps a limit into $0…$1,000,000 (unreadable → $0) and names the row', () => {
    expect(repaired({ limitMicros: 1e306 }).row.limitMicros).toBe(1e12);
    expect(repaired({ limitMicros: -3 }).row.limitMicros).toBe(0);
    expect(repaired({ limitMicros: 2.5 }).row.limitMicros).toBe(3);
    expect(repaired({ limitMicros: 'lots' as never }).row.limitMicros).toBe(0);
    expect(repaired({ limitMicros: 1e306 }).warnings).toEqual(['agents row "a-1": limit_micros 1e+306 is not a budget between $0 and $1,000,000.00; using $1,000,000.00 until an admin sets it again']);
  });

  it('unreadable args become []', () => {
    for (const args of ['{', '{"a":1}', '[1]']) expect(repaired({ args }).row.args).toBe('[]');
  });

  it('an agent spend that is no safe integer is clamped, with the agent named', () => {
    const warnings: string[] = [];
    expect(repairSpend('a-1', 42, (m) => warnings.push(m))).toBe(42);
    expect(repairSpend('a-1', 1e306, (m) => warnings.push(m))).toBe(Number.MAX_SAFE_INTEGER);
    expect(repairSpend('a-1', -1, (m) => warnings.push(m))).toBe(0);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^llm_requests rows of agent "a-1": cost_micros sum to 1e\+306/);
  });
});
