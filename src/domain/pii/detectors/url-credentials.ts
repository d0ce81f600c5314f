import { isAlnum, isAlpha, isWhitespace } from '../chars.js';
import { LOOK_BEHIND, MAX_VALUE_LENGTH, type Candidate } from './candidate.js';

// The password in a URL's user information (`postgres://app:hunter2@db.internal:5432/crm`,
// `https://bob:s3cret@api.example.org`, `redis://:pw@cache:6379`): a credential, found as an
// API_KEY. Found from each `://` (indexOf: most texts hold few), the scheme before it read
// back (a letter, then letters, digits, `+`, `-`, `.`, not glued to a word), the user information
// after it read up to its last `@` before the path, query, fragment or a space; the host after
// the `@` must begin (a letter, a digit or `[`). The value is the password, from the first `:`
// to that `@`; where the scheme, `://` and the user name reach further back than LOOK_BEHIND
// (a decision never reads further before a value: the stream redactor keeps no more), the value
// is the whole `user:password`. A template or a mask (`****`, `<password>`, `${DB_PASS}`, `%s`,
// a redaction marker) is no credential.

const SCHEME_MAX = 32;
/** How far past `://` the user information's `@` may be (a value is at most MAX_VALUE_LENGTH). */
const USERINFO_MAX = MAX_VALUE_LENGTH + 64;
const PLACEHOLDER = /^(?:[*x•.#?_-]+|<[^<>]*>|\{\{?[^{}]*\}?\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[sd]|\[[^[\]]*\]|:[A-Za-z_]+)$/i;

export function detectUrlPasswords(text: string, out: Candidate[], from = 0): void {
  for (let i = text.indexOf('://', Math.max(0, from - LOOK_BEHIND)); i !== -1; i = text.indexOf('://', i + 3)) {
    const scheme = schemeStart(text, i);
    if (scheme === -1) continue;
    const user = i + 3;
    let colon = -1;
    let at = -1;
    for (let j = user; j < text.length && j - user <= USERINFO_MAX; j++) {
      const c = text.charCodeAt(j);
      // The path, query or fragment begins, or the URL ends (a space, a quote, an angle bracket).
      if (c === 47 || c === 63 || c === 35 || c === 34 || c === 39 || c === 60 || c === 62 || c === 96 || isWhitespace(c)) break;
      if (c === 58 && colon === -1) colon = j;
      else if (c === 64) at = j;
    }
    if (colon === -1 || at === -1 || colon > at || at === colon + 1) continue;
    const host = text.charCodeAt(at + 1);
    if (!(isAlnum(host) || host === 91)) continue;
    if (PLACEHOLDER.test(text.slice(colon + 1, at))) continue;
    let start = colon + 1 - scheme <= LOOK_BEHIND ? colon + 1 : user;
    if (at - start > MAX_VALUE_LENGTH) start = at - MAX_VALUE_LENGTH;
    if (start >= from) out.push({ type: 'API_KEY', start, end: at, confidence: 0.9 });
  }
}

/** Where the scheme before `://` at `i` begins, or -1: no scheme (`://` alone, a digit first, glued to a word). */
function schemeStart(text: string, i: number): number {
  let s = i;
  while (s > 0 && i - s < SCHEME_MAX && isSchemeChar(text.charCodeAt(s - 1))) s--;
  // The scheme is the run's part from its first letter; a letter, digit or `_` before it glues it to a word.
  while (s < i && !isAlpha(text.charCodeAt(s))) s++;
  if (s === i) return -1;
  const before = text.charCodeAt(s - 1);
  return s > 0 && (isAlnum(before) || before === 95) ? -1 : s;
}

function isSchemeChar(c: number): boolean {
  return isAlnum(c) || c === 43 || c === 45 || c === 46;
}
