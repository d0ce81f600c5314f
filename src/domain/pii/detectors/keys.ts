import { isAlnum, isDigit, isAlpha, isHex, isLower, isUpper, isWordChar, runsOn, runsOnBefore } from '../chars.js';
import { secretAfterId, secretAfterName } from './aws.js';
import { LOOK_BEHIND, type Candidate } from './candidate.js';

// Well-known credential shapes, found by their prefix. The body must look random (letters and
// digits mixed, long enough), so placeholders such as `sk-your-key-here` or `sk-xxxx…` pass.
// The same pass finds the anchors of AWS secret keys (aws.ts): key names and access key ids.
// Two regexes, not one alternation of every prefix: V8 tries such an alternation at every
// character (a third of a realistic record's scan). Prefixes ending in '-' or '_' are found from
// that character and read back (a lookbehind, longest first: `gsk_` before `sk_`); the others
// start with letters few texts hold in a row. Their matches are taken in order of start, as one
// regex would find them. Before the prefixes' look-behind, the character before the '-' or '_' is
// matched with it: a prefix's last (most dashes of a text follow a digit, and fail there; ×0.9),
// found by V8 with the '-' or '_' as a pair, where a look-behind for it cost the detector 4% more.
export const JOINED_PREFIXES = '(gsk_|sk[-_]|rk_|gh[pousr]_|github_pat_|npm_|hf_|r8_|shp(?:at|ss|ca|pa)_|dop_v1_|xox[abposre]-|glpat-|xai-|pplx-|PMAK-)';
const JOINED = new RegExp(`[kpousrtmf8a1bexiK][-_](?<=${JOINED_PREFIXES})`, 'g');
const LETTERS = /SG\.|A(?:KIA|SIA|Iza)|[Ss]ecret|SECRET/g;
const MAX_BODY = 200;

interface Shape {
  /** Characters the body may contain: bits of KEY_CHARS. */
  body: number;
  min: number;
  max: number;
  confidence: number;
  /** Overrides the letters-and-digits test for bodies from a smaller alphabet. */
  random?: (text: string, start: number, end: number) => boolean;
}

// Each ASCII character's classes, as bits, and a body's alphabet as the classes it takes: reading
// a body is a load a character, where a predicate per shape made the call through `shape.body`
// megamorphic (a tenth of the detector's time on the dense text).
const UPPER = 1;
const LOWER = 2;
const DIGIT = 4;
const DASH = 8;
const UNDERSCORE = 16;
const DOT = 32;
const HEX = 64;
const KEY_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  KEY_CHARS[c] = (isUpper(c) ? UPPER : 0) | (isLower(c) ? LOWER : 0) | (isDigit(c) ? DIGIT : 0) | (c === 45 ? DASH : 0) | (c === 95 ? UNDERSCORE : 0) | (c === 46 ? DOT : 0) | (isHex(c) ? HEX : 0);
}

/** `c` is in the alphabet `body` (bits of KEY_CHARS). */
export function inBody(c: number, body: number): boolean {
  return c < 128 && (KEY_CHARS[c]! & body) !== 0;
}

const alnum = UPPER | LOWER | DIGIT;
const base64url = alnum | DASH | UNDERSCORE;
const upperAlnum = UPPER | DIGIT;
const slack = alnum | DASH;
const githubPat = alnum | UNDERSCORE;

