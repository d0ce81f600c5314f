import { describe, expect, it } from 'vitest';
import { guardRedactor, redactResponse, type ToolPiiGuard } from '../../src/tools/index.js';
import { redact, redactJsonText, type SafetyMode } from '../../src/domain/pii/index.js';
import { expectEqual } from '../helpers/cheap-expect.js';

// A tool answer's values are scanned together first and only those that may hold PII one by
// one. The results must be what scanning every value on its own gives: the reference below is
// that, string by string through the streaming walker, JSON told apart by JSON.parse.

const parses = (text: string): boolean => {
  if (!/^\s*[[{"]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** Every value scanned on its own: the text out, the findings, each scan's (text, context). */
function reference(text: string, ndjson: boolean, scanOne: (s: string, context: number) => { text: string; n: number }) {
  let n = 0;
  let changed = false;
  const calls: Array<[string, number]> = [];
  const one = (s: string, context: number) => {
    calls.push([s, context]);
    const r = scanOne(s, context);
    n += r.n;
    if (r.text !== s) changed = true;
    return r.text;
  };
  const json = (doc: string) =>
    redactJsonText(doc, (context) => {
      let s = '';
      return { push: (t) => ((s += t), ''), end: () => one(s, context) };
    });
  const out = parses(text)
    ? json(text)
    : ndjson
      ? text
          .split('\n')
          .map((l) => (parses(l) ? json(l) : one(l, 0)))
          .join('\n')
      : one(text, 0);
  return { text: changed ? out : text, n, calls };
}

const modeScan = (mode: SafetyMode) => (s: string) => {
  const r = redact(s, { policy: { mode } });
  return { text: r.text, n: r.detections.length };
};

/** A page of a list API: short records, an address in one record of fifty, a phone under its key. */
function listPage(records: number): string {
  const items = Array.from({ length: records }, (_, i) => ({
    id: 9000 + i,
    name: ['Dana Whitfield', 'Lee Okafor', 'Yuki Rossi'][i % 3],
    active: i % 2 === 0,
    score: ((i * 7) % 100) / 4,
    ...(i % 50 === 3 ? { email: `lee.${i}@example.org` } : {}),
    ...(i % 70 === 5 ? { phoneNumber: 4155550100 + i, note: `call \\u0034155550123 or "x"` } : {}),
  }));
  return JSON.stringify({ page: 1, items, next: null });
}

const NDJSON = `{"to":"bob\\u0040example.org"}\nnot json bob@example.org\n{"phoneNumber":4155550123}\n\n{"a":"\\u0041"}\n[1,2`;

describe('the tool response redactor, values scanned together', () => {
  const bodies: Array<[string, string, string]> = [
    ['a list page', listPage(400), 'application/json'],
    ['a list page, untyped', listPage(120), ''],
    ['NDJSON', NDJSON, 'application/x-ndjson'],
    ['a clean document with escapes', '{"a":"\\u0041","b":[1,true,null]}', 'application/json'],
    ['text', 'owner bob@example.org, phone 415 555 0123', 'text/plain'],
  ];

  it.each(bodies)('gives what scanning each value alone gives: %s', (_name, text, type) => {
    for (const mode of ['redact', 'warn', 'block'] as const) {
      const body = Buffer.from(text);
      const r = redactResponse(mode)(body, type, null);
      const ref = reference(text, type.includes('ndjson'), modeScan(mode));
      expect(r.body.toString()).toBe(ref.text);
      expect(r.redactions).toBe(ref.n);
      expect(r.blocked !== null).toBe(mode === 'block' && ref.n > 0);
      // Warn: the answer's own bytes.
      if (mode === 'warn') expect(r.body).toBe(body);
    }
  });

  it('asks the guard only about values that hold PII, with their key context, in document order', () => {
    const text = listPage(300);
    const calls: Array<[string, number]> = [];
    const guard = (options: ToolPiiGuard['options']): ToolPiiGuard => ({
      inspect: (_agent, _where, t, _ref, context = 0) => {
        calls.push([t, context]);
        const r = redact(t, { policy: { mode: 'redact' } });
        return { text: r.text, redactions: r.detections.length, block: null };
      },
      unreadable: () => null,
      ...(options ? { options } : {}),
    });
    const ref = reference(text, false, modeScan('redact'));
    const withFindings = ref.calls.filter(([t]) => redact(t).detections.length > 0);
    expect(withFindings.length).toBeGreaterThan(10);
    expect(withFindings).toContainEqual([`phone number: ${4155550100 + 5}`, 'phone number: '.length]);

    const r = guardRedactor(guard({}), 'crm')(Buffer.from(text), 'application/json', 'a-1');
    expect(r.body.toString()).toBe(ref.text);
    expect(calls.filter(([t]) => redact(t).detections.length > 0)).toEqual(withFindings);
    expect(calls.length).toBeLessThan(ref.calls.length / 10);

    // A guard that does not say what its detectors are: every value goes to it, as before.
    calls.length = 0;
    expect(guardRedactor(guard(undefined), 'crm')(Buffer.from(text), 'application/json', 'a-1').body.toString()).toBe(ref.text);
    expectEqual(calls, ref.calls);
  });
});
