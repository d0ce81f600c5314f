// Images (markdown, inline or by reference, and HTML) whose address asks the model to fill in the
// user's data or already carries a sentence of it: rendering one sends the data to its server.
import { decodeBase64 } from './hidden.js';

// An alt text as CommonMark reads one: escapes, code spans, one level of brackets, 200 pieces at
// most (a scan on from every `![` of `![![![…` stays bounded); an `<img` tag's attributes end at a
// `<` or `>` outside a quoted value, not only at a `>` that may never come.
const MD_IMAGE = /!\[(?:\\[^\n]|`[^`\n]{0,200}`|\[[^[\]\n]{0,200}\]|[^[\]\n\\`]){0,200}\]\(\s*<?((?:https?:)?\/\/[^)\s>]+)/gi;
const HTML_IMAGE = /<img\b(?:[^<>"']|"[^"\n]{0,500}"|'[^'\n]{0,500}')*?\bsrc(?:set)?\s*=\s*["']?((?:https?:)?\/\/[^"'\s>]+)/gi;
// Words that name what to put, in capitals (`SECRET_API_KEY`, `USER_CARDS_HERE`: an underscore joins
// the words of a placeholder), read as a word between anything but letters and digits.
const NAMED =
  /(?<![A-Za-z0-9])(?:INSERT|REPLACE|PLACEHOLDER|YOUR|HERE|USER_?DATA|CONVERSATION|CHAT_?HISTORY|HISTORY|MESSAGES?|PROMPT|SECRETS?|PASSWORDS?|CREDENTIALS?|API_?KEYS?|TOKEN|SUMMARY|EMAIL|CARDS?|SSN)(?![A-Za-z0-9])/;
// A placeholder for the model to fill: {x}, {{x}}, [x], <x>, $X or ${x}, %7B…%7D, %5B…%5D (a brace
// cut by the address's end, a placeholder with spaces ending it, is read on in the text).
const PLACEHOLDER = /\{([^{}]{0,80})(?:\}|$)|%7B(.{0,80}?)(?:%7D|$)|%5B(.{0,80}?)(?:%5D|$)|\[([A-Za-z_ ']{2,40})\]|<([A-Za-z_ ']{2,40})>|\$\{?([A-Za-z_]{3,})/gi;
/**
 * What a placeholder asks for that the reader has (the conversation, the user's data, a secret), or
 * words of a sentence (`{the user's saved cards}`); a template's own variables name none of it
 * (`{owner}/{repo}` in a README's badge, `{{ package_name }}`, `${USER_ID}`, `{LAT},{LNG}`, a map
 * tile's `{z}/{x}/{y}`, an avatar's `{username}`: a name a page fills in as often as a model would).
 */
const WHAT_THE_READER_HAS =
  /(?:^|[^a-z])(?:data|info(?:rmation)?|context|memory|history|conversations?|chats?|messages?|prompts?|summar(?:y|ies)|secrets?|passwords?|passwd|credentials?|keys?|apikey|tokens?|e-?mails?|mail|cards?|ssn|phone|address(?:es)?|personal|private|confidential|saved|cookies?|sessions?|answers?|responses?|input|output|contents?|text|query|questions?|notes?|documents?|results?|transcripts?|dialog(?:ue)?s?|recap|creds|pw|pin|otp|iban|accounts?|balances?|salar(?:y|ies)|env|environment|locations?|medical|diagnos[ie]s)(?![a-z])/i;
const SENTENCE = /\S+\s+\S+\s+\S+/;

/** Whether `part` of an address (its host and path, or its query; `rest`: the text after the address) asks the model to fill in data. */
function asksForData(part: string, rest: string): boolean {
  if (NAMED.test(part)) return true;
  for (const m of part.matchAll(PLACEHOLDER)) {
    let what = m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5] ?? m[6] ?? '';
    // cut by the address's end: read on to the brace that closes it
    if (m.index + m[0].length === part.length && (m[0].startsWith('{') || /^%7B/i.test(m[0])) && !/\}|%7D$/i.test(m[0])) what += rest.slice(0, rest.search(/[}\n]|$/));
    try {
      what = decodeURIComponent(what);
    } catch {
      /* left encoded */
    }
    if (WHAT_THE_READER_HAS.test(what) || SENTENCE.test(what.trim())) return true;
  }
  return false;
}

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
  if (inline) for (const re of [MD_IMAGE, HTML_IMAGE]) for (const m of text.matchAll(re)) judgeImage(out, m[1]!, m.index, m.index + m[0].length, text);
  if (defined) for (const d of referencedImages(text)) judgeImage(out, d.url, d.start, d.end, text);
  return out;
}

/** Adds the image at [start, end) to `out` when its address (ending at `end` in `text`) carries data or asks for it. */
function judgeImage(out: ImageHit[], url: string, start: number, end: number, text: string): void {
  const q = url.indexOf('?');
  const rest = text.slice(end, end + 100);
  const why = judgeUrl(q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q + 1), rest);
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

/**
 * How many words a value holds, counted in one pass (a regex of repeated `\S+\s+` tried a long run
 * without a space from each of its characters: a 20,000-character address 0.9 s, 1 MB hours).
 */
function words(v: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < v.length; i++) {
    const space = /\s/.test(v[i]!);
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

function judgeUrl(path: string, query: string, rest: string): 'template' | 'text' | null {
  // the host too: `https://{user_email}.example/` asks for data in a name its server's resolver sees
  if (asksForData(query, rest) || asksForData(path.replace(/^(?:https?:)?\/\//, ''), query === '' ? rest : '')) return 'template';
  for (const pair of query.split('&')) {
    const value = pair.slice(pair.indexOf('=') + 1);
    if (value.length < 24) continue;
    let v = value;
    try {
      v = decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      /* left encoded */
    }
    if (words(v) >= 4) return 'text';
    const b = /^[A-Za-z0-9+/_-]{24,}={0,2}$/.test(v) ? decodeBase64(v) : null;
    if (b !== null && words(b) >= 3) return 'text';
  }
  return null;
}
