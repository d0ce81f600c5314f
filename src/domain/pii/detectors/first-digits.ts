// The digits a match of one of libphonenumber's patterns can begin with, read from the pattern's
// source once, so that a number beginning otherwise is turned down without running the regex:
// the +1 code's 25 plans read together are one alternation of some 150 patterns, all beginning
// with 2-9, which irregexp tries one by one on `0612345678` (1-2 µs a test).
// The patterns use a small part of the syntax (groups, alternation, classes of digits, \d,
// quantifiers); anything else makes the answer every digit, so the set is never too small.

/** Every digit, as a bit set: bit d for the digit d. */
export const ALL_DIGITS = 0x3ff;

// The reader runs once per pattern source in a process (memoized below), on the first phone
// candidates of its first scan, where its code is still interpreted: a scanner's plans hold
// ~70 KB of sources, and the reader is written for that (one level of functions over module
// state, character codes rather than one-character strings, no slices), where closures per call
// and a regex per `{n,m}` cost ~40 ms of a fresh process's first scan.
let source = '';
let at = 0;
// Whether the part just read can match nothing.
let nullable = false;
// Set when the source uses syntax this reader does not take apart.
let unsure = false;

const PIPE = 124;
const OPEN = 40;
const CLOSE = 41;
const QUESTION = 63;

function alternation(): number {
  let first = 0;
  let empty = false;
  for (;;) {
    first |= sequence();
    empty ||= nullable;
    if (unsure || source.charCodeAt(at) !== PIPE) break;
    at++;
  }
  nullable = empty;
  return first;
}

function sequence(): number {
  let first = 0;
  let empty = true;
  for (let c = source.charCodeAt(at); at < source.length && c !== PIPE && c !== CLOSE; c = source.charCodeAt(at)) {
    const f = quantified();
    if (unsure) return 0;
    if (empty) first |= f;
    empty &&= nullable;
  }
  nullable = empty;
  return first;
}

function quantified(): number {
  const first = atom();
  if (unsure) return 0;
  let empty = nullable;
  for (;;) {
    const c = source.charCodeAt(at);
    if (c === QUESTION || c === 42) {
      empty = true;
      at++;
    } else if (c === 43) {
      at++;
    } else if (c === 123) {
      // {n}, {n,} or {n,m}
      let i = at + 1;
      let n = 0;
      while (isDigitCode(source.charCodeAt(i))) n = n * 10 + source.charCodeAt(i++) - 48;
      if (i === at + 1) return fail();
      if (source.charCodeAt(i) === 44) {
        i++;
        while (isDigitCode(source.charCodeAt(i))) i++;
      }
      if (source.charCodeAt(i) !== 125) return fail();
      if (n === 0) empty = true;
      at = i + 1;
    } else {
      break;
    }
    if (source.charCodeAt(at) === QUESTION) at++; // lazy
  }
  nullable = empty;
  return first;
}

function atom(): number {
  const c = source.charCodeAt(at);
  nullable = false;
  if (c === OPEN) {
    at++;
    if (source.charCodeAt(at) === QUESTION) {
      if (source.charCodeAt(at + 1) !== 58) return fail(); // lookaround, named group
      at += 2;
    }
    const first = alternation();
    if (unsure || source.charCodeAt(at) !== CLOSE) return fail();
    at++;
    return first;
  }
  if (c === 91) return characterClass();
  if (c === 92) {
    const e = source.charCodeAt(at + 1);
    at += 2;
    if (e === 100) return ALL_DIGITS; // \d
    // A back-reference, \D, \w, \b, …: not taken apart.
    if (Number.isNaN(e) || isDigitCode(e) || (e >= 65 && e <= 90) || (e >= 97 && e <= 122)) return fail();
    return 0; // an escaped punctuation character, which no digit is
  }
  if (c === 94 || c === 36) {
    at++;
    nullable = true; // ^ and $ match no character
    return 0;
  }
  // . ) | * + ? {
  if (c === 46 || c === CLOSE || c === PIPE || c === 42 || c === 43 || c === QUESTION || c === 123) return fail();
  at++;
  return isDigitCode(c) ? 1 << (c - 48) : 0;
}

function characterClass(): number {
  at++;
  if (source.charCodeAt(at) === 94) return fail();
  let first = 0;
  for (let c = source.charCodeAt(at); c !== 93; c = source.charCodeAt(at)) {
    if (Number.isNaN(c)) return fail();
    if (c === 92) {
      if (source.charCodeAt(at + 1) !== 100) return fail();
      first = ALL_DIGITS;
      at += 2;
      continue;
    }
    const after = source.charCodeAt(at + 2);
    if (source.charCodeAt(at + 1) === 45 && after !== 93 && !Number.isNaN(after)) {
      if (after === 92) return fail();
      for (let d = 0; d <= 9; d++) if (c <= 48 + d && 48 + d <= after) first |= 1 << d;
      at += 3;
      continue;
    }
    if (isDigitCode(c)) first |= 1 << (c - 48);
    at++;
  }
  at++;
  return first;
}

function fail(): number {
  unsure = true;
  return 0;
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

const read = new Map<string, number>();

/**
 * The set of digits (bit d for the digit d) a non-empty match of `pattern` can begin with; every
 * digit when the source uses syntax this reader does not take apart.
 * @example
 * firstDigits('[2-9]\\d{9}|8(?:00|44)\\d{7}'); // 0b1111111100
 */
export function firstDigits(pattern: string): number {
  let first = read.get(pattern);
  if (first === undefined) {
    source = pattern;
    at = 0;
    nullable = false;
    unsure = false;
    first = alternation();
    if (unsure || at !== pattern.length) first = ALL_DIGITS;
    source = '';
    read.set(pattern, first);
  }
  return first;
}

/** The first digits of patterns read as one alternation (`a|b|c`): those of each, memoized apart. */
export function firstDigitsOfAny(patterns: readonly string[]): number {
  let first = 0;
  for (const p of patterns) first |= firstDigits(p);
  return first;
}

/** Whether `digits` may match a pattern whose first digits are `first` (an empty string may). */
export function mayBegin(first: number, digits: string): boolean {
  const d = digits.charCodeAt(0) - 48;
  return !(d >= 0 && d <= 9) || (first & (1 << d)) !== 0;
}
