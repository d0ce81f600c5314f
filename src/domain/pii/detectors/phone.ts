import type { CountryCode } from 'libphonenumber-js/core';
import { ValidationError } from '../../../core/errors.js';
import { isDigit } from '../chars.js';
import { internationalVerdict, nationalValid, printedGroups } from './phone-plan.js';
import { phoneWordBefore } from './phone-context.js';
import { isPhoneCountry, phoneLibrary } from './phone-library.js';
import { partOfLongerRun, knownNonPhoneShape, saidBefore, type DigitShape } from './shape.js';

// The numeric scanner finds phone-shaped digit groups cheaply; libphonenumber's metadata
// (full, loaded on first use by phone-library.ts, compiled once per country in phone-plan.ts) decides whether the digits form a number some
// country actually assigns.

// Digits after these words are identifiers, even when they happen to look like a number.
const ID_WORDS = /\b(?:order|invoice|tracking|shipment|ticket|case|ref|reference|account|acct|sku|serial|isbn|po|id|no)\b[^0-9]{0,16}$/;

export function toRegions(regions: readonly string[]): CountryCode[] {
  return regions.map((r) => {
    const code = r.toUpperCase();
    if (!isPhoneCountry(code)) throw new ValidationError(`phone region '${r}' is not a known ISO 3166 country code`);
    return code;
  });
}

/** 0.95 for an assigned number written with its country code, down to 0.7 for bare digits after "Phone:"; 0 for no phone. */
export function phoneConfidence(s: DigitShape, regions: readonly CountryCode[]): number {
  const n = s.digits.length;
  if (n < 8 || n > 17) return 0;
  // `at 10:30 2125550123`: a run that begins with a time's minutes is no phone (`Tel1:+49 …`,
  // `Phone 2:212-555-0123` and `2:(212) 555-0123` begin with a number of their own).
  if (minutesFirst(s)) return 0;
  // `030/1234567`: a slash only ever follows a national area code with its trunk 0.
  const slash = s.joins.indexOf('/');
  if (slash !== -1) {
    if (slash !== 0 || s.joins.indexOf('/', 1) !== -1 || s.plus || s.digits[0] !== '0' || n > 12 || knownNonPhoneShape(s)) return 0;
    return validNational(s, regions, null) ? 0.8 : 0;
  }
  if (s.plus) {
    if (n > 15) return 0; // E.164 has at most 15 digits
    if (s.groups[0] === 1 && s.digits[0] === '1' && nanpShape(s.groups.slice(1), s.digits.slice(1))) return 0.9;
    // A country code and a few digit groups are written as a phone number even when the range
    // is unassigned (+44 7700 900123 is reserved for drama): then the length must fit the
    // country. Longer lists of small groups (+20 21 22 23 24 25) need a valid number.
    return international(s.digits, s.groups.length > 1 && s.groups.length <= 5 && !partOfLongerRun(s.text, s.start, s.end));
  }
  // `201.824894574`, `1234.56789012`: one dot between two runs of digits is a decimal point (a
  // timestamp, a measurement, a JSON number), whichever country's plan its digits happen to fit
  // (0201 824894574 is a German number); only a phone word before it makes it a phone.
  if (s.groups.length === 2 && s.joins === '.' && !phoneWordBefore(s.text, s.start)) return 0;
  // 0044 20 7946 0958: the international prefix written as digits.
  if (s.groups.length > 1 && s.digits.startsWith('00') && n >= 10 && n <= 17 && international(s.digits.slice(2), false) > 0) return 0.85;
  if (nanpShape(s.groups, s.digits)) return 0.9;
  if (s.groups.length === 1) {
    // A bare run of digits is an order number as often as a phone: only with a phone word before
    // it. Then any national number of a default region counts: 0612345678 (FR), 512345678 (PL).
    if (n > 12 || !phoneWordBefore(s.text, s.start)) return 0;
    if (nanpDigits(s.digits)) return 0.7;
    return n >= 9 && validNational(s, regions, null) ? 0.7 : 0;
  }
  // Other countries' national formats are the weakest evidence: no ISBN-like single digits,
  // no dates, the whole run of groups and not part of it, not after "order" or "case no.".
  if (n < 9 || n > 12 || partOfLongerRun(s.text, s.start, s.end) || knownNonPhoneShape(s)) return 0;
  if (s.groups.some((g, i) => g === 1 && i !== s.paren)) return 0;
  if (saidBefore(s, ID_WORDS) && !phoneWordBefore(s.text, s.start)) return 0;
  // With a trunk 0 (020 7946 0958) or a bracketed area code ((11) 91234-5678) validity is enough;
  // without (612 34 56 78), the grouping must also be the one that country prints.
  const trunk = s.digits[0] === '0' || s.paren === 0;
  return validNational(s, regions, trunk ? null : s.groups) ? (trunk ? 0.8 : 0.75) : 0;
}

