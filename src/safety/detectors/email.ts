import { isAlnum, isAlpha, isWordChar } from '../chars.js';
import { textBefore, type Candidate } from './candidate.js';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 190;

// `icon@2x.png` and `logo@3x.svg` are asset names, not addresses; none of these is a real TLD.
const FILE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'js', 'mjs', 'cjs', 'ts', 'css', 'scss', 'html', 'json', 'txt', 'pdf', 'yml', 'yaml', 'xml']);

function isLocalChar(c: number): boolean {
  // . _ % + - ' and Latin letters with diacritics (o'neil@…, josé@…); not CJK, which is written without spaces.
  return isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39 || (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7);
}

function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 45;
}

function validDomain(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return false;
  }
  const tld = labels[labels.length - 1]!.toLowerCase();
  if (tld.startsWith('xn--')) return true;
  if (tld.length < 2 || FILE_EXTENSIONS.has(tld)) return false;
  for (let i = 0; i < tld.length; i++) if (!isAlpha(tld.charCodeAt(i))) return false;
  return true;
}

/** Looks only around each '@' (found with indexOf), so clean text costs almost nothing. */
export function detectEmails(text: string, out: Candidate[]): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    at = text.indexOf('@', emailAt(text, at, out));
  }
}

/** Tries the address around the '@' at `at`; returns where to look for the next '@'. */
function emailAt(text: string, at: number, out: Candidate[]): number {
  let start = at;
  const floor = Math.max(0, at - MAX_LOCAL - 1);
  while (start > floor && isLocalChar(text.charCodeAt(start - 1))) start--;
  if (start > 0 && isLocalChar(text.charCodeAt(start - 1))) return at + 1; // local part too long
  // Leading punctuation belongs to the sentence or a quote: 'bob@x.com', ...bob@x.com
  while (start < at && (text[start] === '.' || text[start] === '-' || text[start] === '+' || text[start] === "'")) start++;
  if (start === at || text[at - 1] === '.') return at + 1;
  // https://user:secret@host is a URL with credentials, not an address.
  if (text[start - 1] === ':' && textBefore(text, start).includes('://')) return at + 1;

  let end = at + 1;
  const ceiling = Math.min(text.length, at + 2 + MAX_DOMAIN);
  while (end < ceiling && isDomainChar(text.charCodeAt(end))) end++;
  if (end - at - 1 > MAX_DOMAIN) return at + 1;
  while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
  const after = text.charCodeAt(end);
  if (after === 64 || isWordChar(after)) return at + 1; // a@b.com@c, a@b.com_x
  if (!validDomain(text.slice(at + 1, end))) return at + 1;

  out.push({ type: 'EMAIL', start, end, confidence: 0.97 });
  return end;
}
