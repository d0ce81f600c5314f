// scanEach reads many texts as one (joined by line breaks), so it must find in each text exactly
// what scan() finds in it alone: no value, and no context that decides one, may reach from one
// text into the next, and a line break must read as a text's start or end does. Checked for every
// detector (each type alone, and all together) on the fixtures, texts cut in two and texts built
// to put values, their parts and their context words at the edges.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LATIN_NEVER_FOLDS, mayHoldPii, PII_TYPES, scannerFor, type ScanOptions } from '../../src/domain/pii/index.js';
import { APART, JOINED_LIMIT, joinTexts, textAt } from '../../src/domain/pii/joined.js';
import { expectAtMost, expectEqual, expectIs } from '../helpers/cheap-expect.js';

function rng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

const fixtures = ['labelled', 'heldout', 'disguised'].flatMap((f) =>
  readFileSync(new URL(`../fixtures/pii/${f}.jsonl`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text),
);

// Values, their parts and the words that decide them, to sit at a text's start or end.
const EDGES = [
  '',
  ' ',
  '  ',
  '\u00a0',
  '\t',
  '\n',
  '.',
  ',',
  ':',
  '-',
  '_',
  '(',
  ')',
  '+',
  '/',
  '@',
  '=',
  '"',
  '1',
  '12',
  '123 ',
  '4155550123',
  '415 555 0123',
  '+44 20 7946 0958',
  '590-59-3854',
  '590593854',
  'SSN: ',
  'ssn ',
  'Phone: ',
  'phone',
  'tel ',
  'call me at ',
  'phones: 2125550123, ',
  'order ',
  'version ',
  'aws_secret_access_key = ',
  'secret key: ',
  'AKIA2E0A8F3B244C9986 ',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'sk-',
  'sk_live_',
  'SG.',
  'x.',
  'DE89 3704 0044 0532 0130 00',
  'DE89',
  'GB82 WEST',
  '192.168.0.1',
  '10.0.0.',
  'fe80::1',
  '2001:db8::',
  ':',
  'bob@',
  '@example.com',
  'bob@example.com',
  'A',
  'é',
  '\u200b',
  '４',
  '4111 1111 1111 1111',
  '4111111111111111',
  '2024-01-15',
  '12:30',
  '030/1234567',
  '06 12 34 56 78',
  '(555) 123-4567',
];
const WORDS = fixtures.flatMap((t) => t.match(/\S+(?: \S+){0,2}/g) ?? []);

function edgeTexts(seed: number, count: number): string[] {
  const rnd = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  return Array.from({ length: count }, () => {
    let s = '';
    for (let j = Math.floor(rnd() * 5); j > 0; j--) s += (rnd() < 0.5 ? pick(EDGES) : pick(WORDS)) + (rnd() < 0.3 ? ' ' : '');
    return s;
  });
}

function cutInTwo(seed: number): string[] {
  const rnd = rng(seed);
  return fixtures.flatMap((t) => {
    const at = Math.floor(rnd() * (t.length + 1));
    return [t.slice(0, at), t.slice(at)];
  });
}

// A text of these characters has nothing to fold: the caller may say so (scan's CLI does).
const UNFOLDED = new RegExp(`^[\\t-\\r\\x20-\\x7e${LATIN_NEVER_FOLDS}]*$`);

/** scanEach over runs of 1-40 texts gives what scan gives each text, told which have nothing to fold or not. */
function expectSame(texts: readonly string[], opts: ScanOptions | undefined, seed: number): void {
  const scanner = scannerFor(opts);
  const rnd = rng(seed);
  for (let i = 0; i < texts.length; ) {
    const batch = texts.slice(i, i + 1 + Math.floor(rnd() * 40));
    const want = batch.map((t) => scanner.scan(t));
    expectEqual(scanner.scanEach(batch), want);
    expectEqual(
      scanner.scanEach(
        batch,
        batch.map((t) => UNFOLDED.test(t)),
      ),
      want,
    );
    i += batch.length;
  }
}

const configs: Array<[string, ScanOptions | undefined]> = [
  ['all types', undefined],
  ...PII_TYPES.map((t): [string, ScanOptions] => [t, { types: [t] }]),
  ['allowlists', { allowDomains: ['example.com'], allowValues: ['4155550123'] }],
];

describe('scanEach', () => {
  for (const [name, opts] of configs) {
    it(`finds what scan finds in each text: ${name}`, () => {
      expectSame(fixtures, opts, 1);
      expectSame(cutInTwo(2), opts, 3);
      expectSame(edgeTexts(4, 4000), opts, 5);
    });
  }

  it('reads no context across texts: a phone word, an SSN word or a key name ending one text decides nothing in the next', () => {
    const scanner = scannerFor();
    for (const [before, value] of [
      ['Phone:', '4155550123'],
      ['ssn', '590593854'],
      ['aws_secret_access_key =', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
      ['call me at 415', '555 0123'],
    ] as const) {
      expect(scanner.scan(`${before} ${value}`)).not.toEqual([]);
      expect(scanner.scanEach([before, value])).toEqual([scanner.scan(before), scanner.scan(value)]);
    }
  });

  it('finds a SendGrid key whatever follows its text: no test reads past its value', () => {
    const key = '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';
    const scanner = scannerFor();
    expect(scanner.scan(`key ${key}`).map((d) => d.type)).toEqual(['API_KEY']);
    expect(scanner.scan(`key ${key} See you.`).map((d) => d.value)).toEqual([key]);
    expect(scanner.scanEach([`key ${key}`, 'See you.'])).toEqual([scanner.scan(`key ${key}`), []]);
  });

  it('scans texts with something to fold alone, and keeps their order', () => {
    const texts = ['mail bob@example.org', 'zara.quill\u200b@vexmail.io', '', '٥٣٦-٢٢-٨١٤٧', '4155550123 phone'];
    const scanner = scannerFor();
    expect(scanner.scanEach(texts)).toEqual(texts.map((t) => scanner.scan(t)));
  });
});

describe('joinTexts', () => {
  it('joins texts in order, in pieces within JOINED_LIMIT, a longer text alone and uncopied', () => {
    const long = 'x'.repeat(JOINED_LIMIT + 5);
    const texts = [...fixtures, long, ...fixtures, '', long];
    const pieces = joinTexts(texts);
    expect(pieces.length).toBeGreaterThan(4);
    let next = 0;
    for (const p of pieces) {
      expectIs(p.first, next);
      if (p.count > 1) expectAtMost(p.text.length, JOINED_LIMIT);
      for (let j = 0; j < p.count; j++) {
        expectIs(p.text.slice(p.starts[j], p.starts[j]! + texts[p.first + j]!.length), texts[p.first + j]);
        expectIs(textAt(p, p.starts[j]!), j);
        expectIs(textAt(p, p.starts[j + 1]! - 1), j);
      }
      next += p.count;
    }
    expect(next).toBe(texts.length);
    expect(pieces.filter((p) => p.text === long).map((p) => p.count)).toEqual([1, 1]);
  });

  it('scanEach and mayHoldPii give what each text alone gives when the texts fill many pieces', () => {
    const scanner = scannerFor();
    const texts = [...fixtures, ...cutInTwo(6), 'Phone: 4155550123 '.repeat(4000), ...edgeTexts(7, 3000)];
    expect(texts.join(APART).length).toBeGreaterThan(4 * JOINED_LIMIT);
    expectEqual(
      scanner.scanEach(texts),
      texts.map((t) => scanner.scan(t)),
    );
    const may = mayHoldPii(texts);
    texts.forEach((t, k) => {
      if (scanner.scan(t).length > 0) expectIs(may[k], true);
    });
    expect(may.filter((m) => !m).length).toBeGreaterThan(100);
  });
});