// How each written layout is printed comes from the compiled print formats (the library's
// formatter only where none applies), for numbers already found valid; remembered within one scan (a text
// repeats its numbers: a contact in every message of a thread, a signature). Scans are
// synchronous, so a map emptied when each scan ends (numeric.ts) is a per-scan memo, and no
// customer's number stays in memory after the scan that read it.
const printedAs = new Map<string, boolean>();
const MAX_REMEMBERED = 4096;

/** Ends a scan's memo of phone verdicts. */
export function forgetPhoneVerdicts(): void {
  if (printedAs.size > 0) printedAs.clear();
}

function international(digits: string, possibleIsEnough: boolean): number {
  const verdict = internationalVerdict(digits);
  if (verdict === 'valid') return 0.95;
  return possibleIsEnough && verdict === 'possible' ? 0.75 : 0;
}

function validNational(s: DigitShape, regions: readonly CountryCode[], groupsAsWritten: readonly number[] | null): boolean {
  for (const region of regions) {
    if (!nationalValid(s.digits, region)) continue;
    if (groupsAsWritten === null || printedLikeThis(s.text.slice(s.start, s.end), s.digits, region, groupsAsWritten)) return true;
  }
  return false;
}

/** The library's national print of `raw`, as group lengths, without a trunk 0 that `raw` leaves out. */
function libraryPrinted(raw: string, region: CountryCode): number[] {
  const { core, metadata } = phoneLibrary();
  const national = core.parsePhoneNumberFromString(raw, { defaultCountry: region, extract: false }, metadata)?.formatNational() ?? '';
  const printed = (national.match(/\d+/g) ?? []).map((g) => g.length);
  // India and others print a trunk 0 that people leave out when writing: 98935 17460.
  if (printed.length > 0 && national.replace(/\D/g, '').startsWith('0') && raw[0] !== '0') printed[0]!--;
  return printed;
}

function printedLikeThis(raw: string, digits: string, region: CountryCode, groupsAsWritten: readonly number[]): boolean {
  const key = `${region}${raw}`;
  let same = printedAs.get(key);
  if (same === undefined) {
    same = (printedGroups(digits, region) ?? libraryPrinted(raw, region)).join(',') === groupsAsWritten.join(',');
    if (printedAs.size >= MAX_REMEMBERED) printedAs.clear();
    printedAs.set(key, same);
  }
  return same;
}

/**
 * North American layout: (NPA) NXX-XXXX with an optional leading 1, area code starting 2-9.
 * We deliberately do not require the number to be assigned: 555 numbers are what people
 * write in examples and fiction, and they are still shaped and used as phone numbers.
 */
function nanpShape(groups: readonly number[], digits: string): boolean {
  const [a, b, c, d] = groups;
  if (groups.length === 3) return a === 3 && b === 3 && c === 4 && digits.charCodeAt(0) >= 50;
  if (groups.length === 4) return a === 1 && b === 3 && c === 3 && d === 4 && digits[0] === '1' && digits.charCodeAt(1) >= 50;
  return false;
}

function nanpDigits(digits: string): boolean {
  if (digits.length === 11 && digits[0] === '1') return digits.charCodeAt(1) >= 50;
  return digits.length === 10 && digits.charCodeAt(0) >= 50;
}

/** The run begins with two digits right after `h:` or `hh:`, as a time's minutes do. */
function minutesFirst(s: DigitShape): boolean {
  const t = s.text;
  const at = s.start;
  if (s.plus || s.paren === 0 || s.groups[0] !== 2 || t.charCodeAt(at - 1) !== 58 || !isDigit(t.charCodeAt(at - 2))) return false;
  return !(isDigit(t.charCodeAt(at - 3)) && isDigit(t.charCodeAt(at - 4)));
}
