// The digits a phone pattern can begin with, read from its source (first-digits.ts): never too
// few (a number turned down by its first digit must fail the regex too), and read apart for the
// library's own patterns rather than "every digit".
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ALL_DIGITS, firstDigits, firstDigitsOfAny, mayBegin } from '../../src/domain/pii/detectors/first-digits.js';
import { phoneLibrary } from '../../src/domain/pii/detectors/phone-library.js';
import { expectIs } from '../helpers/cheap-expect.js';

const set = (digits: string) => [...digits].reduce((bits, d) => bits | (1 << Number(d)), 0);

describe('firstDigits', () => {
  it('reads alternations, groups, classes, escapes and quantifiers', () => {
    expect(firstDigits('[2-9]\\d{9}')).toBe(set('23456789'));
    expect(firstDigits('8(?:00|44)\\d{7}|90[0-2]\\d{6}')).toBe(set('89'));
    expect(firstDigits('(?:1)?[2-9]\\d{2}')).toBe(set('123456789'));
    expect(firstDigits('0{0,2}5\\d')).toBe(set('05'));
    expect(firstDigits('(?:0|1{0,1})7')).toBe(set('017'));
    expect(firstDigits('(?:[13]|2\\d)*4')).toBe(set('1234'));
    expect(firstDigits('(0(?:1|5)?)?3')).toBe(set('03'));
    expect(firstDigits('^(?:6[1-9]|7)$')).toBe(set('67'));
    expect(firstDigits('\\d')).toBe(ALL_DIGITS);
    expect(firstDigits('[+]?1')).toBe(set('1'));
    expect(firstDigits('\\+1')).toBe(0); // a '+' begins it, which no digit string has
  });

  it('answers every digit for syntax it does not take apart', () => {
    for (const source of ['(?=1)2', '(\\d)\\1', '[^0]1', '.1', '\\D?1', '(?<n>1)', '1)', '[1', '(1', '1{x}', '\\w1']) expect(firstDigits(source), source).toBe(ALL_DIGITS);
  });

  it('lets an empty string through, whatever the set', () => {
    expect(mayBegin(0, '')).toBe(true);
    expect(mayBegin(set('2'), '2')).toBe(true);
    expect(mayBegin(set('2'), '3')).toBe(false);
  });

  it("holds every country's example mobile number, and reads every country's patterns apart", () => {
    const { core, metadata } = phoneLibrary();
    const examples = createRequire(import.meta.url)('libphonenumber-js/examples.mobile.json') as Record<string, string>;
    let everyDigit = 0; // a few patterns do begin with any digit (AC, ID, JP, …)
    let patterns = 0;
    for (const [country, example] of Object.entries(examples)) {
      const m = new core.Metadata(metadata);
      m.selectNumberingPlan(country as never);
      const plan = m.numberingPlan as unknown as { nationalNumberPattern(): string; type(t: string): { pattern(): string } | undefined };
      const national = plan.nationalNumberPattern();
      const mobile = plan.type('MOBILE')?.pattern() ?? national;
      // The example is a valid number of the country: its national pattern matches it.
      expectIs(new RegExp(`^(?:${national})$`).test(example), true, country);
      for (const source of [national, mobile]) {
        if (new RegExp(`^(?:${source})$`).test(example)) expectIs(mayBegin(firstDigits(source), example), true, `${country} ${example} ${source}`);
        patterns++;
        if (firstDigits(source) === ALL_DIGITS) everyDigit++;
      }
    }
    expect(patterns).toBeGreaterThan(400);
    expect(everyDigit).toBeLessThan(patterns / 20);
  });

  it('reads as the first reader did (closures and a regex per quantifier, kept here), and an alternation as its parts', () => {
    const { core, metadata } = phoneLibrary();
    const m = new core.Metadata(metadata) as unknown as { selectNumberingPlan(c: string): void; numberingPlan: unknown };
    const types = ['FIXED_LINE', 'MOBILE', 'TOLL_FREE', 'PREMIUM_RATE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL'];
    const byCode = new Map<string, string[]>();
    let sources = 0;
    for (const country of Object.keys((metadata as unknown as { countries: object }).countries)) {
      m.selectNumberingPlan(country);
      const plan = m.numberingPlan as {
        nationalNumberPattern(): string;
        nationalPrefixForParsing(): string | undefined;
        IDDPrefix(): string | undefined;
        callingCode(): string;
        type(t: string): { pattern(): string } | undefined;
      };
      const own = [plan.nationalNumberPattern(), plan.nationalPrefixForParsing() ?? '', plan.IDDPrefix() ?? '', ...types.map((t) => plan.type(t)?.pattern() ?? '')].filter(
        (x): x is string => typeof x === 'string' && x !== '',
      );
      for (const source of own) {
        expectIs(firstDigits(source), reference(source), source);
        sources++;
      }
      const family = byCode.get(plan.callingCode()) ?? [];
      family.push(...types.flatMap((t) => (plan.type(t) ? [`^(?:${plan.type(t)!.pattern()})$`] : [])));
      byCode.set(plan.callingCode(), family);
    }
    expect(sources).toBeGreaterThan(1000);
    for (const [code, family] of byCode) expectIs(firstDigitsOfAny(family), reference(family.join('|')), code);
    // Random patterns over the syntax it reads and some it does not.
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const parts = ['0', '1', '5', '9', '[2-9]', '[0-57]', '\\d', '(?:', '(', ')', '|', '?', '*', '+', '{2}', '{0,3}', '{1,}', '{0}', '^', '$', '\\+', '[^1]', '\\D', '.', '(?=', '[', ']', '{x}', 'a'];
    for (let i = 0; i < 20000; i++) {
      const source = Array.from({ length: 1 + rnd(8) }, () => parts[rnd(parts.length)]).join('');
      expectIs(firstDigits(source), reference(source), source);
    }
  });
});

