// Character classes on UTF-16 code units. Detectors are hand-written scanners, so these are
// the only "regex" they share; keeping them in one place keeps the stream redactor's idea of
// where a value can continue identical to the detectors' idea.

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

export function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}

export function isAlpha(c: number): boolean {
  return isUpper(c) || isLower(c);
}

export function isAlnum(c: number): boolean {
  return isDigit(c) || isAlpha(c);
}

/** Letters, digits and `_`: a value touching one of these is part of a longer word, not a value on its own. */
export function isWordChar(c: number): boolean {
  return isAlnum(c) || c === 95;
}

// Markdown emphasis: one to three '_' between a value and a space, a bracket, punctuation or the
// text's edge (`_value_`, `__value__`, `___value___`) close the value; '_' that touches a letter
// or digit on its far side joins a word (`order_4155550123`, `a@b.com_x`).
export const MAX_EMPHASIS = 3;

/** A value ending just before `i` runs on into a word: a letter, digit or '_' follows, but not emphasis closing it. */
export function runsOn(text: string, i: number): boolean {
  if (!isWordChar(text.charCodeAt(i))) return false;
  let j = i;
  while (j - i < MAX_EMPHASIS && text.charCodeAt(j) === 95) j++;
  return j === i || isWordChar(text.charCodeAt(j));
}

/** A value starting at `i` continues a word: a letter, digit or '_' comes before, but not emphasis opening it. */
export function runsOnBefore(text: string, i: number): boolean {
  if (!isWordChar(text.charCodeAt(i - 1))) return false;
  let j = i - 1;
  while (i - 1 - j < MAX_EMPHASIS && text.charCodeAt(j) === 95) j--;
  return j === i - 1 || isWordChar(text.charCodeAt(j));
}

export function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

export function isWhitespace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

// Phones, cards, IBANs and spaced SSNs are written in groups separated by one space: ASCII,
// or the no-break spaces French typography puts in numbers (`06\u00a012\u00a034\u00a056\u00a078`).
function canEndGroup(c: number): boolean {
  return isDigit(c) || isUpper(c) || c === 41; // ')'
}

function canStartGroup(c: number): boolean {
  return isDigit(c) || isUpper(c) || c === 40; // '('
}

function isGroupSpace(c: number): boolean {
  return c === 32 || c === 0xa0 || c === 0x202f;
}

/**
 * A space that may sit inside a value: a single (ASCII or no-break) space between two group characters.
 * `next` is NaN when the text ends here (unknown yet in a stream): then it may still be one.
 * Every other whitespace ends any value, which is what lets a stream emit text promptly.
 */
export function isSoftSpace(prev: number, c: number, next: number): boolean {
  return isGroupSpace(c) && canEndGroup(prev) && (Number.isNaN(next) || canStartGroup(next));
}

/** The soft-space test at index i of text; the character before i=0 may come from `before`. */
export function softSpaceAt(text: string, i: number): boolean {
  return isSoftSpace(text.charCodeAt(i - 1), text.charCodeAt(i), text.charCodeAt(i + 1));
}
