import { isAlnum, isAlpha, isDigit, MAX_EMPHASIS, runsOn } from '../chars.js';
import { textBefore, type Candidate } from './candidate.js';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 190;

// `icon@2x.png` and `logo@3x.svg` are asset names, not addresses; none of these is a real TLD.
const FILE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'js', 'mjs', 'cjs', 'ts', 'css', 'scss', 'html', 'json', 'txt', 'pdf', 'yml', 'yaml', 'xml']);

// Internationalised addresses (RFC 6531 local parts, IDNA domains: jürgen@müller.de,
// коля@пример.рф, 用户@例子.广告): letters, marks and digits of any script, one table entry
// per UTF-16 code unit filled on first sight, so ASCII text never pays for it.
const UNICODE_WORD = /[\p{L}\p{M}\p{N}]/u;
const seen = new Uint8Array(0x10000); // 0 not yet seen, 1 word, 2 not

const MARK = /\p{M}/u;

/** A combining mark (a letter's accent, a Thai vowel sign): a cut does not start a value on one. */
function isMark(c: number): boolean {
  return c >= 0x300 && MARK.test(String.fromCharCode(c));
}

function isUnicodeWord(c: number): boolean {
  let v = seen[c]!;
  if (v === 0) {
    v = UNICODE_WORD.test(String.fromCharCode(c)) ? 1 : 2;
    seen[c] = v;
  }
  return v === 1;
}

/**
 * Thai, Lao, Myanmar, Khmer, Han, kana and Hangul: scripts written without spaces, so prose in them
 * runs into an address glued to it (`ติดต่อjane@x.com`) where Latin prose would leave a space.
 */
function isUnspaced(c: number): boolean {
  if (c < 0x3040) return (c >= 0x0e00 && c <= 0x0eff) || (c >= 0x1000 && c <= 0x109f) || (c >= 0x1780 && c <= 0x17ff);
  return c <= 0x30ff || (c >= 0x3400 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff);
}

// An ASCII character's place in an address, as bits of one table (a load where the tests were a
// chain of compares for each character read around each '@').
const LOCAL = 1;
const DOMAIN = 2;
const ASCII_PLACE = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  // . _ % + - ' (o'neil@…) in a local part, . - in a domain.
  const local = isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39;
  const domain = isAlnum(c) || c === 46 || c === 45;
  ASCII_PLACE[c] = (local ? LOCAL : 0) | (domain ? DOMAIN : 0);
}

/** Letters, digits and . _ % + - ' of ASCII, and letters of any script (josé@…, почта@…); not NaN, past a text's end. */
export function isLocalChar(c: number): boolean {
  return c < 0x80 ? (ASCII_PLACE[c]! & LOCAL) !== 0 : c >= 0x80 && isUnicodeWord(c);
}

/** Letters, digits, '.' and '-' of ASCII, and letters of any script; not NaN. */
export function isDomainChar(c: number): boolean {
  return c < 0x80 ? (ASCII_PLACE[c]! & DOMAIN) !== 0 : c >= 0x80 && isUnicodeWord(c);
}

/**
 * `请联系bob@x.com`, `bob@x.com请回复` or `ติดต่อbob@x.com`: where a script without spaces meets another
 * script's letters, the address ends. ASCII digits and punctuation belong to either (`สมชาย2024@…`,
 * `สม-ชาย@…`, `jane@ไทย2.com`: no break).
 */
function scriptBreak(a: number, b: number): boolean {
  return (a >= 0x0e00 || b >= 0x0e00) && isUnspaced(a) !== isUnspaced(b) && (a >= 0x80 || isAlpha(a)) && (b >= 0x80 || isAlpha(b));
}

