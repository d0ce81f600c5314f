// The digits a phone pattern can begin with, read from its source (first-digits.ts): never too
// few (a number turned down by its first digit must fail the regex too), and read apart for the
// library's own patterns rather than "every digit".
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ALL_DIGITS, firstDigits, mayBegin } from '../../src/domain/pii/detectors/first-digits.js';
import { phoneLibrary } from '../../src/domain/pii/detectors/phone-library.js';

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
      expect(new RegExp(`^(?:${national})$`).test(example), country).toBe(true);
      for (const source of [national, mobile]) {
        if (new RegExp(`^(?:${source})$`).test(example)) expect(mayBegin(firstDigits(source), example), `${country} ${example} ${source}`).toBe(true);
        patterns++;
        if (firstDigits(source) === ALL_DIGITS) everyDigit++;
      }
    }
    expect(patterns).toBeGreaterThan(400);
    expect(everyDigit).toBeLessThan(patterns / 20);
  });
});
