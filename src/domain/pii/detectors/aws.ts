import { isAlnum, isDigit, isLower, isUpper } from '../chars.js';
import { LOOK_BEHIND, type Candidate } from './candidate.js';

// AWS secret access keys: 40 characters of base64 (A-Z a-z 0-9 / +) with no prefix of their
// own, so the shape alone would also match hashes and other ids. They count only where the
// text names them: right after an access key id (AKIA…/ASIA…, as in credentials files, CSV
// exports and `aws configure` transcripts) or after a key name (`aws_secret_access_key =`,
// `"SecretAccessKey": "`, `secret key:`). The name or id must start within LOOK_BEHIND of the
// key, which keeps every decision inside the window the stream redactor re-reads.
const KEY_LENGTH = 40;

function isKeyChar(c: number): boolean {
  return isAlnum(c) || c === 47 || c === 43; // '/' '+'
}

// Between a name or id and its key: spaces, quotes, '=', ':', ',', '|', '>', and the markup and
// brackets a key is written in (`**`, `(…)`, `[…]`, `{…}`, `<`) (no letters, so "secret santa list: …"
// is not a key name followed by its key).
const SEPARATORS = new Uint8Array(128);
for (const c of ' \t\n\r"\'`=:,|>;*()[]{}<') SEPARATORS[c.charCodeAt(0)] = 1;

function isSeparator(c: number): boolean {
  return c < 128 && SEPARATORS[c] === 1;
}

/** Mixed case and a digit or '/' or '+': random base64, not a word, a hex hash or a constant. */
function looksRandom(text: string, start: number, end: number): boolean {
  let upper = 0;
  let lower = 0;
  let other = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (isUpper(c)) upper++;
    else if (isLower(c)) lower++;
    else if (isDigit(c) || c === 47 || c === 43) other++;
  }
  return upper >= 4 && lower >= 4 && other >= 1;
}

/** A key right after `from` (past separators), starting within LOOK_BEHIND of `anchor`. */
function keyAfter(text: string, anchor: number, from: number, out: Candidate[]): number {
  let i = from;
  while (i < text.length && i - anchor <= LOOK_BEHIND && isSeparator(text.charCodeAt(i))) i++;
  if (i === from && isKeyChar(text.charCodeAt(i))) return from; // a name runs on into a word
  if (i - anchor > LOOK_BEHIND || isKeyChar(text.charCodeAt(i - 1))) return from;
  const end = i + KEY_LENGTH;
  if (end > text.length) return from;
  for (let j = i; j < end; j++) if (!isKeyChar(text.charCodeAt(j))) return from;
  const after = text.charCodeAt(end);
  if (isKeyChar(after) || after === 61) return from; // longer, or base64 padding: another kind of value
  if (!looksRandom(text, i, end)) return from;
  out.push({ type: 'API_KEY', start: i, end, confidence: 0.9 });
  return end;
}

// `secret`, then optionally `access`, `key`, joined by '_', '-', ' ' or nothing (camelCase).
const NAME_TAIL = /^(?:[_ -]?access)?(?:[_ -]?key)?/i;

/** A key after the name whose `secret` starts at `at`; returns where to look next. */
export function secretAfterName(text: string, at: number, out: Candidate[]): number {
  const tail = NAME_TAIL.exec(text.slice(at + 6, at + 18))![0];
  return keyAfter(text, at, at + 6 + tail.length, out);
}

/** A key right after the access key id at `at` (AKIA/ASIA + 16); returns where to look next. */
export function secretAfterId(text: string, at: number, out: Candidate[]): number {
  let end = at + 4;
  while (end < at + 20 && (isUpper(text.charCodeAt(end)) || isDigit(text.charCodeAt(end)))) end++;
  if (end !== at + 20 || isAlnum(text.charCodeAt(end)) || isAlnum(text.charCodeAt(at - 1))) return at + 4;
  return keyAfter(text, at, end, out);
}
