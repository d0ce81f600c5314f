import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jsonTexts, mayHoldPii, redact, redactJsonText, scannerFor, type JsonTexts, type ScanOptions } from '../../src/domain/pii/index.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

// jsonTexts must read a document exactly as the streaming walker (redactJsonText) does, and say
// "not JSON" exactly when JSON.parse would; mayHoldPii may only say false of a text in which a
// scan of its own finds nothing. Both are checked against those references on generated input.

function rng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}
type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const corpus = ['labelled', 'heldout'].flatMap((f) =>
  readFileSync(new URL(`../fixtures/pii/${f}.jsonl`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text),
);

const KEYS = ['phoneNumber', 'ssn', 'email', 'note', 'ip_address', 'version', 'card', 'id', 'a'.repeat(41), 'ke\u0079', 'to 1', '$ref', 'aws_secret_access_key'];
const WORDS = ['4155550123', 'bob@example.org', '590-59-3854', '10.0.0.1', 'v1.2.3.4', 'Dana Whitfield', 'tab\there', 'quote"d', 'back\\slash', 'é ü 😀', '\u2028', ''];

/** A random JSON text: nested values, keys that name PII or not, escapes and spacing of all kinds. */
function randomJson(rnd: Rnd, depth = 0): string {
  const ws = () => pick(rnd, ['', '', ' ', '\n  ', '\t', '\r\n']);
  const str = (s: string) =>
    `"${[...s].map((ch) => (rnd() < 0.15 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : rnd() < 0.1 && ch === '/' ? '\\/' : JSON.stringify(ch).slice(1, -1))).join('')}"`;
  const r = rnd();
  if (depth > 3 || r < 0.35) return str(rnd() < 0.3 ? pick(rnd, corpus) : pick(rnd, WORDS));
  if (r < 0.5) return pick(rnd, ['0', '-1', '4155550123', '590593854', '3.25', '-0.5e+10', '1E3', '123456789012']);
  if (r < 0.55) return pick(rnd, ['true', 'false', 'null']);
  const n = Math.floor(rnd() * 4);
  if (r < 0.75) return `[${ws()}${Array.from({ length: n }, () => ws() + randomJson(rnd, depth + 1) + ws()).join(',')}]`;
  return `{${ws()}${Array.from({ length: n }, () => `${ws()}${str(pick(rnd, KEYS))}${ws()}:${ws()}${randomJson(rnd, depth + 1)}${ws()}`).join(',')}}`;
}

function randomDoc(rnd: Rnd): string {
  const doc = randomJson(rnd);
  return /^\s*[[{"]/.test(doc) ? doc : `[${doc}]`;
}

/** What the proxy treated as a JSON document before jsonTexts: JSON.parse's verdict. */
function parses(text: string): boolean {
  if (!/^\s*[[{"]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The walker's view: each text it scans, with its key context, and its output under `f`. */
function walked(doc: string, f: (s: string) => string) {
  const seen: Array<[string, number]> = [];
  const out = redactJsonText(doc, (context) => {
    let s = '';
    return { push: (t) => ((s += t), ''), end: () => (seen.push([s, context]), f(s)) };
  });
  return { seen, out };
}

/** Each value's text and key context, in document order. */
const valuesOf = (d: JsonTexts) => [...d.ids].map((id) => [d.distinct[id]!, d.contexts[id]!] as [string, number]);
const textsOf = (d: JsonTexts) => [...d.ids].map((id) => d.distinct[id]!);

const hashDigits = (s: string) => s.replace(/[0-9]/g, '#');
const redacted = (s: string) => redact(s).text;

describe('jsonTexts', () => {
  it('reads each value as the walker does and writes the document back the same', () => {
    const rnd = rng(7);
    for (let n = 0; n < 400; n++) {
      const doc = randomDoc(rnd);
      const d = jsonTexts(doc);
      if (d === null) expect(d, doc).not.toBeNull();
      for (const f of [hashDigits, redacted]) {
        const ref = walked(doc, f);
        expectEqual(valuesOf(d!), ref.seen);
        expectIs(d!.rebuild(textsOf(d!).map(f)), ref.out);
        const parsed: unknown = JSON.parse(d!.rebuild(textsOf(d!).map(f)));
        if (parsed === undefined) expect(parsed).toBeDefined();
        // Each text once.
        expectIs(new Set(d!.distinct).size, d!.distinct.length);
      }
    }
  });

  it('gives the document as it came when no value changes, escapes and all', () => {
    const doc = '{"a" : "\\u0041\\/", "n": [1, 2.5e3]}';
    const d = jsonTexts(doc)!;
    expect(d.rebuild([])).toBe('{"a" : "A/", "n": [1, 2.5e3]}'); // canonical once something changes
    expect(d.rebuild(textsOf(d).map((t, k) => (k === 0 ? t : null)))).toBe('{"a" : "A/", "n": [1, 2.5e3]}');
    expect(textsOf(d)).toEqual(['a', 'a: A/', 'n', 'n: 1', 'n: 2.5e3']);
  });

  it('keeps each distinct text once, a value under another key apart', () => {
    const d = jsonTexts('[{"id":1,"to":"a"},{"id":1,"to":"a","cc":"a"}]')!;
    expect(d.distinct).toEqual(['id', 'id: 1', 'to', 'to: a', 'cc', 'cc: a']);
    expect([...d.ids]).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 4, 5]);
    expect(d.contexts).toEqual([0, 4, 0, 4, 0, 4]);
  });

  it('turns a number that holds PII into a string, and leaves it when only the context changed', () => {
    const d = jsonTexts('{"phoneNumber":4155550123,"x":12}')!;
    expect(textsOf(d)).toEqual(['phoneNumber', 'phone number: 4155550123', 'x', 'x: 12']);
    expect(d.rebuild(['phoneNumber', 'phone number: [PHONE_REDACTED]', 'x', 'X: 12'])).toBe('{"phoneNumber":"[PHONE_REDACTED]","x":12}');
  });

  it('says "not JSON" exactly when JSON.parse refuses the text', () => {
    const cases = [
      '',
      ' ',
      '42',
      'true',
      '"a"',
      '"a',
      '{}',
      '[]',
      '{} ',
      '{}{}',
      '[1,]',
      '{"a":1,}',
      '{"a" 1}',
      '{a:1}',
      "{'a':1}",
      '[01]',
      '[1.]',
      '[.5]',
      '[-]',
      '[1e]',
      '[1e+]',
      '["\\x"]',
      '["\\u00g0"]',
      '["a\tb"]',
      '["\\ud800"]',
      '\ufeff{}',
      '\u00a0{}',
      '[tru]',
      '[nul]',
      '[true false]',
      '{"a":1]',
      '[1}',
      ' \n[1]\r\n',
      '{"a":{"b":[]}}',
      '[',
      ']',
      '{"a":',
    ];
    for (const c of cases) {
      const read = jsonTexts(c) !== null;
      const parsed = parses(c);
      if (read !== parsed) expect(read, JSON.stringify(c)).toBe(parsed);
    }
    const rnd = rng(11);
    const noise = '{}[],:" \\0123456789.eE+-tfnlu\n\tabx/';
    for (let n = 0; n < 3000; n++) {
      let doc = randomDoc(rnd);
      for (let m = 1 + Math.floor(rnd() * 3); m > 0; m--) {
        const at = Math.floor(rnd() * (doc.length + 1));
        const op = rnd();
        const ch = pick(rnd, [...noise]);
        doc = op < 0.4 ? doc.slice(0, at) + doc.slice(at + 1) : op < 0.7 ? doc.slice(0, at) + ch + doc.slice(at) : doc.slice(0, at) + ch + doc.slice(at + 1);
      }
      const read = jsonTexts(doc) !== null;
      const parsed = parses(doc);
      if (read !== parsed) expect(read, JSON.stringify(doc)).toBe(parsed);
    }
  });
});

describe('mayHoldPii', () => {
  // Texts built to tempt a neighbour: words that forbid a finding just before it, half values,
  // key context, separators a value could run on with.
  const TEMPTERS = [
    'version',
    'deploy',
    'section 1',
    'http://',
    'https://x.example/',
    'Phone:',
    'SSN',
    'order #',
    'v',
    '12',
    '4155',
    'a-',
    '(',
    '+1',
    'AKIA',
    'aws_secret_access_key',
    'DE89',
    'bob.',
    '@example.org',
    'x ',
    ' ',
    '',
  ];
  const pieces = [...corpus, ...corpus.flatMap((t) => t.split(/(?<=\s)/)), ...TEMPTERS];
  const candidates = (t: string, opts?: ScanOptions) => scannerFor(opts).candidates(t).length > 0;

  for (const [name, opts] of [
    ['the default detectors', undefined],
    ['other regions and allowlists', { phoneRegions: ['FR', 'DE', 'GB', 'JP'], allowDomains: ['example.org'] }],
  ] as Array<[string, ScanOptions | undefined]>) {
    it(`says false only of texts a scan of their own finds nothing in (${name})`, () => {
      const rnd = rng(3);
      let flagged = 0;
      for (let n = 0; n < 60; n++) {
        const texts = Array.from({ length: 200 }, () => {
          const a = pick(rnd, pieces);
          return rnd() < 0.3 ? `${pick(rnd, ['phone', 'ssn', 'ip address', 'version', 'card number'])}: ${a}` : a;
        });
        const flags = mayHoldPii(texts, opts);
        expectIs(flags.length, texts.length);
        texts.forEach((t, k) => {
          if (candidates(t, opts)) expectIs(flags[k], true, t);
          if (flags[k]) flagged++;
        });
      }
      expect(flagged).toBeGreaterThan(0);
    });
  }

  it('says false of every text when nothing in them is PII, and handles none at all', () => {
    expect(mayHoldPii([])).toEqual([]);
    expect(mayHoldPii(['Dana', 'name: Dana Whitfield', 'Toledo', ''])).toEqual([false, false, false, false]);
    expect(mayHoldPii(['Dana', 'dana@example.org', 'Dana', 'dana@example.org'])).toEqual([false, true, false, true]);
  });
});
