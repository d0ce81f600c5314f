import { scan, type RedactOptions } from './redact.js';

// A short text an agent chose (a model name, an id, a header's value) read for PII: the text
// whole, and each number in it alone. An id joins a number to its prefix (`resp_123-45-6789`,
// `conv_4111 1111 1111 1111`), which prose reads as one longer word, no value; read alone, the
// number is the SSN or the card it is.
//
// But a machine's random id is made of digits too: cut out of 48 random hex digits, a run of 7 to 19
// of them passes for a card about once in 1,400 ids (`conv_…bfb395054419349873498f04b`), and two
// of a UUID's groups joined by their hyphen for a phone about once in 80 (`…-9526-77204d3b…`). So a
// number inside such an id is not read alone (the id is still read whole): a UUID, or a run of 16
// hex digits or more with three letters at least, and one in eight (a random one has three in eight).
// A number an agent wrote into an id stands apart from it (`conv_4111111111111111`, `ab-123-45-6789`)
// or beside a letter or two (`card4111111111111111`), and is read.

/** A number as a short text may hold one (`+1 (415) 555-2671`, `123-45-6789`): from a digit (or `+`, `(`) to a digit. */
const NUMBER_IN_TEXT = /[+(]?\d[\d ().-]*\d\)?/g;
/** Fewer digits are no phone, SSN or card: not read on their own. */
const MIN_NUMBER_DIGITS = 7;
/** A UUID, or a run of hex digits long enough to be a random id (its letters counted after: randomIds). */
const RANDOM_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}/gi;
const countDigits = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) n++;
  return n;
};

/** Where the random ids of `text` lie: [start, end) pairs. */
function randomIds(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(RANDOM_ID)) {
    const hex = m[0].replaceAll('-', '');
    const letters = hex.length - countDigits(hex);
    if (m[0].includes('-') || (letters >= 3 && letters * 8 >= hex.length)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

/**
 * The PII types a short text holds, by the detectors and the allow-lists of `options` alone.
 *
 * @example
 * typesInShortText('conv_4111 1111 1111 1111') // ['CREDIT_CARD']
 * typesInShortText('conv_7ac22f5bc879673fc806220bfb395054419349873498f04b') // []
 */
export function typesInShortText(text: string, options: RedactOptions = {}): string[] {
  const types = new Set<string>(scan(text, options).map((d) => d.type));
  let ids: Array<[number, number]> | null = null;
  for (const m of text.matchAll(NUMBER_IN_TEXT)) {
    if (m[0].length === text.length || countDigits(m[0]) < MIN_NUMBER_DIGITS) continue;
    ids ??= randomIds(text);
    // What of the number lies outside every random id is read (`<uuid>-4111111111111111`: the card after it).
    for (const part of outside(m.index, m.index + m[0].length, ids)) {
      for (const n of text.slice(part[0], part[1]).matchAll(NUMBER_IN_TEXT)) {
        if (countDigits(n[0]) >= MIN_NUMBER_DIGITS) for (const d of scan(n[0], options)) types.add(d.type);
      }
    }
  }
  return [...types];
}

/** The stretches of [start, end) that no span covers (`spans` in order and apart, as a regex finds them). */
function outside(start: number, end: number, spans: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let at = start;
  for (const [s, e] of spans) {
    if (e <= at || s >= end) continue;
    if (s > at) parts.push([at, s]);
    at = e;
  }
  if (at < end) parts.push([at, end]);
  return parts;
}
