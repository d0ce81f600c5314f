import { isAlnum, isDigit, isAlpha, isUpper } from '../chars.js';
import { secretAfterId, secretAfterName } from './aws.js';
import { firstMatch, LOOK_BEHIND, type Candidate } from './candidate.js';

// Well-known credential shapes, found by their prefix. The body must look random (letters and
// digits mixed, long enough), so placeholders such as `sk-your-key-here` or `sk-xxxx…` pass.
// The same pass finds the anchors of AWS secret keys (aws.ts): key names and access key ids.
const PREFIX = /(?:sk|rk)[-_]|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposre]-|AIza|glpat-|[Ss]ecret|SECRET/g;
const MAX_BODY = 200;

interface Shape {
  /** Characters the body may contain. */
  body: (c: number) => boolean;
  min: number;
  max: number;
  confidence: number;
  /** Overrides the letters-and-digits test for bodies from a smaller alphabet. */
  random?: (text: string, start: number, end: number) => boolean;
}

const base64url = (c: number) => isAlnum(c) || c === 45 || c === 95;
const alnum = (c: number) => isAlnum(c);
const upperAlnum = (c: number) => isUpper(c) || isDigit(c);
const slack = (c: number) => isAlnum(c) || c === 45;

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
  if (prefix === 'github_pat_') return { shape: { body: (c) => isAlnum(c) || c === 95, min: 22, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  if (prefix.startsWith('gh')) return { shape: { body: alnum, min: 30, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  if (prefix.startsWith('xox')) return { shape: { body: slack, min: 15, max: MAX_BODY, confidence: 0.9 }, bodyStart: after };
  if (prefix === 'AIza') return { shape: { body: base64url, min: 35, max: 35, confidence: 0.9 }, bodyStart: after };
  if (prefix === 'glpat-') return { shape: { body: base64url, min: 20, max: MAX_BODY, confidence: 0.95 }, bodyStart: after };
  return null;
}

/** Random-looking: enough letters and digits, both present. Rules out `sk-your-api-key-goes-here`. */
function looksRandom(text: string, start: number, end: number): boolean {
  let letters = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (isAlpha(c)) letters++;
  }
  return digits > 0 && letters > 0 && letters + digits >= 16;
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

/** Prefixed keys from `from`; AWS anchors from LOOK_BEHIND earlier, since their key may follow in view. */
export function detectKeys(text: string, out: Candidate[], from = 0): void {
  const re = PREFIX;
  for (let m = firstMatch(re, text, Math.max(0, from - LOOK_BEHIND)); m !== null; m = re.exec(text)) {
    const at = m.index;
    if (m[0].length === 6 && (m[0][1] === 'e' || m[0][1] === 'E')) {
      // secret / Secret / SECRET (glpat- is six long too)
      re.lastIndex = secretAfterName(text, at, out);
      continue;
    }
    if (m[0][0] === 'A' && m[0][1] !== 'I') secretAfterId(text, at, out);
    if (at < from) continue;
    const before = text.charCodeAt(at - 1);
    if (isAlnum(before) || before === 45 || before === 95) continue; // task-force, my_sk_live
    const found = shapeFor(m[0], text, at);
    if (!found) continue;
    const { shape, bodyStart } = found;
    let end = bodyStart;
    const ceiling = Math.min(text.length, bodyStart + shape.max + 1);
    while (end < ceiling && shape.body(text.charCodeAt(end))) end++;
    const length = end - bodyStart;
    re.lastIndex = Math.max(re.lastIndex, end);
    if (length < shape.min || length > shape.max) continue;
    if (isAlnum(text.charCodeAt(end))) continue; // fixed-length shapes run on into a longer word
    // A trailing '-' or '_' is punctuation around the key more often than part of it.
    while (end > bodyStart && (text[end - 1] === '-' || text[end - 1] === '_')) end--;
    if (!(shape.random ?? looksRandom)(text, bodyStart, end)) continue;
    out.push({ type: 'API_KEY', start: at, end, confidence: shape.confidence });
  }
}