function shapeFor(prefix: string, text: string, at: number): { shape: Shape; bodyStart: number } | null {
  const after = at + prefix.length;
  if (prefix === 'sk-') return { shape: { body: base64url, min: 20, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  if (prefix === 'sk_' || prefix === 'rk_') {
    // Stripe: sk_live_…, rk_test_…
    const mode = text.slice(after, after + 5);
    if (mode !== 'live_' && mode !== 'test_') return null;
    return { shape: { body: alnum, min: 16, max: MAX_BODY, confidence: 0.95 }, bodyStart: after + 5 };
  }
  if (prefix === 'AKIA' || prefix === 'ASIA') return { shape: { body: upperAlnum, min: 16, max: 16, confidence: 0.9, random: variedBody }, bodyStart: after };
  if (prefix === 'github_pat_') return { shape: { body: githubPat, min: 22, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  if (prefix.startsWith('gh')) return { shape: { body: alnum, min: 30, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  if (prefix.startsWith('xox')) return { shape: { body: slack, min: 15, max: MAX_BODY, confidence: 0.9 }, bodyStart: after };
  if (prefix === 'AIza') return { shape: { body: base64url, min: 35, max: 35, confidence: 0.9 }, bodyStart: after };
  if (prefix === 'glpat-') return { shape: { body: base64url, min: 20, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  return VENDORS[prefix] ? { shape: VENDORS[prefix], bodyStart: after } : null;
}

const hex = HEX;
/** SendGrid: 22 base64url characters, a dot, 43 more. */
const sendgrid = base64url | DOT;
const postman = hex | DASH;

/** Every alphabet a body is read in (for the tests). */
export const BODY_ALPHABETS = { alnum, base64url, upperAlnum, slack, githubPat, hex, sendgrid, postman };

/**
 * Vendors whose keys are a fixed prefix and a body of known length: npm, Hugging Face, SendGrid,
 * Groq, xAI, Replicate, Perplexity, Shopify, DigitalOcean, Postman.
 */
const VENDORS: Record<string, Shape> = {
  npm_: { body: alnum, min: 36, max: 36, confidence: 0.95 },
  hf_: { body: alnum, min: 30, max: 40, confidence: 0.9 },
  'SG.': { body: sendgrid, min: 66, max: 66, confidence: 0.95, random: (t, s, e) => t.charCodeAt(s + 22) === 46 && !dotIn(t, s + 23, e) && looksRandom(t, s, e) },
  gsk_: { body: alnum, min: 52, max: 52, confidence: 0.95 },
  'xai-': { body: alnum, min: 80, max: 80, confidence: 0.95 },
  r8_: { body: alnum, min: 37, max: 37, confidence: 0.9 },
  'pplx-': { body: alnum, min: 48, max: 48, confidence: 0.95 },
  shpat_: { body: hex, min: 32, max: 32, confidence: 0.95 },
  shpss_: { body: hex, min: 32, max: 32, confidence: 0.95 },
  shpca_: { body: hex, min: 32, max: 32, confidence: 0.95 },
  shppa_: { body: hex, min: 32, max: 32, confidence: 0.95 },
  dop_v1_: { body: hex, min: 64, max: 64, confidence: 0.95 },
  'PMAK-': { body: postman, min: 59, max: 59, confidence: 0.95, random: (t, s, e) => t.charCodeAt(s + 24) === 45 && looksRandom(t, s, e) },
};

/** Whether text[from, to) holds a '.': a test reads its value, never past it (what follows is another sentence's). */
function dotIn(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 46) return true;
  return false;
}

/**
 * Random-looking: enough letters and digits, both present, which rules out
 * `sk-your-api-key-goes-here`; or, since one random body in sixty has no digit at all, 20
 * letters or more of both cases and of many different ones (`sk-YourKeyHere` is too short,
 * `hf_xxxxxxxx…` too uniform, `sk-ALLCAPSWORDS…` one case).
 */
function looksRandom(text: string, start: number, end: number): boolean {
  let letters = 0;
  let digits = 0;
  let upper = 0;
  let seen = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (isAlpha(c)) {
      if (isUpper(c)) upper++;
      // Which of 26 letters (case folded) it uses.
      seen |= 1 << ((c | 32) - 97);
      letters++;
    }
  }
  if (digits > 0) return letters > 0 && letters + digits >= 16;
  return letters >= 20 && upper >= 3 && letters - upper >= 3 && bitCount(seen) >= 10;
}

/**
 * AWS key ids are base32 (A-Z, 2-7): one in thirty has no digit at all, so variety is the
 * test instead: `AKIAXXXXXXXXXXXXXXXX` and `AKIAEXAMPLEEXAMPLEEX` are placeholders.
 */
function variedBody(text: string, start: number, end: number): boolean {
  // The body is A-Z and 0-9 (36 symbols): a bit each over two words, no set to allocate.
  let letters = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (isUpper(c)) letters |= 1 << (c - 65);
    else digits |= 1 << (c - 48);
  }
  return bitCount(letters) + bitCount(digits) >= 8;
}

function bitCount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

/** `text[i]` is a '-' or '_' after a key, not part of it: no word follows (markdown emphasis, a dash). */
function closesKey(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c === 95) return !runsOn(text, i);
  return c === 45 && !isWordChar(text.charCodeAt(i + 1)) && text.charCodeAt(i + 1) !== 45;
}

/** The next match of JOINED whose '-' or '_' is at or after `i` (its prefix `m[1]` ends with the match), or null. */
export function nextJoined(text: string, i: number): RegExpExecArray | null {
  // From the character before `i`, which a '-' or '_' at `i` is matched with.
  JOINED.lastIndex = Math.max(0, i - 1);
  return JOINED.exec(text);
}

/** Prefixed keys from `from`; AWS anchors from LOOK_BEHIND earlier, since their key may follow in view. */
export function detectKeys(text: string, out: Candidate[], from = 0): void {
  // The next match of each regex starting at or after `pos` (-1: none left), and its prefix.
  let joinedAt = -2;
  let joined = '';
  let lettersAt = -2;
  let letters = '';
  for (let pos = Math.max(0, from - LOOK_BEHIND); ; ) {
    if (joinedAt !== -1 && joinedAt < pos) {
      // The lookbehind may reach back before `pos`: such a prefix was passed over already.
      for (let m = nextJoined(text, pos); ; m = nextJoined(text, m.index + m[0].length)) {
        if (m === null) {
          joinedAt = -1;
          break;
        }
        joinedAt = m.index + m[0].length - m[1]!.length;
        joined = m[1]!;
        if (joinedAt >= pos) break;
      }
    }
    if (lettersAt !== -1 && lettersAt < pos) {
      LETTERS.lastIndex = pos;
      const m = LETTERS.exec(text);
      lettersAt = m === null ? -1 : m.index;
      letters = m === null ? '' : m[0];
    }
    if (joinedAt === -1 && lettersAt === -1) return;
    const useJoined = lettersAt === -1 || (joinedAt !== -1 && joinedAt < lettersAt);
    const at = useJoined ? joinedAt : lettersAt;
    const prefix = useJoined ? joined : letters;
    pos = at + prefix.length;
    if (prefix.length === 6 && (prefix[1] === 'e' || prefix[1] === 'E')) {
      // secret / Secret / SECRET (glpat- is six long too)
      pos = secretAfterName(text, at, out);
      continue;
    }
    if (prefix[0] === 'A' && prefix[1] !== 'I') secretAfterId(text, at, out);
    if (at < from) continue;
    const before = text.charCodeAt(at - 1);
    // task-force, my_sk_live; a dash after a space or at the start is a dash (`— sk-…`, `-sk-…`).
    if (runsOnBefore(text, at) || (before === 45 && isWordChar(text.charCodeAt(at - 2)))) continue;
    const found = shapeFor(prefix, text, at);
    if (!found) continue;
    const { shape, bodyStart } = found;
    let end = bodyStart;
    const ceiling = Math.min(text.length, bodyStart + shape.max + 1);
    while (end < ceiling && inBody(text.charCodeAt(end), shape.body)) end++;
    // A body that may hold a '.' (SendGrid's) never ends in one: a '.' after it ends the sentence.
    while (end > bodyStart && text.charCodeAt(end - 1) === 46) end--;
    pos = Math.max(pos, end);
    // A body of one fixed length that may hold '-' or '_' (AIza…, SG.…, PMAK-…) read one past its
    // length: a '-' or '_' there that no word follows closes it (`_AIza…_`, `AIza…-`).
    if (end - bodyStart === shape.max + 1 && shape.min === shape.max && closesKey(text, end - 1)) end--;
    const length = end - bodyStart;
    if (length < shape.min || length > shape.max) continue;
    if (isAlnum(text.charCodeAt(end))) continue; // fixed-length shapes run on into a longer word
    // A trailing '-' or '_' is punctuation around the key more often than part of it.
    // (Not for a key of one fixed length: its last character is its own.)
    if (shape.min !== shape.max) while (end > bodyStart && (text[end - 1] === '-' || text[end - 1] === '_')) end--;
    if (!(shape.random ?? looksRandom)(text, bodyStart, end)) continue;
    out.push({ type: 'API_KEY', start: at, end, confidence: shape.confidence });
  }
}
