import type { CountryCode } from 'libphonenumber-js/core';
import { isAlnum, isAlpha, isDigit, runsOn, softSpaceAt } from '../chars.js';
import type { PiiType } from '../types.js';
import { cardGrouping, validCard } from './card.js';
import type { Candidate } from './candidate.js';
import { looksLikeVersion, validIpv4 } from './ip.js';
import { MAX_JOINERS, nextStart, startsAfterSpace } from './numeric-start.js';
import { forgetPhoneWord, mayEndPhoneLabel, phoneWordBefore } from './phone-context.js';
import { forgetPhoneVerdicts, phoneConfidence } from './phone.js';
import { forgetWordsBefore, partOfLongerRun, wordsBefore, type DigitShape } from './shape.js';

// Phones, SSNs, cards and IPv4 addresses are all digit groups. One pass finds each run of
// groups that starts a word; a "segment" is groups joined by '-', '.' or brackets
// (`(555)123-4567`, `192.168.0.1`), and segments chain over single spaces (`+44 20 7946 0958`).
// From each segment start (numeric-start.ts) we try the chains of up to MAX_SEGMENTS segments:
// every decision reads a bounded window, which keeps the pass linear and the results local.

const MAX_SPAN = 40;
const MAX_SEGMENTS = 6;
const MAX_GROUP_DIGITS = 19;

