import { isAlnum, isAlpha, isDigit } from '../chars.js';

// Where a value of digit groups may start (numeric.ts reads the chain from each start): one
// regex for what follows a start, and the few characters before it read here.

// A start is a digit (or '+'/'(' before one) that does not continue a word or a dotted or
// dashed number; '/' before a digit does not stop one: paths (`/orders/123`), `030/1234567`.
// A '-', '.', '+' or ')' continues a number only after a digit (or '_'): after a space, a
// bracket or the text's start it is a dash, a bullet or a full stop (`— 415-555-0123`,
// `。415-555-0123`, `-415-555-0123`), and after a letter it glues a label (`SSN-590593854`,
// `Tel.4155550123`, `(home)415-555-0123`), taken only after a phone or SSN word (numeric.ts
// gluedLabel; a lone run after a '-' or '.' is a negative number or a fraction there: signedRun);
// a '+' after a letter is no country code's (`ZIP+4`, `C++17`).
// Markdown emphasis around a value is no word it continues (chars.ts runsOn): `_415-555-0123_`.
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
// The first two cases read the run once (`[0-9]*(?:[-.(]|…)`, not one `[0-9]*` each: ×0.94 a
// pass of the near-miss text).
// The character before a start is matched, not looked behind at: V8 finds a pair of characters
// (no letter or digit, then a digit, '+' or '(') by a quick test of both, where a look-behind
// first made it enter the regex's code at every character of the text (a pass of the near-miss
// text's 19,711 starts 6.4 -> 4.7 ms). A match ends just past the start ('+', '(' or the first
// digit); the start at the text's first character, with nothing before it, is START_FIRST's.
// What may not come before a digit (a digit and '/', inside 11/09/2024) is read after it.
const CASES = String.raw`(?:[+(](?=[0-9])|[0-9](?<![0-9]\/.)(?=[0-9]*(?:[-.(]|[ \u00a0\u202f](?:[0-9A-Z(]|$))|(?<=0)[0-9]+\/|[0-9]{7,}(?![0-9A-Za-z/]|_(?:[0-9A-Za-z]|_(?:[0-9A-Za-z]|_[0-9A-Za-z_])))))`;
const START = new RegExp(`[^A-Za-z0-9]${CASES}`, 'g');
const START_FIRST = new RegExp(CASES, 'y');

/**
 * The next start at or after `i`, or -1. Dense text has tens of thousands per MB, so this uses
 * `test` (no match object): a match ends just past the start.
 */
export function nextStart(text: string, i: number): number {
  if (i === 0) {
    START_FIRST.lastIndex = 0;
    if (START_FIRST.test(text)) return 0;
  }
  // From the character before `i`, which a start at `i` matches with it.
  START.lastIndex = i === 0 ? 0 : i - 1;
  while (START.test(text)) {
    const at = START.lastIndex - 1;
    if (!joinedBefore(text, at)) return at;
    START.lastIndex = at;
  }
  return -1;
}

/**
 * Whether a start is at `i`, a digit just after a space (ASCII or no-break): the case the chain's
 * next segment is, which numeric.ts then takes without a search (a quarter of all starts). The
 * space is a character START takes before a start, and passes joinedBefore, so only what follows
 * the digit's run is read: START's four cases, in JS.
 */
export function startsAfterSpace(text: string, i: number): boolean {
  const first = text.charCodeAt(i);
  if (!isDigit(first)) return false;
  let j = i + 1;
  while (isDigit(text.charCodeAt(j))) j++;
  const next = text.charCodeAt(j);
  if (next === DASH || next === DOT || next === OPEN) return true;
  if (next === 32 || next === 0xa0 || next === 0x202f) {
    if (j + 1 === text.length) return true;
    const c = text.charCodeAt(j + 1);
    if (isDigit(c) || (c >= 65 && c <= 90) || c === OPEN) return true;
  }
  if (first === 48 && j > i + 1 && next === SLASH) return true;
  if (j - i < 8 || isAlnum(next) || next === SLASH) return false;
  // `[0-9]{7,}(?!_(?:[0-9A-Za-z]|_(?:[0-9A-Za-z]|_[0-9A-Za-z_])))`: emphasis, not a word, after the run.
  if (next !== 95) return true;
  const a = text.charCodeAt(j + 1);
  if (a !== 95) return !isAlnum(a);
  const b = text.charCodeAt(j + 2);
  if (b !== 95) return !isAlnum(b);
  const c = text.charCodeAt(j + 3);
  return !isAlnum(c) && c !== 95;
}

/**
 * What comes before `at` joins it to a word or a number (the rest of a start's look-behind, read
 * here: in the regex, its alternatives cost every digit of the text a test): more than three
 * '_', or '_' after a letter or digit; one or two of '-', '.', '+', ')' after a digit, a '_' or a
 * ')'; a '+' after a word (`ZIP+4`).
 */
function joinedBefore(text: string, at: number): boolean {
  const p = text.charCodeAt(at - 1);
  if (p === 95) {
    let j = at - 1;
    while (j >= at - 4 && text.charCodeAt(j) === 95) j--;
    return at - 1 - j >= 4 || isAlnum(text.charCodeAt(j));
  }
  if (!isJoin(p)) return false;
  if (p === PLUS) {
    let j = at - 2;
    while (j > at - 1 - MAX_JOINERS && isJoin(text.charCodeAt(j)) && text.charCodeAt(j) !== PLUS) j--;
    if (isAlpha(text.charCodeAt(j))) return true;
  }
  let j = at - 1;
  for (; isJoin(text.charCodeAt(j)); j--) {
    if (at - 1 - j >= MAX_JOINERS) return false;
    if (j < at - 1 && text.charCodeAt(j) === CLOSE) return true;
  }
  const q = text.charCodeAt(j);
  return isDigit(q) || q === 95;
}

/**
 * A run of more '-', '.', '+' or ')' than this before a digit is a rule or an ellipsis
 * (`9----4111 1111 1111 1111`, `wait...4155550123`), which joins the value to nothing; and a
 * start's look-behind stays a few characters, as the stream redactor needs.
 */
export const MAX_JOINERS = 2;

function isJoin(c: number): boolean {
  return c === DASH || c === DOT || c === PLUS || c === CLOSE;
}

const PLUS = 43;
const DASH = 45;
const DOT = 46;
const CLOSE = 41;
const OPEN = 40;
const SLASH = 47;