/** Labels of 1-63 characters, none starting or ending with '-', at least two; read in place (no slice). */
function validDomain(text: string, from: number, to: number): boolean {
  let labelStart = from;
  let lastLabel = from;
  let labels = 0;
  for (let i = from; i <= to; i++) {
    if (i < to && text.charCodeAt(i) !== 46) continue;
    const length = i - labelStart;
    if (length === 0 || length > 63 || text.charCodeAt(labelStart) === 45 || text.charCodeAt(i - 1) === 45) return false;
    labels++;
    lastLabel = labelStart;
    labelStart = i + 1;
  }
  if (labels < 2) return false;
  return (tldInPlace ? asciiTld(text, lastLabel, to) : undefined) ?? validTld(text.slice(lastLabel, to).toLowerCase());
}

/** The top-level domain (lower-cased) is one: no file extension, letters (ASCII or of one other script), or IDNA's `xn--`. */
function validTld(tld: string): boolean {
  if (tld.startsWith('xn--')) return true;
  if (FILE_EXTENSIONS.has(tld)) return false;
  // An ASCII TLD has letters only; an internationalised one (.рф, .广告, .भारत) letters and marks.
  const ascii = tld.charCodeAt(0) < 0x80;
  if (ascii && tld.length < 2) return false;
  for (let i = 0; i < tld.length; i++) {
    const c = tld.charCodeAt(i);
    if (ascii ? !isAlpha(c) : c < 0x80 || !isUnicodeWord(c)) return false;
  }
  return true;
}

/**
 * validTld of text[from, to) lower-cased when it is all ASCII, read in place (slicing and
 * lower-casing it was a fifth of the detector's time on the near-miss text); undefined for
 * another script, which lower-casing can make ASCII (the Kelvin sign is a `k`).
 */
function asciiTld(text: string, from: number, to: number): boolean | undefined {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) >= 0x80) return undefined;
  if (to - from >= 4 && (text.charCodeAt(from) | 0x20) === 120 && (text.charCodeAt(from + 1) | 0x20) === 110 && text.charCodeAt(from + 2) === 45 && text.charCodeAt(from + 3) === 45) return true;
  if (to - from <= MAX_EXTENSION && EXTENSION_CODES.has(alnumCode(text, from, to))) return false;
  if (to - from < 2) return false;
  for (let i = from; i < to; i++) if (!isAlpha(text.charCodeAt(i))) return false;
  return true;
}

// FILE_EXTENSIONS as numbers (alnumCode), looked up without a string. Six bits a character are
// exact in a double up to 8 characters: a longer extension would number two TLDs alike.
const MAX_EXTENSION = Math.max(...[...FILE_EXTENSIONS].map((e) => e.length));
if (MAX_EXTENSION > 8) throw new Error(`email.ts: a file extension of ${MAX_EXTENSION} characters; alnumCode numbers 8 at most exactly`);
const EXTENSION_CODES = new Set([...FILE_EXTENSIONS].map((e) => alnumCode(e, 0, e.length)));

/** text[from, to) (ASCII letters, either case, and digits, as extensions are) as one number, six bits a character; NaN for anything else. */
function alnumCode(text: string, from: number, to: number): number {
  let code = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) code = code * 64 + (c - 47);
    else if (isAlpha(c)) code = code * 64 + ((c | 0x20) - 86);
    else return Number.NaN;
  }
  return code;
}

let tldInPlace = true;

/** Turns reading an ASCII top-level domain in place off (and on): the tests compare both ways. */
export function readTldInPlace(on: boolean): void {
  tldInPlace = on;
}

/** Looks only around each '@' (found with indexOf), so clean text costs almost nothing. */
export function detectEmails(text: string, out: Candidate[], from = 0): void {
  let at = text.indexOf('@', from);
  while (at !== -1) {
    at = text.indexOf('@', emailAt(text, at, out));
  }
}

/**
 * `https://user:secret@host`: the run from `start` is a URL's password, not an address's local part.
 * (`start > 0`: an address at a text's start read text[-1], which V8's optimised code had not seen
 * and threw away.)
 */
