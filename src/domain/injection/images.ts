// Images (markdown, inline or by reference, and HTML) whose address asks the model to fill in the
// user's data or already carries a sentence of it: rendering one sends the data to its server.
import { decodeBase64 } from './hidden.js';

// An alt text as CommonMark reads one: escapes, code spans, one level of brackets, 200 pieces at
// most (a scan on from every `![` of `![![![…` stays bounded); an `<img` tag's attributes end at a
// `<` or `>` outside a quoted value, not only at a `>` that may never come.
const MD_IMAGE = /!\[(?:\\[^\n]|`[^`\n]{0,200}`|\[[^[\]\n]{0,200}\]|[^[\]\n\\`]){0,200}\]\(\s*<?((?:https?:)?\/\/[^)\s>]+)/gi;
const HTML_IMAGE = /<img\b(?:[^<>"']|"[^"\n]{0,500}"|'[^'\n]{0,500}')*?\bsrc(?:set)?\s*=\s*["']?((?:https?:)?\/\/[^"'\s>]+)/gi;
// A placeholder for the model to fill: {x}, {{x}} (a brace at all: a URL spells it %7B, and a
// placeholder with spaces ends the address inside it), [x], <x>, $X, %7B…%7D, or words that name what to put.
// The words are capitals, read as a word between anything but letters and digits (`SECRET_API_KEY`,
// `USER_CARDS_HERE`: an underscore joins the words of a placeholder).
const TEMPLATE =
  /\{|%7B|%5B|\[[A-Za-z_ ]{2,40}\]|<[A-Za-z_ ]{2,40}>|\$[A-Z_]{3,}|(?<![A-Za-z0-9])(?:INSERT|REPLACE|PLACEHOLDER|YOUR|HERE|USER_?DATA|CONVERSATION|CHAT_?HISTORY|HISTORY|MESSAGES?|PROMPT|SECRETS?|PASSWORDS?|CREDENTIALS?|API_?KEYS?|TOKEN|SUMMARY|EMAIL|CARDS?|SSN)(?![A-Za-z0-9])/;

export interface ImageHit {
  start: number;
  end: number;
  why: 'template' | 'text';
}

/**
 * Images (markdown or HTML) whose query asks the model to fill in data, or already carries a
 * sentence of it: a placeholder in a parameter, or a value that reads as words (three or more,
 * URL-encoded or base64). A long signature or id (hex, no spaces) is not data of the reader's.
 */
export function exfilImages(text: string): ImageHit[] {
  const out: ImageHit[] = [];
  const inline = text.indexOf('![') >= 0 || hasImgTag(text);
  // by reference: a definition's `]:` first (one search, seldom found), then the image that names it
  const defined = text.indexOf(']:') >= 0;
  if (!inline && !defined) return out;
  if (inline) for (const re of [MD_IMAGE, HTML_IMAGE]) for (const m of text.matchAll(re)) judgeImage(out, m[1]!, m.index, m.index + m[0].length);
  if (defined) for (const d of referencedImages(text)) judgeImage(out, d.url, d.start, d.end);
  return out;
}

/** Adds the image at [start, end) to `out` when its address carries data or asks for it. */
function judgeImage(out: ImageHit[], url: string, start: number, end: number): void {
  const q = url.indexOf('?');
  const why = judgeUrl(q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q + 1));
  if (why !== null) out.push({ start, end, why });
}

/** A markdown image by reference: `![alt][label]`, `![label][]` or `![label]`. */
const MD_IMAGE_REF = /!\[([^[\]\n]{0,200})\](?:\[([^[\]\n]{0,100})\])?/g;
/** A link reference definition: `[label]: https://…` at a line's start. */
const MD_DEFINITION = /^[ \t]{0,3}(?:>[ \t]?)*\[([^[\]\n]{1,100})\]:[ \t]*\n?[ \t]*<?((?:https?:)?\/\/[^\s>]+)/gim;

/** A link label as CommonMark matches one: case folded, inner white space one space. */
const label = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();

/** The addresses of the images a text shows by reference (`![chart][1]` and, anywhere, `[1]: https://…`), with where each is defined. */
function referencedImages(text: string): Array<{ url: string; start: number; end: number }> {
  const labels = new Set<string>();
  for (const m of text.matchAll(MD_IMAGE_REF)) {
    if (text[m.index + m[0].length] === '(') continue; // an inline image: read above
    labels.add(label(m[2] ? m[2] : m[1]!));
  }
  const out: Array<{ url: string; start: number; end: number }> = [];
  if (labels.size === 0) return out;
  for (const m of text.matchAll(MD_DEFINITION)) if (labels.has(label(m[1]!))) out.push({ url: m[2]!, start: m.index, end: m.index + m[0].length });
  return out;
}

/** Whether the text has `<img` followed by no word character (/<img\b/i), found by its `<`s. */
function hasImgTag(text: string): boolean {
  for (let i = text.indexOf('<'); i >= 0 && i + 4 <= text.length; i = text.indexOf('<', i + 1)) {
    if ((text.charCodeAt(i + 1) | 0x20) !== 0x69 || (text.charCodeAt(i + 2) | 0x20) !== 0x6d || (text.charCodeAt(i + 3) | 0x20) !== 0x67) continue;
    const next = i + 4 < text.length ? text.charCodeAt(i + 4) : 0x20;
    if (!((next >= 0x30 && next <= 0x39) || (next >= 0x41 && next <= 0x5a) || (next >= 0x61 && next <= 0x7a) || next === 0x5f)) return true;
  }
  return false;
}

function judgeUrl(path: string, query: string): 'template' | 'text' | null {
  // the host too: `https://{user_email}.example/` asks for data in a name its server's resolver sees
  if (TEMPLATE.test(query) || TEMPLATE.test(path.replace(/^(?:https?:)?\/\//, ''))) return 'template';
  for (const pair of query.split('&')) {
    const value = pair.slice(pair.indexOf('=') + 1);
    if (value.length < 24) continue;
    let v = value;
    try {
      v = decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      /* left encoded */
    }
    if (/(?:\S+\s+){3,}\S/.test(v)) return 'text';
    const b = /^[A-Za-z0-9+/_-]{24,}={0,2}$/.test(v) ? decodeBase64(v) : null;
    if (b !== null && /(?:\S+\s+){2,}\S/.test(b)) return 'text';
  }
  return null;
}
