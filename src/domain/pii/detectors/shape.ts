import { isDigit, softSpaceAt } from '../chars.js';
import { textBefore } from './candidate.js';

/** A run of digit groups as written, e.g. `+44 (0)20 7946-0958`, and where it sits in the text. */
export interface DigitShape {
  text: string;
  start: number;
  end: number;
  /** Digit count of each group, in order. */
  groups: readonly number[];
  digits: string;
  /** One joiner per gap between groups: '-', '.', ' ', ')' for `(555)123`, '(' for `44(0)`. */
  joins: string;
  plus: boolean;
  /** Index of the bracketed group, -1 when there is none. */
  paren: number;
  /** Every segment is one group: `4111 1111 1111 1111`, not `4111-1111 1111-1111`. */
  bare: boolean;
  /** One segment: no spaces inside. */
  single: boolean;
}

/**
 * Shapes with a meaning of their own: ZIP+4 12345-6789, SSN 123-45-6789, 10.0.0.1, and any
 * run holding a date or a time (2024-01-15 10, 15.01.2024 10, 10.30.00): a phone never does.
 */
export function knownNonPhoneShape(s: DigitShape): boolean {
  const g = s.groups;
  if (g.length === 2 && g[0] === 5 && g[1] === 4 && s.joins === '-') return true;
  if (g.length === 3 && g[0] === 3 && g[1] === 2 && g[2] === 4) return true;
  if (s.joins === '...' && g[0]! <= 3 && g[1]! <= 3 && g[2]! <= 3 && g[3]! <= 3) return true;
  return hasDateSegment(s);
}

/** A segment (groups joined without spaces) of three groups, one joiner twice, laid out 4-2-2, 2-2-4 or 2-2-2. */
function hasDateSegment(s: DigitShape): boolean {
  const { groups, joins } = s;
  let first = 0;
  for (let k = 0; k <= joins.length; k++) {
    if (k < joins.length && joins[k] !== ' ') continue;
    if (k - first === 2 && joins[first] === joins[first + 1]) {
      const [a, b, c] = [groups[first], groups[first + 1], groups[first + 2]];
      if (b === 2 && ((a === 4 && c === 2) || (a === 2 && (c === 4 || c === 2)))) return true;
    }
    first = k + 1;
  }
  return false;
}

/** The run `text[start, end)` is only part of a longer run of digit groups: `4111 [1111 1111] 1111`. */
export function partOfLongerRun(text: string, start: number, end: number): boolean {
  const before = text.charCodeAt(start - 2);
  if (softSpaceAt(text, start - 1) && (isDigit(before) || before === 41)) return true;
  const after = text.charCodeAt(end + 1);
  return softSpaceAt(text, end) && (isDigit(after) || (after === 40 && isDigit(text.charCodeAt(end + 2))));
}

/** Does `words` (a pattern ending in `$`) match the text just before the shape? */
export function saidBefore(s: DigitShape, words: RegExp): boolean {
  return words.test(wordsBefore(s.text, s.start));
}

// The lower-cased text before a run is read by several checks (SSN words, identifier words,
// phone words) for each of the run's shapes, which all start where the run starts: made once.
let beforeText: string | null = null;
let beforeAt = -1;
let before = '';

/** textBefore(text, start), remembered for the last run; forgetWordsBefore() drops the text. */
export function wordsBefore(text: string, start: number): string {
  if (start !== beforeAt || text !== beforeText) {
    before = textBefore(text, start);
    beforeText = text;
    beforeAt = start;
  }
  return before;
}

export function forgetWordsBefore(): void {
  beforeText = null;
  beforeAt = -1;
  before = '';
}