/** The reader as first written (before it was made faster), for the test above. */
function reference(source: string): number {
  class Unsure extends Error {}
  let at = 0;
  let nullable = false;
  const isDigitChar = (c: string) => c >= '0' && c <= '9';
  function alternation(): number {
    let first = 0;
    let empty = false;
    for (;;) {
      first |= sequence();
      empty ||= nullable;
      if (source[at] !== '|') break;
      at++;
    }
    nullable = empty;
    return first;
  }
  function sequence(): number {
    let first = 0;
    let empty = true;
    while (at < source.length && source[at] !== '|' && source[at] !== ')') {
      const f = quantified();
      if (empty) first |= f;
      empty &&= nullable;
    }
    nullable = empty;
    return first;
  }
  function quantified(): number {
    const first = atom();
    let empty = nullable;
    for (;;) {
      const c = source[at];
      if (c === '?' || c === '*') {
        empty = true;
        at++;
      } else if (c === '+') {
        at++;
      } else if (c === '{') {
        const m = /^\{(\d+)(?:,\d*)?\}/.exec(source.slice(at));
        if (m === null) throw new Unsure();
        if (Number(m[1]) === 0) empty = true;
        at += m[0].length;
      } else {
        break;
      }
      if (source[at] === '?') at++;
    }
    nullable = empty;
    return first;
  }
  function atom(): number {
    const c = source[at]!;
    nullable = false;
    if (c === '(') {
      at++;
      if (source.startsWith('?:', at)) at += 2;
      else if (source[at] === '?') throw new Unsure();
      const first = alternation();
      if (source[at] !== ')') throw new Unsure();
      at++;
      return first;
    }
    if (c === '[') return characterClass();
    if (c === '\\') {
      const e = source[at + 1];
      at += 2;
      if (e === 'd') return ALL_DIGITS;
      if (e === undefined || /[0-9A-Za-z]/.test(e)) throw new Unsure();
      return 0;
    }
    if (c === '^' || c === '$') {
      at++;
      nullable = true;
      return 0;
    }
    if (c === '.' || c === ')' || c === '|' || c === '*' || c === '+' || c === '?' || c === '{') throw new Unsure();
    at++;
    return isDigitChar(c) ? 1 << (c.charCodeAt(0) - 48) : 0;
  }
  function characterClass(): number {
    at++;
    if (source[at] === '^') throw new Unsure();
    let first = 0;
    while (source[at] !== ']') {
      const c = source[at];
      if (c === undefined) throw new Unsure();
      if (c === '\\') {
        if (source[at + 1] !== 'd') throw new Unsure();
        first = ALL_DIGITS;
        at += 2;
        continue;
      }
      if (source[at + 1] === '-' && source[at + 2] !== ']' && source[at + 2] !== undefined) {
        const hi = source[at + 2]!;
        if (hi === '\\') throw new Unsure();
        for (let d = 0; d <= 9; d++) if (c.charCodeAt(0) <= 48 + d && 48 + d <= hi.charCodeAt(0)) first |= 1 << d;
        at += 3;
        continue;
      }
      if (isDigitChar(c)) first |= 1 << (c.charCodeAt(0) - 48);
      at++;
    }
    at++;
    return first;
  }
  try {
    const first = alternation();
    return at === source.length ? first : ALL_DIGITS;
  } catch (e) {
    if (e instanceof Unsure) return ALL_DIGITS;
    throw e;
  }
}
