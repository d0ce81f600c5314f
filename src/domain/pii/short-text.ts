import { scan, type RedactOptions } from './redact.js';

// A short text an agent chose (a model name, an id, a header's value) read for PII: the text
// whole, and each number in it alone. An id joins a number to its prefix (`resp_123-45-6789`,
// `conv_4111 1111 1111 1111`), which prose reads as one longer word, no value; read alone, the
// number is the SSN or the card it is.
//
// But a machine's random id is made of digits too: cut out of 48 random hex digits, a run of 7 to 19
// of them passes for a card about once in 1,400 ids (`conv_…bfb395054419349873498f04b`), and two
// of a UUID's groups joined by their hyphen for a phone about once in 80 (`…-9526-77204d3b…`). So
// the digits that lie inside such an id, with its hex letters on both sides of them, are not read
// alone (the id is still read whole): a UUID, or a run of 16 hex digits or more with two letters at
// least, and one in eight (a random one has three in eight); a UUID that is a word of its own counts
// its ends as letters (`08456558-802e-…`). A number an agent wrote into an id stands apart from it
// (`conv_4111111111111111`, `ab-123-45-6789`) or at one of its ends (`deadbeef4111111111111111`,
// `4111111111111111cafe`, `7ac22f5bc879673f415-555-2671`), and is read. Digits a random hex id happens
// to begin or end with are read too: about one id in 10,000 of 48 hex digits ends in what passes for a card.

/** A number as a short text may hold one (`+1 (415) 555-2671`, `123-45-6789`): from a digit (or `+`, `(`) to a digit. */
const NUMBER_IN_TEXT = /[+(]?\d[\d ().-]*\d\)?/g;
/** Fewer digits are no phone, SSN or card: not read on their own. */
const MIN_NUMBER_DIGITS = 7;
/** Digits of a number outside the ids it touches too few to be read with the ids' edges (typesInShortText). */
const FEW_DIGITS = 4;
/**
 * An RFC 4122 UUID (its version digit 1-8, its variant 8, 9, a or b), wherever it stands (a hex run
 * glued before it does not hide it). A dashed card fits the 8-4-4-4-12 shape only by chance of those two.
 */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/gi;
/** A run of hex digits long enough to be a random id (its letters counted after: randomIds). */
const HEX_RUN = /[0-9a-f]{16,}/gi;

const countDigits = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) n++;
  return n;
};
const isHexLetter = (c: number): boolean => (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** An id's start and end, and whether its own ends count as its letters (a UUID standing apart: a word of its own). */
type Id = [number, number, boolean];

/**
 * Where the random ids of `text` lie, in order. Two may overlap (a hex run and the UUID it is glued
 * to) but none holds another (a hex run has no hyphen, a UUID's groups are shorter than 16), so
 * their ends come in order too.
 */
function randomIds(text: string): Id[] {
  const found: Id[] = [];
  for (const m of text.matchAll(UUID)) {
    const e = m.index + m[0].length;
    found.push([m.index, e, !isWordChar(text.charCodeAt(m.index - 1)) && !isWordChar(text.charCodeAt(e))]);
  }
  for (const m of text.matchAll(HEX_RUN)) {
    const letters = m[0].length - countDigits(m[0]);
    if (letters >= 2 && letters * 8 >= m[0].length) found.push([m.index, m.index + m[0].length, false]);
  }
  return found.sort((x, y) => x[0] - y[0]);
}

/**
 * The PII types a short text holds, by the detectors and the allow-lists of `options` alone.
 * Linear in the text: its numbers and its ids are each walked once, in order.
 *
 * @example
 * typesInShortText('conv_4111 1111 1111 1111') // ['CREDIT_CARD']
 * typesInShortText('conv_7ac22f5bc879673fc806220bfb395054419349873498f04b') // []
 */
export function typesInShortText(text: string, options: RedactOptions = {}): string[] {
  const types = new Set<string>(scan(text, options).map((d) => d.type));
  // An underscore joins words into one for the detectors (`conv_DE89370400440532013000`): read apart too.
  if (text.includes('_')) for (const d of scan(text.replaceAll('_', ' '), options)) types.add(d.type);
  let ids: Id[] | null = null;
  let next = 0;
  for (const m of text.matchAll(NUMBER_IN_TEXT)) {
    if (m[0].length === text.length || countDigits(m[0]) < MIN_NUMBER_DIGITS) continue;
    ids ??= randomIds(text);
    const start = m.index;
    const end = start + m[0].length;
    while (next < ids.length && ids[next]![1] <= start) next++;
    if (next === ids.length || ids[next]![0] >= end) {
      readAlone(m[0], options, types);
      continue;
    }
    // Where ids touch the number it is read without the stretches that lie inside an id between its
    // letters, each id judged by its own (`deadbeef4111111111111111`: the card at the id's end is
    // read), without any stretch an id covers (`…bc8796731-123-45-6789`: the id's last digits would
    // hide the SSN they run into), and each id's stretch at the id's edge alone.
    const between: Array<[number, number]> = [];
    let at = start;
    let digitsOutside = 0;
    for (let k = next; k < ids.length && ids[k]![0] < end; k++) {
      const [s, e, apart] = ids[k]!;
      const from = Math.max(start, s);
      const to = Math.min(end, e);
      if ((letterBefore(text, s, from) || (apart && from === s)) && (letterAfter(text, e, to) || (apart && to === e))) between.push([from, to]);
      // At an id's edge: its own stretch of the number too (`abc4111111111111111-1ef0-…`: a card between a word and a glued UUID).
      else readAlone(text.slice(from, to), options, types);
      digitsOutside += readAlone(text.slice(at, Math.max(at, from)), options, types);
      at = Math.max(at, to);
    }
    digitsOutside += readAlone(text.slice(at, end), options, types);
    // All but a few of its digits inside ids: the ids' edges joined by a hyphen (`<trace id>-<span id>`,
    // a traceparent's `-01` after its span id) are no number; each edge was read on its own above.
    // PII an id runs into leaves more of itself outside (`deadbeefcafebabe123-45-6789`: six digits).
    if (digitsOutside < FEW_DIGITS) continue;
    let from = start;
    for (const [s, e] of between) {
      readAlone(text.slice(from, Math.max(from, s)), options, types);
      from = Math.max(from, e);
    }
    readAlone(text.slice(from, end), options, types);
  }
  return [...types];
}

/** The numbers of `part` long enough to be one, each scanned alone; its digits, counted. */
function readAlone(part: string, options: RedactOptions, types: Set<string>): number {
  if (part.length === 0) return 0;
  for (const n of part.matchAll(NUMBER_IN_TEXT)) if (countDigits(n[0]) >= MIN_NUMBER_DIGITS) for (const d of scan(n[0], options)) types.add(d.type);
  return countDigits(part);
}

// A number's edges are no digits (NUMBER_IN_TEXT takes every digit it can), so the id's character next
// to one is a letter or a UUID's hyphen, and past a hyphen a letter or a digit: a step or two.

/** Whether the id beginning at `s` has a hex letter just before `at`, over a hyphen. */
function letterBefore(text: string, s: number, at: number): boolean {
  for (let i = at - 1; i >= s; i--) {
    const c = text.charCodeAt(i);
    if (c !== 45) return isHexLetter(c);
  }
  return false;
}

/** Whether the id ending at `e` has a hex letter just from `at`, over a hyphen. */
function letterAfter(text: string, e: number, at: number): boolean {
  for (let i = at; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c !== 45) return isHexLetter(c);
  }
  return false;
}
