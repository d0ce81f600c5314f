import type { CountryCode } from 'libphonenumber-js/core';
import { isDigit, isWordChar, softSpaceAt } from '../chars.js';
import type { PiiType } from '../types.js';
import { cardGrouping, validCard } from './card.js';
import type { Candidate } from './candidate.js';
import { looksLikeVersion, validIpv4 } from './ip.js';
import { phoneConfidence, resetPhoneVerdicts } from './phone.js';
import { saidBefore, type DigitShape } from './shape.js';

// Phones, SSNs, cards and IPv4 addresses are all digit groups. One pass finds each run of
// groups that starts a word; a "segment" is groups joined by '-', '.' or brackets
// (`(555)123-4567`, `192.168.0.1`), and segments chain over single spaces (`+44 20 7946 0958`).
// From each segment start we try the chains of up to MAX_SEGMENTS segments: every decision
// reads a bounded window, which keeps the pass linear and the results local.

// A start is a digit (or '+'/'(' before one) that does not continue a word or a dotted or
// dashed number; '/' before a digit does not stop one: paths (`/orders/123`), `030/1234567`.
// A digit start must also be able to begin something we look for, read from its run of digits
// and what follows it: "35ms", "200,", "12:30", `11/09/2024` cannot. Decided in the regex, so
// the tens of thousands of such runs per MB of dense text cost no call each:
// * no '/' and a digit before it (inside 11/09/2024);
// * the run is followed by '-', '.' or '(' (groups go on);
// * or by a space that may sit inside a value (chars.ts softSpaceAt: one ASCII or no-break
//   space, then a digit, a capital, '(' or the end of the text);
// * or the run begins with 0, has two digits or more and is followed by '/' (`030/1234567`);
// * or it has 8 digits or more and ends on a word boundary, not on '/' (a lone group of fewer
//   is a year, a count or a ZIP code).
// Each match is one character long: the '+', the '(' or the first digit.
const START = /(?<![A-Za-z0-9_.+)-])(?:[+(](?=[0-9])|(?<![0-9]\/)[0-9](?=[0-9]*[-.(]|[0-9]*[ \u00a0\u202f](?:[0-9A-Z(]|$)|(?<=0)[0-9]+\/|[0-9]{7,}(?![0-9A-Za-z_/])))/g;

/**
 * The next start at or after `i`, or -1. Dense text has tens of thousands per MB, so this uses
 * `test` (no match object): the match is the start's one character.
 */
export function nextStart(text: string, i: number): number {
  START.lastIndex = i;
  return START.test(text) ? START.lastIndex - 1 : -1;
}
const MAX_SPAN = 40;
const MAX_SEGMENTS = 6;
const MAX_GROUP_DIGITS = 19;

// Field names count too (`customer_ssn=`, `socialSecurityNumber:`): words end at anything but a letter.
const SSN_WORDS = /(?:(?<![a-z])ssns?(?![a-z])|social[ _-]?security|(?<![a-z])soc\.? ?sec(?![a-z])|(?<![a-z])ss ?#|(?<![a-z])ss[ -]?(?:no|nr|num)(?![a-z]))[^0-9]{0,16}$/;
// A bare digit run after these words is an identifier even when it happens to pass Luhn.
const ID_WORDS = /\b(?:order|invoice|tracking|shipment|ticket|ref|reference|sku|serial|isbn|po)\b[^0-9]{0,16}$/;

/**
 * Groups joined without spaces. A segment is also the shape of itself alone (`single`), with
 * the fields in the order every shape has them, so the tests read one kind of object.
 */
interface Segment extends DigitShape {
  groups: number[];
  /** One joiner per gap between groups: '-', '.', '/', ')' for `(555)123`, '(' for `44(0)`. */
  joins: string;
  single: true;
}

export interface NumericOptions {
  types: ReadonlySet<PiiType>;
  regions: readonly CountryCode[];
}

export function detectNumbers(text: string, out: Candidate[], opts: NumericOptions, from = 0): void {
  resetPhoneVerdicts();
  // The chain read from the previous start: the next start is usually its second segment.
  let previous: Segment[] = [];
  let pos = from;
  for (let at = nextStart(text, pos); at !== -1; at = nextStart(text, pos)) {
    pos = isDigit(text.charCodeAt(at)) ? at + 1 : at + 2; // past a '+' or '(' and its digit
    let reuse = -1;
    for (let k = 1; k < previous.length; k++) if (previous[k]!.start === at) reuse = k;
    const first = reuse > 0 ? previous[reuse]! : readSegment(text, at);
    if (first === null) continue;
    pos = Math.max(pos, first.end);
    // A date (2024-01-15, 15.01.2024, 01/15/2024) is no value and starts none.
    if (isDate(first)) continue;
    const continues = softSpaceAt(text, first.end);
    // "35ms", "v2", "2024-01-15T…": nothing starting here can end on a word boundary; and
    // alone, fewer than 8 digits can only be an IPv4 address (prices, versions, counts).
    if (!continues && (first.digits.length < 8 ? first.joins !== '...' : isWordChar(text.charCodeAt(first.end)))) continue;
    previous = chain(text, reuse > 0 ? previous.slice(reuse) : [first]);
    // `123.45 EUR`: a price before a word chains to nothing, and alone it is too short.
    if (previous.length === 1 && first.digits.length < 8 && first.joins !== '...') continue;
    classify(text, previous, out, opts);
  }
}

// Group lengths are gathered here and copied out at the exact size: a list grown by push
// reserves room for 17 numbers, and dense text reads tens of thousands of segments per MB.
// At most one group per two characters of MAX_SPAN; filled by push so that it holds small integers only.
const gathered: number[] = [];
for (let k = 0; k < 64; k++) gathered.push(0);

function readSegment(text: string, start: number): Segment | null {
  let i = start;
  const plus = text.charCodeAt(i) === 43;
  if (plus) i++;
  let n = 0; // groups so far, in `gathered`
  let joins = '';
  let pending = '';
  let digits = '';
  let paren = -1;
  let end = -1;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 40) {
      let j = i + 1;
      while (j < i + 6 && isDigit(text.charCodeAt(j))) j++;
      if (paren !== -1 || j === i + 1 || text.charCodeAt(j) !== 41) break;
      paren = n;
      gathered[n++] = j - i - 1;
      digits += text.slice(i + 1, j);
      i = j + 1;
    } else if (isDigit(c)) {
      let j = i + 1;
      while (j - i <= MAX_GROUP_DIGITS && isDigit(text.charCodeAt(j))) j++;
      if (j - i > MAX_GROUP_DIGITS) return null;
      gathered[n++] = j - i;
      digits += text.slice(i, j);
      i = j;
    } else {
      break;
    }
    joins += pending;
    pending = '';
    end = i;
    if (end - start > MAX_SPAN) return null;
    const d = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if ((d === 45 || d === 46) && (isDigit(next) || next === 40)) {
      pending = text[i]!;
      i++;
    } else if (d === 47 && isDigit(next) && n === 1) {
      // `030/1234567`: only after the first group (dates such as 01/15/2024 are rejected later).
      pending = text[i]!;
      i++;
    } else if (isDigit(d) && paren === n - 1) {
      pending = ')';
    } else if (d === 40 && paren === -1) {
      pending = '(';
    } else {
      break;
    }
  }
  return end < 0 ? null : { text, start, end, groups: gathered.slice(0, n), digits, joins, plus, paren, bare: n === 1, single: true };
}

/** Extends `segments` over soft spaces, up to MAX_SEGMENTS segments and MAX_SPAN characters. */
function chain(text: string, segments: Segment[]): Segment[] {
  const first = segments[0]!;
  let last = segments[segments.length - 1]!;
  while (segments.length < MAX_SEGMENTS && softSpaceAt(text, last.end)) {
    const next = readSegment(text, last.end + 1);
    if (next === null || next.plus || next.end - first.start > MAX_SPAN) break;
    segments.push(next);
    last = next;
  }
  return segments;
}

function isDate(seg: Segment): boolean {
  const g = seg.groups;
  const a = g[0];
  const b = g[1];
  const c = g[2];
  return g.length === 3 && seg.joins[0] === seg.joins[1] && b === 2 && ((a === 4 && c === 2) || (a === 2 && c === 4));
}

type Test = (s: DigitShape, opts: NumericOptions) => number;

const TESTS: ReadonlyArray<[PiiType, Test]> = [
  ['IP_ADDRESS', ipv4Confidence],
  ['SSN', ssnConfidence],
  ['CREDIT_CARD', cardConfidence],
  ['PHONE', (s, opts) => phoneConfidence(s, opts.regions)],
];

// The tests the options ask for, per options object: classify runs once per digit run.
const enabledTests = new WeakMap<NumericOptions, ReadonlyArray<[PiiType, Test]>>();
// The last options' tests: a scan asks once per digit run, always with the same options.
let lastOptions: NumericOptions | undefined;
let lastTests: ReadonlyArray<[PiiType, Test]> = [];
function testsFor(opts: NumericOptions): ReadonlyArray<[PiiType, Test]> {
  if (opts === lastOptions) return lastTests;
  let tests = enabledTests.get(opts);
  if (tests === undefined) {
    tests = TESTS.filter(([type]) => opts.types.has(type));
    enabledTests.set(opts, tests);
  }
  lastOptions = opts;
  lastTests = tests;
  return tests;
}

/**
 * The chains of segments from the first one, longest first: each type keeps its longest
 * match, and trying longest first spares the phone validator the shorter prefixes.
 */
function classify(text: string, segments: Segment[], out: Candidate[], opts: NumericOptions): void {
  // Below these lengths nothing can match: an IPv4 address has 4 digits, anything spanning segments 8.
  const enough = (k: number, digitCount: number) => digitCount >= (k === 0 ? 4 : 8);
  let total = 0;
  for (const seg of segments) total += seg.digits.length;
  if (!enough(0, segments[0]!.digits.length) && !enough(1, total)) return;
  if (segments.length === 1) {
    // Most runs are one segment (`1234567890`, `12345-6789`), which is its own shape.
    const seg = segments[0]!;
    if (isWordChar(text.charCodeAt(seg.end))) return;
    return testShapes([seg], seg.start, out, opts);
  }
  const shapes: DigitShape[] = [];
  const start = segments[0]!.start;
  const plus = segments[0]!.plus;
  let n = 0; // the chain's groups so far, in `gathered`
  let digits = '';
  let joins = '';
  let paren = -1;
  let bare = true; // every segment is a single group: `4111 1111 1111 1111`
  for (let k = 0; k < segments.length; k++) {
    const seg = segments[k]!;
    if (k > 0) joins += ' ';
    if (seg.paren >= 0 && paren < 0) paren = n + seg.paren;
    for (const g of seg.groups) gathered[n++] = g;
    digits += seg.digits;
    joins += seg.joins;
    bare &&= seg.groups.length === 1;
    if (!enough(k, digits.length) || isWordChar(text.charCodeAt(seg.end))) continue;
    shapes.push({ text, start, end: seg.end, groups: gathered.slice(0, n), digits, joins, plus, paren, bare, single: k === 0 });
  }
  testShapes(shapes, start, out, opts);
}

/** Each type keeps its longest shape that passes (shapes are ordered shortest first). */
function testShapes(shapes: DigitShape[], start: number, out: Candidate[], opts: NumericOptions): void {
  if (shapes.length === 0) return;
  const tests = testsFor(opts);
  for (let t = 0; t < tests.length; t++) {
    const [type, test] = tests[t]!;
    for (let i = shapes.length - 1; i >= 0; i--) {
      const confidence = test(shapes[i]!, opts);
      if (confidence > 0) {
        out.push({ type, start, end: shapes[i]!.end, confidence });
        break;
      }
    }
  }
}

function ipv4Confidence(s: DigitShape): number {
  if (!s.single || s.plus || s.paren >= 0 || s.joins !== '...') return 0;
  return validIpv4(s.text.slice(s.start, s.end)) && !looksLikeVersion(s.text, s.start, s.end) ? 0.9 : 0;
}

function ssnConfidence(s: DigitShape): number {
  if (s.plus || s.paren >= 0 || s.digits.length !== 9 || !validSsn(s.digits)) return 0;
  const g = s.groups;
  const l324 = g.length === 3 && g[0] === 3 && g[1] === 2;
  if (s.single && l324 && s.joins === '--') return 0.95;
  // Spaced, dotted or bare nine digits are an SSN only when the text says so.
  return ((s.bare && l324) || (s.single && l324 && s.joins === '..') || g.length === 1) && saidBefore(s, SSN_WORDS) ? 0.75 : 0;
}

function cardConfidence(s: DigitShape): number {
  if (s.plus || s.paren >= 0 || s.digits.length < 13 || s.digits.length > 19 || !validCard(s.digits)) return 0;
  if (s.groups.length === 1) return saidBefore(s, ID_WORDS) ? 0 : 0.85;
  return (s.bare || (s.single && /^-+$/.test(s.joins))) && cardGrouping(s.groups) ? 0.95 : 0;
}

/** SSA rules: no 000, 666 or 9xx area; no 00 group; no 0000 serial. */
export function validSsn(digits: string): boolean {
  const area = digits.slice(0, 3);
  return area !== '000' && area !== '666' && digits[0] !== '9' && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}