// Field names count too (`customer_ssn=`, `socialSecurityNumber:`), and S.S.N.: words end at anything but a letter.
const SSN_WORDS = /(?:(?<![a-z])ssns?(?![a-z])|(?<![a-z])s\. ?s\. ?n\b|social[ _-]?security|(?<![a-z])soc\.? ?sec(?![a-z])|(?<![a-z])ss ?#|(?<![a-z])ss[ -]?(?:no|nr|num)(?![a-z]))[^0-9]{0,16}$/;
// The last words of SSN_WORDS (a number word, `no`, `nr`, `num`, is a phone label's too).
const SSN_LAST_WORD = /^(?:ssns?|security|sec|ss)$/;
// A bare digit run after these words is an identifier even when it happens to pass Luhn.
const ID_WORDS = /\b(?:order|invoice|tracking|shipment|ticket|ref|reference|sku|serial|isbn|po)\b[^0-9]{0,16}$/;

export interface NumericOptions {
  types: ReadonlySet<PiiType>;
  regions: readonly CountryCode[];
}

// The chain read from a start: up to MAX_SEGMENTS segments, each groups joined without spaces
// (`(555)123-4567`, `192.168.0.1`), the segments joined by soft spaces (`+44 20 7946 0958`).
// Dense text has tens of thousands of digit runs per MB and turns most down on their lengths,
// so a chain is kept in these reused arrays, not in objects: a run's groups, where each starts,
// the joiner before each ('-', '.', '/', ')' for `(555)123`, '(' for `44(0)`, ' ' between
// segments; 0 before the first) and its digits as values. Strings are made only for the shapes
// a phone check reads. A segment spans at most MAX_SPAN characters and so does a chain, plus
// the one segment read past it: 128 entries are more than a chain can hold.
const ROOM = 128;
const groupLength = new Int32Array(ROOM);
const groupAt = new Int32Array(ROOM);
const joiner = new Uint8Array(ROOM);
const digitValue = new Uint8Array(ROOM);
// Per segment: where it starts and ends, its groups and digits counted from the chain's start
// (ends, exclusive), the chain index of its bracketed group or -1, and whether it starts with '+'.
const segStart = new Int32Array(MAX_SEGMENTS);
const segEnd = new Int32Array(MAX_SEGMENTS);
const segGroups = new Int32Array(MAX_SEGMENTS);
const segDigits = new Int32Array(MAX_SEGMENTS);
const segParen = new Int32Array(MAX_SEGMENTS);
const segPlus = new Uint8Array(MAX_SEGMENTS);
// The chain's shapes tested (segment indexes, shortest first).
const shapeLast = new Int32Array(MAX_SEGMENTS);

const DASH = 45;
const DOT = 46;
const SLASH = 47;
const OPEN = 40;
const CLOSE = 41;
const SPACE = 32;

export function detectNumbers(text: string, out: Candidate[], opts: NumericOptions, from = 0): void {
  try {
    readNumbers(text, out, opts, from);
  } finally {
    // The scan's memos (the words before a run, the phone-word answer, how each valid phone is
    // printed) hold pieces of its text: none outlives the scan.
    forgetWordsBefore();
    forgetPhoneWord();
    forgetPhoneVerdicts();
  }
}

function readNumbers(text: string, out: Candidate[], opts: NumericOptions, from: number): void {
  const tests = testsFor(opts);
  let pos = from;
  // Segments of the last chain still in the arrays: the next start is usually its second one.
  let held = 0;
  // A start at '(' that found nothing (`(415-555-0123)`, `(4111 1111 1111 1111)`: the bracket
  // closes no area code) is read again from its digit, as if the bracket were any punctuation.
  let opened = -1;
  let found = 0;
  for (;;) {
    let at: number;
    if (opened !== -1 && out.length === found) {
      pos = opened + 1;
      at = nextStart(text, pos);
    } else {
      // The last chain's second segment, one space past pos (its first segment's end), when a
      // start is there: the search would find it first.
      at = held > 1 && segStart[1] === pos + 1 && startsAfterSpace(text, segStart[1]!) ? segStart[1]! : nextStart(text, pos);
    }
    if (at === -1) return;
    opened = text.charCodeAt(at) === OPEN ? at : -1;
    found = out.length;
    pos = isDigit(text.charCodeAt(at)) ? at + 1 : at + 2; // past a '+' or '(' and its digit
    let reuse = 0;
    for (let k = 1; k < held; k++) if (segStart[k] === at) reuse = k;
    if (reuse > 0) {
      dropSegments(reuse, held);
      held -= reuse;
    } else {
      held = 0;
      if (!readSegment(text, at, 0)) continue;
      held = 1;
    }
    const end = segEnd[0]!;
    if (end > pos) pos = end;
    // A date (2024-01-15, 15.01.2024, 01/15/2024) is no value and starts none.
    if (isDate()) continue;
    // A minus sign or a point before a lone run of digits (`"age": -4111111111111111`, a 64-bit
    // hash, `.5105105105105100`) makes a negative number or a fraction, none of what we look for;
    // before a grouped value (`-4111 1111 1111 1111`, `。192.168.10.24`) or glued to a label
    // (`SSN-590593854`, `Tel.4155550123`) it does not.
    if (signedRun(text, at, end)) continue;
    const digits = segDigits[0]!;
    const dotted = dottedQuad();
    // "35ms", "v2", "2024-01-15T…": nothing starting here can end on a word boundary; and
    // alone, fewer than 8 digits can only be an IPv4 address (prices, versions, counts).
    if (!softSpaceAt(text, end) && (digits < 8 ? !dotted : runsOn(text, end))) continue;
    const segments = chain(text, held);
    held = segments;
    // `123.45 EUR`: a price before a word chains to nothing, and alone it is too short.
    if (segments === 1 && digits < 8 && !dotted) continue;
    // `PO-2024-000123`, `v.4111111111111111`: glued to a word that is no label, a run is part of an identifier.
    if (!gluedLabel(text, at)) continue;
    classify(text, segments, out, opts, tests);
  }
}

/**
 * The start at `at` stands on its own, or follows a label glued on with '-', '.' or ')' (`SSN-`,
 * `Tel.`, `Phone No.`, `Tel (home)`): a phone or SSN word leads to it. Most runs glued to a word
 * are identifiers (`ORD-35875297`), turned down on the glued word alone: a '-' or '.' glues a
 * label on only after a phone, number or SSN word.
 */
function gluedLabel(text: string, at: number): boolean {
  let i = at - 1;
  for (let c = text.charCodeAt(i); (c === DASH || c === DOT || c === CLOSE) && at - 1 - i < MAX_JOINERS; c = text.charCodeAt(--i));
  if (i === at - 1 || !isAlpha(text.charCodeAt(i))) return true;
  if (text.charCodeAt(at - 1) !== CLOSE) {
    let w = i;
    while (w > i - MAX_LABEL_WORD && isAlpha(text.charCodeAt(w - 1))) w--;
    const word = text.slice(w, i + 1).toLowerCase();
    if (!mayEndPhoneLabel(word) && !SSN_LAST_WORD.test(word)) return false;
  }
  return phoneWordBefore(text, at) || SSN_WORDS.test(wordsBefore(text, at));
}
const MAX_LABEL_WORD = 16;

/** The start at `at` is a lone run of digits (ending at `end`) signed or pointed by a '-' or '.' that follows no word. */
function signedRun(text: string, at: number, end: number): boolean {
  const sign = text.charCodeAt(at - 1);
  if ((sign !== DASH && sign !== DOT) || !isDigit(text.charCodeAt(at)) || segGroups[0] !== 1 || softSpaceAt(text, end)) return false;
  const before = text.charCodeAt(at - 2);
  return !isAlnum(before) && before !== 95;
}

/**
 * Reads the segment starting at `start` into slot `k` of the chain (after slot k-1's groups).
 * False when there is none: no digit, a group longer than MAX_GROUP_DIGITS, longer than MAX_SPAN.
 */
function readSegment(text: string, start: number, k: number): boolean {
  let i = start;
  const plus = text.charCodeAt(i) === 43;
  if (plus) i++;
  const first = k === 0 ? 0 : segGroups[k - 1]!;
  let g = first;
  let d = k === 0 ? 0 : segDigits[k - 1]!;
  let pending = k === 0 ? 0 : SPACE;
  let paren = -1; // chain index of the bracketed group
  let end = -1;
  for (;;) {
    const c = text.charCodeAt(i);
    let from: number;
    let to: number;
    if (c === OPEN) {
      let j = i + 1;
      while (j < i + 6 && isDigit(text.charCodeAt(j))) j++;
      if (paren !== -1 || j === i + 1 || text.charCodeAt(j) !== CLOSE) break;
      paren = g;
      from = i + 1;
      to = j;
      i = j + 1;
    } else if (isDigit(c)) {
      let j = i + 1;
      while (j - i <= MAX_GROUP_DIGITS && isDigit(text.charCodeAt(j))) j++;
      if (j - i > MAX_GROUP_DIGITS) return false;
      from = i;
      to = j;
      i = j;
    } else {
      break;
    }
    groupLength[g] = to - from;
    groupAt[g] = from;
    joiner[g] = pending;
    g++;
    for (let x = from; x < to; x++) digitValue[d++] = text.charCodeAt(x) - 48;
    pending = 0;
    end = i;
    if (end - start > MAX_SPAN) return false;
    const next = text.charCodeAt(i);
    const after = text.charCodeAt(i + 1);
    if ((next === DASH || next === DOT) && (isDigit(after) || after === OPEN)) {
      pending = next;
      i++;
    } else if (next === SLASH && isDigit(after) && g - first === 1) {
      // `030/1234567`: only after the first group (dates such as 01/15/2024 are rejected later).
      pending = SLASH;
      i++;
    } else if (isDigit(next) && paren === g - 1) {
      pending = CLOSE;
    } else if (next === OPEN && paren === -1) {
      pending = OPEN;
    } else {
      break;
    }
  }
  if (end < 0) return false;
  segStart[k] = start;
  segEnd[k] = end;
  segGroups[k] = g;
  segDigits[k] = d;
  segParen[k] = paren;
  segPlus[k] = plus ? 1 : 0;
  return true;
}

/** Moves segments `drop..held` of the chain to its start, as if the chain had been read from segment `drop`. */
function dropSegments(drop: number, held: number): void {
  const groups = segGroups[drop - 1]!;
  const digits = segDigits[drop - 1]!;
  // By hand: copyWithin costs a call into the runtime, more than these few entries.
  for (let g = groups, last = segGroups[held - 1]!; g < last; g++) {
    groupLength[g - groups] = groupLength[g]!;
    groupAt[g - groups] = groupAt[g]!;
    joiner[g - groups] = joiner[g]!;
  }
  joiner[0] = 0;
  for (let d = digits, last = segDigits[held - 1]!; d < last; d++) digitValue[d - digits] = digitValue[d]!;
  for (let k = drop; k < held; k++) {
    const j = k - drop;
    segStart[j] = segStart[k]!;
    segEnd[j] = segEnd[k]!;
    segGroups[j] = segGroups[k]! - groups;
    segDigits[j] = segDigits[k]! - digits;
    segParen[j] = segParen[k]! < 0 ? -1 : segParen[k]! - groups;
    segPlus[j] = segPlus[k]!;
  }
}

/**
 * Extends the chain's first `held` segments over soft spaces, up to MAX_SEGMENTS segments and
 * MAX_SPAN characters; the segment count.
 */
function chain(text: string, held: number): number {
  const first = segStart[0]!;
  let k = held;
  while (k < MAX_SEGMENTS && softSpaceAt(text, segEnd[k - 1]!)) {
    if (!readSegment(text, segEnd[k - 1]! + 1, k) || segPlus[k] === 1 || segEnd[k]! - first > MAX_SPAN) break;
    k++;
  }
  return k;
}

/** The first segment is three groups with one joiner twice, laid out 4-2-2 or 2-2-4. */
function isDate(): boolean {
  if (segGroups[0] !== 3 || joiner[1] !== joiner[2] || groupLength[1] !== 2) return false;
  const a = groupLength[0];
  const c = groupLength[2];
  return (a === 4 && c === 2) || (a === 2 && c === 4);
}

/** The first segment is four groups joined by dots (`192.168.0.1`, also `1.2.3.4`). */
function dottedQuad(): boolean {
  return segGroups[0] === 4 && joiner[1] === DOT && joiner[2] === DOT && joiner[3] === DOT;
}

const IP = 0;
const SSN = 1;
const CARD = 2;
const PHONE = 3;
const TEST_TYPES: readonly PiiType[] = ['IP_ADDRESS', 'SSN', 'CREDIT_CARD', 'PHONE'];

// The tests the options ask for (indexes into TEST_TYPES, in that order), per options object.
const enabledTests = new WeakMap<NumericOptions, readonly number[]>();
let lastOptions: NumericOptions | undefined;
let lastTests: readonly number[] = [];
function testsFor(opts: NumericOptions): readonly number[] {
  if (opts === lastOptions) return lastTests;
  let tests = enabledTests.get(opts);
  if (tests === undefined) {
    tests = [IP, SSN, CARD, PHONE].filter((t) => opts.types.has(TEST_TYPES[t]!));
    enabledTests.set(opts, tests);
  }
  lastOptions = opts;
  lastTests = tests;
  return tests;
}

/**
 * The chain's shapes from the first segment: each prefix of segments that holds enough digits
 * and ends on a word boundary. Each type keeps its longest shape that passes, and trying
 * longest first spares the phone validator the shorter prefixes.
 */
function classify(text: string, segments: number, out: Candidate[], opts: NumericOptions, tests: readonly number[]): void {
  // Below these lengths nothing can match: an IPv4 address has 4 digits, anything spanning segments 8.
  if (segDigits[0]! < 4 && segDigits[segments - 1]! < 8) return;
  let shapes = 0;
  for (let k = 0; k < segments; k++) {
    if (segDigits[k]! < (k === 0 ? 4 : 8) || runsOn(text, segEnd[k]!)) continue;
    shapeLast[shapes++] = k;
  }
  if (shapes === 0) return;
  const start = segStart[0]!;
  for (let t = 0; t < tests.length; t++) {
    const type = tests[t]!;
    for (let i = shapes - 1; i >= 0; i--) {
      const k = shapeLast[i]!;
      const confidence = type === IP ? ipv4Confidence(text, k) : type === SSN ? ssnConfidence(text, k) : type === CARD ? cardConfidence(text, k) : phone(text, k, opts);
      if (confidence > 0) {
        out.push({ type: TEST_TYPES[type]!, start, end: segEnd[k]!, confidence });
        break;
      }
    }
  }
}

/** Every segment up to k is a single group: `4111 1111 1111 1111`, not `4111-1111 1111-1111`. */
function bare(k: number): boolean {
  for (let j = 0; j <= k; j++) if (segGroups[j]! - (j === 0 ? 0 : segGroups[j - 1]!) !== 1) return false;
  return true;
}

/** The chain index of the first bracketed group up to segment k, or -1. */
function paren(k: number): number {
  for (let j = 0; j <= k; j++) if (segParen[j]! >= 0) return segParen[j]!;
  return -1;
}

/** Every joiner of the first `groups` groups is `c`. */
function joinedBy(c: number, groups: number): boolean {
  for (let g = 1; g < groups; g++) if (joiner[g] !== c) return false;
  return true;
}

function ipv4Confidence(text: string, k: number): number {
  if (k !== 0 || segPlus[0] === 1 || segParen[0]! >= 0 || !dottedQuad()) return 0;
  const start = segStart[0]!;
  const end = segEnd[0]!;
  return validIpv4(text.slice(start, end)) && !looksLikeVersion(text, start, end) ? 0.9 : 0;
}

function ssnConfidence(text: string, k: number): number {
  if (segPlus[0] === 1 || segDigits[k] !== 9 || paren(k) >= 0 || !validSsn(digitValue)) return 0;
  const groups = segGroups[k]!;
  const l324 = groups === 3 && groupLength[0] === 3 && groupLength[1] === 2;
  if (k === 0 && l324 && joinedBy(DASH, 3)) return 0.95;
  // Spaced, dotted or bare nine digits are an SSN only when the text says so.
  return ((l324 && bare(k)) || (k === 0 && l324 && joinedBy(DOT, 3)) || groups === 1) && SSN_WORDS.test(wordsBefore(text, segStart[0]!)) ? 0.75 : 0;
}

function cardConfidence(text: string, k: number): number {
  const digits = segDigits[k]!;
  if (segPlus[0] === 1 || digits < 13 || digits > 19 || paren(k) >= 0 || !validCard(digitValue, digits)) return 0;
  const groups = segGroups[k]!;
  if (groups === 1) return ID_WORDS.test(wordsBefore(text, segStart[0]!)) ? 0 : 0.85;
  return (bare(k) || (k === 0 && joinedBy(DASH, groups))) && cardGrouping(groupLength, groups) ? 0.95 : 0;
}

function phone(text: string, k: number, opts: NumericOptions): number {
  const digits = segDigits[k]!;
  return digits < 8 || digits > 17 || (layoutFirst && ruledOutByLayout(text, k)) ? 0 : phoneConfidence(shapeOf(text, k), opts.regions);
}

let layoutFirst = true;

/** Turns the layout checks before a phone's shape off (and on): the tests compare both ways. */
export function readLayoutFirst(on: boolean): void {
  layoutFirst = on;
}

/**
 * Runs phoneConfidence turns down on their layout alone, read here from the chain's arrays so
 * that they cost no shape (most runs tried in dense text: card numbers read in parts, ZIP+4
 * codes, order numbers): a bare run of more than 12 digits or with no phone word before it; a
 * run of groups with no '+', no '/', not `00…`, of a length no national number has (9-12), or
 * part of a longer run; two runs joined by one dot with no phone word before them (a decimal
 * number). Anything else goes to phoneConfidence, which makes the same checks.
 */
function ruledOutByLayout(text: string, k: number): boolean {
  if (segPlus[0] === 1) return false;
  const n = segDigits[k]!;
  const start = segStart[0]!;
  const groups = segGroups[k]!;
  if (groups === 1) return n > 12 || !phoneWordBefore(text, start);
  for (let g = 1; g < groups; g++) if (joiner[g] === SLASH) return false;
  // `201.824894574`, `-4.555104,-149.028708`: one dot between two runs is a decimal point
  // unless a phone word comes before: phoneConfidence's rule (what it reads first, a '+' or a '/',
  // is read above; a time's minutes it turns down too).
  if (groups === 2 && joiner[1] === DOT && !phoneWordBefore(text, start)) return true;
  if (digitValue[0] === 0 && digitValue[1] === 0 && n >= 10) return false;
  if (n < 9 || n > 12) return true;
  // (NPA) NXX-XXXX and 1 NPA NXX XXXX are phones even inside a longer run.
  if (nanpLayout(groups)) return false;
  // Near-misses of a national format phoneConfidence turns down on their layout: an SSN's
  // 3-2-4 (`123-45-6789`, and those failing SSA's rules), a dotted quad (`10.0.0.1`, an IPv4
  // address already read as one), a single digit in a group (`Chrome/116.0.3519.181`).
  if (notNationalLayout(groups, k)) return true;
  // `+44 [20 7946 0958]`, `0044 [20 1052 4900]`: the later segments of a number, read again from
  // their own start (a chain is read from each of its segments), are part of a longer run.
  return partOfLongerRun(text, start, segEnd[k]!);
}

/** phone.ts nanpShape on the chain's arrays: 3-3-4 not starting 0 or 1, or 1-3-3-4 with the same area code. */
function nanpLayout(groups: number): boolean {
  if (groups === 3) return groupLength[0] === 3 && groupLength[1] === 3 && groupLength[2] === 4 && digitValue[0]! >= 2;
  if (groups === 4) return groupLength[0] === 1 && groupLength[1] === 3 && groupLength[2] === 3 && groupLength[3] === 4 && digitValue[0] === 1 && digitValue[1]! >= 2;
  return false;
}

/**
 * A run of groups (no '+', no '/', not `00…`, not NANP) that phoneConfidence turns down on its
 * layout whatever its digits: 3-2-4 or a dotted quad of groups of up to three digits (shape.ts
 * knownNonPhoneShape), or a group of one digit other than a bracketed one.
 */
function notNationalLayout(groups: number, k: number): boolean {
  if (groups === 3 && groupLength[0] === 3 && groupLength[1] === 2 && groupLength[2] === 4) return true;
  if (groups === 4 && joiner[1] === DOT && joiner[2] === DOT && joiner[3] === DOT && groupLength[0]! <= 3 && groupLength[1]! <= 3 && groupLength[2]! <= 3 && groupLength[3]! <= 3) return true;
  const bracketed = paren(k);
  for (let g = 0; g < groups; g++) if (groupLength[g] === 1 && g !== bracketed) return true;
  return false;
}

const JOINERS: string[] = [];
for (let c = 0; c < 128; c++) JOINERS.push(String.fromCharCode(c));

/** The shape of segments 0..k as the phone checks read it. */
function shapeOf(text: string, k: number): DigitShape {
  const n = segGroups[k]!;
  const groups: number[] = new Array(n);
  let digits = '';
  let joins = '';
  for (let g = 0; g < n; g++) {
    groups[g] = groupLength[g]!;
    digits += text.slice(groupAt[g]!, groupAt[g]! + groupLength[g]!);
    if (g > 0) joins += JOINERS[joiner[g]!]!;
  }
  return { text, start: segStart[0]!, end: segEnd[k]!, groups, digits, joins, plus: segPlus[0] === 1, paren: paren(k), bare: bare(k), single: k === 0 };
}

/** SSA rules on the digit values `d[0..9)`: no 000, 666 or 9xx area; no 00 group; no 0000 serial. */
export function validSsn(d: ArrayLike<number>): boolean {
  const area = d[0]! * 100 + d[1]! * 10 + d[2]!;
  return area !== 0 && area !== 666 && d[0] !== 9 && d[3]! * 10 + d[4]! !== 0 && d[5]! * 1000 + d[6]! * 100 + d[7]! * 10 + d[8]! !== 0;
}
