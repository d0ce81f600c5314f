// The digits a match of one of libphonenumber's patterns can begin with, read from the pattern's
// source once, so that a number beginning otherwise is turned down without running the regex:
// the +1 code's 25 plans read together are one alternation of some 150 patterns, all beginning
// with 2-9, which irregexp tries one by one on `0612345678` (1-2 µs a test).
// The patterns use a small part of the syntax (groups, alternation, classes of digits, \d,
// quantifiers); anything else makes the answer every digit, so the set is never too small.

/** Every digit, as a bit set: bit d for the digit d. */
export const ALL_DIGITS = 0x3ff;

class Unsure extends Error {}

/**
 * The set of digits (bit d for the digit d) a non-empty match of `source` can begin with; every
 * digit when the source uses syntax this reader does not take apart.
 * @example
 * firstDigits('[2-9]\\d{9}|8(?:00|44)\\d{7}'); // 0b1111111100
 */
export function firstDigits(source: string): number {
  let at = 0;
  // Each reader returns the digits its part can begin with, and whether the part can match nothing.
  let nullable = false;

  function alternation(): number {
    let first = 0;
    let empty = false;
    for (;;) {
      first |= sequence();
      empty ||= nullable;
      if (source[at] !== '|') break;
      at++;
    }
    nullable = empty;
    return first;
  }

  function sequence(): number {
    let first = 0;
    let empty = true;
    while (at < source.length && source[at] !== '|' && source[at] !== ')') {
      const f = quantified();
      if (empty) first |= f;
      empty &&= nullable;
    }
    nullable = empty;
    return first;
  }

  function quantified(): number {
    const first = atom();
    let empty = nullable;
    for (;;) {
      const c = source[at];
      if (c === '?' || c === '*') {
        empty = true;
        at++;
      } else if (c === '+') {
        at++;
      } else if (c === '{') {
        const m = /^\{(\d+)(?:,\d*)?\}/.exec(source.slice(at));
        if (m === null) throw new Unsure();
        if (Number(m[1]) === 0) empty = true;
        at += m[0].length;
      } else {
        break;
      }
      if (source[at] === '?') at++; // lazy
    }
    nullable = empty;
    return first;
  }

  function atom(): number {
    const c = source[at]!;
    nullable = false;
    if (c === '(') {
      at++;
      if (source.startsWith('?:', at)) at += 2;
      else if (source[at] === '?') throw new Unsure(); // lookaround, named group
      const first = alternation();
      if (source[at] !== ')') throw new Unsure();
      at++;
      return first;
    }
    if (c === '[') return characterClass();
    if (c === '\\') {
      const e = source[at + 1];
      at += 2;
      if (e === 'd') return ALL_DIGITS;
      // A back-reference, \D, \w, \b, …: not taken apart.
      if (e === undefined || /[0-9A-Za-z]/.test(e)) throw new Unsure();
      return 0; // an escaped punctuation character, which no digit is
    }
    if (c === '^' || c === '$') {
      at++;
      nullable = true; // matches no character
      return 0;
    }
    if (c === '.' || c === ')' || c === '|' || c === '*' || c === '+' || c === '?' || c === '{') throw new Unsure();
    at++;
    return isDigitChar(c) ? 1 << (c.charCodeAt(0) - 48) : 0;
  }

  function characterClass(): number {
    at++;
    if (source[at] === '^') throw new Unsure();
    let first = 0;
    while (source[at] !== ']') {
      const c = source[at];
      if (c === undefined) throw new Unsure();
      if (c === '\\') {
        if (source[at + 1] !== 'd') throw new Unsure();
        first = ALL_DIGITS;
        at += 2;
        continue;
      }
      if (source[at + 1] === '-' && source[at + 2] !== ']' && source[at + 2] !== undefined) {
        const hi = source[at + 2]!;
        if (hi === '\\') throw new Unsure();
        for (let d = 0; d <= 9; d++) if (c.charCodeAt(0) <= 48 + d && 48 + d <= hi.charCodeAt(0)) first |= 1 << d;
        at += 3;
        continue;
      }
      if (isDigitChar(c)) first |= 1 << (c.charCodeAt(0) - 48);
      at++;
    }
    at++;
    return first;
  }

  try {
    const first = alternation();
    return at === source.length ? first : ALL_DIGITS;
  } catch (e) {
    if (e instanceof Unsure) return ALL_DIGITS;
    throw e;
  }
}

function isDigitChar(c: string): boolean {
  return c >= '0' && c <= '9';
}

/** Whether `digits` may match a pattern whose first digits are `first` (an empty string may). */
export function mayBegin(first: number, digits: string): boolean {
  const d = digits.charCodeAt(0) - 48;
  return !(d >= 0 && d <= 9) || (first & (1 << d)) !== 0;
}
