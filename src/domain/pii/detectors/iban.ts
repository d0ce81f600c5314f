import { isAlpha, isDigit, runsOn, softSpaceAt } from '../chars.js';
import type { Candidate } from './candidate.js';

// IBAN length by country (SWIFT IBAN registry). The length is fixed per country, so we read
// exactly that many characters instead of guessing where the number ends.
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};

// A country code and check digits at the start of a word (no letter or digit before, nor '_' but
// markdown emphasis: chars.ts runsOnBefore). In either case: people type an IBAN in lower case
// too (`de89 3704 0044 0532 0130 00`), in its groups of four (readIban: a run of lower-case hex or
// base62 of an IBAN's length is a machine's id at least as often, and one in 97 passes mod-97).
// The character before is matched, not looked behind at (V8 tried a leading look-behind at every
// character of the text: the detector 5-7% slower), and what one to three '_' before it follow is read behind
// them; a code at the text's first character, with nothing before it, is PREFILTER_FIRST's.
const PREFILTER = /(?:[^A-Za-z0-9_]|_(?<![A-Za-z0-9]_{1,3}|_{4}))[A-Za-z]{2}[0-9]{2}/g;
const PREFILTER_FIRST = /[A-Za-z]{2}[0-9]{2}/y;

/** Where the next country code and check digits at the start of a word begin, at or after `i`; -1 when none does. */
export function nextCode(text: string, i: number): number {
  if (i === 0) {
    PREFILTER_FIRST.lastIndex = 0;
    if (PREFILTER_FIRST.test(text)) return 0;
  }
  // From the character before `i`, which a code at `i` matches with it.
  PREFILTER.lastIndex = i === 0 ? 0 : i - 1;
  return PREFILTER.test(text) ? PREFILTER.lastIndex - 4 : -1;
}

// IBAN_LENGTH by the country code's two letters (a-z each, case folded), 0 for no country: read without a slice.
const LENGTH_BY_CODE = new Uint8Array(26 * 26);
for (const [code, length] of Object.entries(IBAN_LENGTH)) LENGTH_BY_CODE[letterAt(code, 0) * 26 + letterAt(code, 1)] = length;

/** The letter at `i` as 0..25, either case. */
function letterAt(text: string, i: number): number {
  return (text.charCodeAt(i) | 0x20) - 97;
}

/** ISO 13616 check: move the first four characters to the end, read letters (either case) as 10..35, mod 97 must be 1. */
export function ibanChecksumOk(iban: string): boolean {
  const s = iban.slice(4) + iban.slice(0, 4);
  let r = 0;
  for (let i = 0; i < s.length; i++) r = mod97(r, s.charCodeAt(i));
  return r === 1;
}

export function detectIbans(text: string, out: Candidate[], from = 0): void {
  for (let at = nextCode(text, from); at !== -1; ) {
    const length = LENGTH_BY_CODE[letterAt(text, at) * 26 + letterAt(text, at + 1)]!;
    if (length === 0) {
      at = nextCode(text, at + 1);
      continue;
    }
    const end = readIban(text, at, length);
    if (end < 0) {
      at = nextCode(text, at + 4);
      continue;
    }
    out.push({ type: 'IBAN', start: at, end, confidence: 0.95 });
    at = nextCode(text, end);
  }
}

/** Reads `length` characters, either unbroken or printed in groups of four; returns the end or -1. */
function readIban(text: string, at: number, length: number): number {
  let count = 0;
  let spaces = 0;
  let lower = false;
  let i = at;
  while (count < length && i < text.length) {
    const c = text.charCodeAt(i);
    if (isAlpha(c) || isDigit(c)) {
      lower ||= c >= 97;
      count++;
      i++;
    } else if (c === 32 && count % 4 === 0 && softSpaceAt(text, i) && i + 1 < text.length) {
      spaces++;
      i++;
    } else {
      break;
    }
  }
  if (count < length || runsOn(text, i)) return -1;
  if (spaces !== 0 && spaces !== Math.floor((length - 1) / 4)) return -1;
  // Written whole, an IBAN is in capitals: a lower-case run of its length is an id (span ids, hashes).
  if (lower && spaces === 0) return -1;
  return checksumIn(text, at, i) ? i : -1;
}

/** ibanChecksumOk on the characters of text[at, end) but its spaces, read in place (no string built). */
function checksumIn(text: string, at: number, end: number): boolean {
  // The first four characters (country and check digits) have no space among them.
  let r = 0;
  for (let i = at + 4; i < end; i++) r = mod97(r, text.charCodeAt(i));
  for (let i = at; i < at + 4; i++) r = mod97(r, text.charCodeAt(i));
  return r === 1;
}

/** `r` carried over one more character of an IBAN (a space adds nothing; a letter reads as 10..35). */
function mod97(r: number, c: number): number {
  if (c === 32) return r;
  return isDigit(c) ? (r * 10 + (c - 48)) % 97 : (r * 100 + (c | 0x20) - 87) % 97;
}