function urlPassword(text: string, start: number): boolean {
  return start > 0 && text.charCodeAt(start - 1) === 58 && textBefore(text, start).includes('://');
}

/** Tries the address around the '@' at `at`; returns where to look for the next '@'. */
function emailAt(text: string, at: number, out: Candidate[]): number {
  let start = at;
  const floor = Math.max(0, at - MAX_LOCAL - 1);
  while (start > floor && isLocalChar(text.charCodeAt(start - 1)) && !(start < at && scriptBreak(text.charCodeAt(start - 1), text.charCodeAt(start)))) start--;
  // A run longer than any local part (`xxxx…xxxx-jane.doe@example.com`: padding no mailbox has) still
  // ends in the address a reader sees: its last MAX_LOCAL characters are read as the local part. The
  // run's own start is not looked for (it may lie any distance back, past what a stream holds: no
  // decision reads further than LOOK_BEHIND before a value), so a URL's password longer than that is
  // read as an address's end too: its last MAX_LOCAL characters are redacted, its start is not (one of
  // MAX_LOCAL + 1 is a URL's still: its ':' is in sight). A run of exactly MAX_LOCAL + 1 is too
  // long as well. The cut may fall on a combining mark (its letter left out) or inside padding's
  // underscores: the span starts after them.
  if (at - start > MAX_LOCAL) {
    if (urlPassword(text, start)) return at + 1;
    start = at - MAX_LOCAL;
    while (start < at && (text.charCodeAt(start) === 95 || isMark(text.charCodeAt(start)))) start++;
  }
  // Leading punctuation belongs to the sentence or a quote: 'bob@x.com', ...bob@x.com
  while (start < at && (text[start] === '.' || text[start] === '-' || text[start] === '+' || text[start] === "'")) start++;
  if (start === at || text[at - 1] === '.') return at + 1;
  if (urlPassword(text, start)) return at + 1;
  // A local part right after another address's '@' is no address's (`a@b@c.com`): in a URL, the
  // end of a password holding an '@' (`mongodb://app:pa@ss@cluster0…`), which the URL's reading
  // takes whole. A handle's '@' before it (`@jane@mastodon.social`) begins no address: read.
  if (start > 1 && text.charCodeAt(start - 1) === 64 && isLocalChar(text.charCodeAt(start - 2))) return at + 1;

  let end = at + 1;
  const ceiling = Math.min(text.length, at + 2 + MAX_DOMAIN);
  while (end < ceiling && isDomainChar(text.charCodeAt(end)) && !(end > at + 1 && scriptBreak(text.charCodeAt(end - 1), text.charCodeAt(end)))) end++;
  if (end - at - 1 > MAX_DOMAIN) return at + 1;
  while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
  const after = text.charCodeAt(end);
  if (after === 64 || (runsOn(text, end) && !scriptBreak(text.charCodeAt(end - 1), after))) return at + 1; // a@b.com@c, a@b.com_x
  if (!validDomain(text, at + 1, end)) {
    // `bob@x.com—thanks`: a dash glued after the address (an em dash folds to '-') ran into its
    // top-level domain, which holds none; the address ends before it.
    // Read within the domain only: a search past it would make a text of `x@y-` repeated quadratic.
    let dot = end - 1;
    while (dot > at && text.charCodeAt(dot) !== 46) dot--;
    let dash = dot + 1;
    while (dash < end && text.charCodeAt(dash) !== 45) dash++;
    if (dot === at || dash === dot + 1 || dash === end || !validDomain(text, at + 1, dash)) return at + 1;
    end = dash;
  }
  // `_bob@x.com_`: markdown emphasis, whose opening '_' the local part took in.
  if (after === 95) for (let k = 0; k < MAX_EMPHASIS && start < at - 1 && text.charCodeAt(start) === 95; k++) start++;

  out.push({ type: 'EMAIL', start, end, confidence: 0.97 });
  return end;
}
