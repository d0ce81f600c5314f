// Text a reader does not see but a model reads: Unicode tag characters, variation selectors
// carrying bytes, runs of zero-width characters encoding bits, base64 (whole or broken into
// lines), hex, binary, percent-encoding, letters in circles or squares, and HTML a browser hides. Each
// finder returns the hidden text (decoded) with where it was, so the detector can read it as it
// reads the rest. (Images whose address carries data out: images.ts.)
import type { Unescaped } from './escapes.js';
import { unitClass, ZERO_WIDTH_RUN, ZERO_WIDTH_UNITS } from './fold-tables.js';

export interface Hidden {
  signal: 'unicode-tags' | 'variation-selectors' | 'zero-width-run' | 'base64-instruction' | 'hex-instruction' | 'encoded-instruction' | 'homoglyph' | 'hidden-html';
  start: number;
  end: number;
  /** The text it hides, decoded. */
  text: string;
  /** Decoded by a guess (guesses.ts: leetspeak, letters spaced out, asterisks): it counts only when it reads as an instruction. */
  guessed?: true;
  /** A guess read with what stands around it: where the disguised part itself is. */
  core?: { start: number; end: number };
}

// ---------- Unicode tags (U+E0000–U+E007F, as surrogate pairs \uDB40\uDC00–\uDC7F) ----------

/** Runs of tag characters read as the ASCII they shadow. A flag's subdivision (🏴 + 5–6 tags) is an emoji, not hidden text. */
export function tagRuns(text: string): Hidden[] {
  const out: Hidden[] = [];
  let i = text.indexOf('\udb40');
  while (i >= 0) {
    const start = i;
    let s = '';
    while (i + 1 < text.length && text.charCodeAt(i) === 0xdb40) {
      const low = text.charCodeAt(i + 1);
      if (low < 0xdc00 || low > 0xdc7f) break;
      const a = low - 0xdc00;
      if (a >= 0x20 && a < 0x7f) s += String.fromCharCode(a);
      i += 2;
    }
    const flag = start >= 2 && text.charCodeAt(start - 2) === 0xd83c && text.charCodeAt(start - 1) === 0xdff4 && s.length <= 7;
    if (!flag && s.length >= 4) out.push({ signal: 'unicode-tags', start, end: i, text: s });
    i = text.indexOf('\udb40', Math.max(i, start + 1));
  }
  return out;
}

// ---------- variation selectors carrying bytes ----------

/** The byte a variation selector at `i` stands for (VS1-16 U+FE00-FE0F: 0-15; VS17-256 U+E0100-E01EF: 16-255) and its length, or null. */
function selectorAt(text: string, i: number): [number, number] | null {
  const c = text.charCodeAt(i);
  if (c >= 0xfe00 && c <= 0xfe0f) return [c - 0xfe00, 1];
  if (c === 0xdb40) {
    const low = text.charCodeAt(i + 1);
    if (low >= 0xdd00 && low <= 0xddef) return [low - 0xdd00 + 16, 2];
  }
  return null;
}

/** Four or more variation selectors in a row (an emoji takes one; a run is a message). */
const SELECTORS = /(?:[\ufe00-\ufe0f]|\udb40[\udd00-\uddef]){4,}/g;

/**
 * Runs of variation selectors read as the bytes they stand for, one each (an emoji followed by
 * invisible selectors spelling a UTF-8 text: "emoji smuggling"). A selector picks a glyph's form
 * and comes one at a time after an emoji or an ideograph; four or more in a row carry data.
 */
export function selectorRuns(text: string): Hidden[] {
  const out: Hidden[] = [];
  // a run spells bytes of 16 and over (any text's) with VS17-256, whose high surrogate is U+DB40
  if (text.indexOf('\udb40') < 0) return out;
  for (const m of text.matchAll(SELECTORS)) {
    const bytes: number[] = [];
    for (let i = m.index, s = selectorAt(text, i); s !== null; i += s[1], s = selectorAt(text, i)) bytes.push(s[0]);
    const txt = bytesAsText(Uint8Array.from(bytes));
    if (txt !== null) keep(out, { signal: 'variation-selectors', start: m.index, end: m.index + m[0].length, text: txt });
  }
  return out;
}

// ---------- zero-width runs ----------

const ZERO_WIDTH = unitClass(ZERO_WIDTH_UNITS);
/** ZERO_WIDTH_RUN or more zero-width code units in a row (the word reader notes whether a text has such a run). */
const ZW = new RegExp(`${ZERO_WIDTH.source}{${ZERO_WIDTH_RUN},}`, 'g');

/**
 * Runs of 8 or more zero-width characters. When a run uses two of them as bits (8 to a
 * character, either way round, the rest as separators), its text is decoded; a run that
 * decodes to nothing readable is still reported when it is long (16+), with no text.
 */
export function zeroWidthRuns(text: string): Hidden[] {
  const out: Hidden[] = [];
  if (!ZERO_WIDTH.test(text)) return out;
  for (const m of text.matchAll(ZW)) {
    const run = m[0];
    const counts = new Map<number, number>();
    for (let k = 0; k < run.length; k++) counts.set(run.charCodeAt(k), (counts.get(run.charCodeAt(k)) ?? 0) + 1);
    const byCount = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    let decoded = '';
    if (byCount.length >= 2) {
      const [zero, one] = [byCount[0]![0], byCount[1]![0]];
      for (const [z, o] of [
        [zero, one],
        [one, zero],
      ] as const) {
        const s = decodeBits(run, z!, o!);
        if (readable(s) > readable(decoded)) decoded = s;
      }
    }
    if (readable(decoded) >= 0.85 && decoded.length >= 3) out.push({ signal: 'zero-width-run', start: m.index, end: m.index + run.length, text: decoded });
    else if (run.length >= 16) out.push({ signal: 'zero-width-run', start: m.index, end: m.index + run.length, text: '' });
  }
  return out;
}

function decodeBits(run: string, zero: number, one: number): string {
  let s = '';
  let byte = 0;
  let bits = 0;
  for (let k = 0; k < run.length; k++) {
    const c = run.charCodeAt(k);
    if (c !== zero && c !== one) continue;
    byte = (byte << 1) | (c === one ? 1 : 0);
    if (++bits === 8) {
      s += String.fromCharCode(byte);
      byte = 0;
      bits = 0;
    }
  }
  return s;
}

/** The share of a string that is printable text (letters, digits, punctuation, spaces). */
function readable(s: string): number {
  if (s.length === 0) return 0;
  let ok = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if ((c >= 0x20 && c < 0x7f) || c === 10 || c === 9 || c === 13 || c >= 0xa0) ok++;
  }
  return ok / s.length;
}

/** How many hidden texts of one kind are read one by one; the rest are read together, as one. */
const HIDDEN_APART = 32;
/** How much decoded text the last, joined one holds at most (the detector's own maxLength). */
const HIDDEN_JOINED = 1 << 20;

/**
 * Adds a hidden text: the first HIDDEN_APART apart, any after them joined into the last of those
 * (its span to the end of the last joined), so that harmless runs in front of an instruction do
 * not push it out of sight, and a text of many runs costs no more classifier calls than one of 32.
 */
function keep(out: Hidden[], h: Hidden): void {
  if (out.length < HIDDEN_APART) {
    out.push(h);
    return;
  }
  const last = out[HIDDEN_APART - 1]!;
  if (last.text.length >= HIDDEN_JOINED) return;
  last.text = `${last.text}\n${h.text}`;
  last.end = h.end;
}

/**
 * The matches of `sticky` (a global regex's copy with the y flag) as `matchAll` of the global one
 * gives them, tried only at `starts` (increasing: every place a match can start, and others): one
 * that starts inside the match before is not tried, as the global search goes on after it.
 */
function* matchesFrom(text: string, sticky: RegExp, starts: Iterable<number>): Generator<RegExpExecArray> {
  let from = 0;
  for (const start of starts) {
    if (start < from) continue;
    sticky.lastIndex = start;
    const m = sticky.exec(text);
    if (m === null) continue;
    yield m;
    from = start + m[0].length;
  }
}

// ---------- base64 ----------

/** Code units of base64 and base64url: A–Z a–z 0–9 + / _ - */
const B64 = new Uint8Array(0x80);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') B64[c.charCodeAt(0)] = 1;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_LENIENT = new TextDecoder('utf-8');

/** Decodes base64 (or base64url) and reads it as UTF-8; null when it is not text. */
export function decodeBase64(run: string): string | null {
  let s = run.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  s = s.slice(0, s.length - (s.length % 4 === 1 ? 1 : 0));
  while (s.length % 4 !== 0) s += '=';
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
  return bytesAsText(bytes);
}

/** Decoded bytes read as UTF-8 text a person could read; null when they are not (an id, a key, binary). */
function bytesAsText(bytes: Uint8Array): string | null {
  let controls = 0;
  for (const b of bytes) if ((b < 0x20 && b !== 9 && b !== 10 && b !== 13) || b === 0x7f) controls++;
  // each control byte is a character readable() does not count, and there are no more
  // characters than bytes: past 1 in 20 the text cannot be readable
  if (controls * 20 > bytes.length) return null;
  // decoded leniently, without the exception a strict decoder throws at the first invalid byte:
  // a U+FFFD in the text is an invalid sequence, unless the bytes hold U+FFFD itself
  let txt = UTF8_LENIENT.decode(bytes);
  if (txt.includes('\ufffd')) {
    if (!holdsReplacementCharacter(bytes)) return null;
    try {
      txt = UTF8.decode(bytes);
    } catch {
      return null;
    }
  }
  return readable(txt) >= 0.95 ? txt : null;
}

/** Whether the ASCII table (`B64`, `HEXISH`) takes the code unit `c`. */
const takes = (table: Uint8Array, c: number) => c < 0x80 && table[c] === 1;

/**
 * The stretches of 24 or more code units that `table` takes, each followed both ways to its
 * ends. Such a stretch covers a multiple of 24, so only those positions are looked at.
 */
function* stretches(text: string, table: Uint8Array): Generator<{ start: number; end: number }> {
  const n = text.length;
  let done = 0; // the end of the last stretch looked at
  for (let probe = 0; probe < n; probe += 24) {
    if (probe < done || !takes(table, text.charCodeAt(probe))) continue;
    let start = probe;
    while (start > done && takes(table, text.charCodeAt(start - 1))) start--;
    let end = probe + 1;
    while (end < n && takes(table, text.charCodeAt(end))) end++;
    done = end;
    if (end - start >= 24) yield { start, end };
  }
}

/** The runs of 24 or more base64 code units, each with up to two `=` after it: what the regex /[A-Za-z0-9+/_-]{24,}={0,2}/g finds. */
function* base64Runs(text: string): Generator<{ index: number; run: string }> {
  for (const { start, end: e } of stretches(text, B64)) {
    let end = e;
    if (end < text.length && text.charCodeAt(end) === 0x3d) end++;
    if (end < text.length && text.charCodeAt(end) === 0x3d) end++;
    yield { index: start, run: text.slice(start, end) };
  }
}

/** Whether the bytes hold U+FFFD encoded (EF BF BD). */
function holdsReplacementCharacter(bytes: Uint8Array): boolean {
  for (let k = bytes.indexOf(0xef); k >= 0 && k + 2 < bytes.length; k = bytes.indexOf(0xef, k + 1)) if (bytes[k + 1] === 0xbf && bytes[k + 2] === 0xbd) return true;
  return false;
}

/** Base64 runs that decode to readable text with spaces in it (words, not an id or a key), whole or broken into lines. */
export function base64Texts(text: string): Hidden[] {
  const out: Hidden[] = [];
  for (const m of base64Runs(text)) {
    const run = m.run;
    // a path or a word chain is no base64: it needs both cases or digits, and no long lowercase word run
    if (!/[A-Z]/.test(run) || !/[a-z]/.test(run)) continue;
    const txt = decodeBase64(run);
    if (txt === null || !/\s\S+\s/.test(txt)) continue;
    keep(out, { signal: 'base64-instruction', start: m.index, end: m.index + run.length, text: txt });
  }
  for (const m of brokenBase64(text)) keep(out, m);
  return out;
}

/** Base64 broken into lines: 3 or more lines that are each one piece of 8-76 code units (global: read it with matchAll, which copies it, never exec or test). */
export const BROKEN_B64 = /(?<![A-Za-z0-9+/=])(?:[A-Za-z0-9+/]{8,76}[ \t]*\r?\n[ \t]*){2,}[A-Za-z0-9+/]{2,76}={0,2}(?![A-Za-z0-9+/=])/g;
const BROKEN_B64_AT = new RegExp(BROKEN_B64.source, 'y');
/** The line break after a match's first line: the next line is one piece of 8-76 code units and a line break (every match has its second line so). */
const BROKEN_B64_BREAK = /\n(?=[ \t]*[A-Za-z0-9+/]{8,76}[ \t]*\r?\n)/g;
const isBase64Unit = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;

/**
 * BROKEN_B64's matches, exactly as `text.matchAll(BROKEN_B64)` gives them, tried only where one
 * can start: a match's first line ends in a piece of base64 (all of it: nothing of base64 before
 * it) and a line break after which comes a line of one piece; the regex run over the whole text
 * tried every word of prose, and was a seventh of the detector's time on mixed tool output.
 */
export function brokenBase64Matches(text: string): Generator<RegExpExecArray> {
  return matchesFrom(text, BROKEN_B64_AT, brokenBase64Starts(text));
}

function* brokenBase64Starts(text: string): Generator<number> {
  for (const b of text.matchAll(BROKEN_B64_BREAK)) {
    let end = b.index;
    if (text.charCodeAt(end - 1) === 0x0d) end--;
    while (end > 0 && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
    let start = end;
    while (start > 0 && end - start <= 76 && isBase64Unit(text.charCodeAt(start - 1))) start--;
    if (end - start >= 8 && end - start <= 76) yield start;
  }
}

/** A line inside a text that is one piece of base64 (8 to 76 code units): what base64 broken into lines has. */
const BASE64_LINE = /\n[ \t]*[A-Za-z0-9+/]{8,76}\r?\n/;

/**
 * Base64 a writer broke into lines (MIME's 76, a PEM's 64, any width from 8, indented or not),
 * which the runs above (no line break inside) see only line by line, or not at all when the lines
 * are short. A writer breaks it at one width: lines of one length, then at most a shorter last one;
 * words of prose on the lines before or after are left out (one of that length may still lead: up
 * to two are dropped when the rest reads as text). Looked for only in a text with such a line
 * (BASE64_LINE).
 */
function brokenBase64(text: string): Hidden[] {
  const out: Hidden[] = [];
  if (!BASE64_LINE.test(text)) return out;
  for (const m of brokenBase64Matches(text)) {
    const pieces = [...m[0].matchAll(/\S+/g)].map((p) => ({ s: p[0], at: m.index + p.index }));
    for (let a = 0; a < pieces.length; ) {
      const width = pieces[a]!.s.length;
      let b = a + 1;
      while (b < pieces.length && pieces[b]!.s.length === width) b++;
      if (b - a >= 2) {
        const found = readPieces(pieces, a, b, b < pieces.length && pieces[b]!.s.length <= width);
        if (found !== null) out.push(found);
      }
      a = b;
    }
  }
  return out;
}

/**
 * The text pieces[a, b) of one width hold, with the shorter piece after them when `tail` (a
 * word of prose may be that piece: then it is read without), and up to two before dropped.
 */
function readPieces(pieces: ReadonlyArray<{ s: string; at: number }>, a: number, b: number, tail: boolean): Hidden | null {
  for (const last of tail ? [b + 1, b] : [b])
    for (let from = a; from <= a + 2 && last - from >= 3; from++) {
      const run = pieces
        .slice(from, last)
        .map((p) => p.s)
        .join('');
      if (run.length < 24 || !/[A-Z]/.test(run) || !/[a-z]/.test(run)) break;
      const txt = decodeBase64(run);
      if (txt === null || !/\s\S+\s/.test(txt)) continue;
      const end = pieces[last - 1]!;
      return { signal: 'base64-instruction', start: pieces[from]!.at, end: end.at + end.s.length, text: txt };
    }
  return null;
}

// ---------- hex ----------

/** Hex digits, and what separates a byte's pairs in `\x41\x42` or `41 42`. */
const HEXISH = new Uint8Array(0x80);
for (const c of '0123456789abcdefABCDEF\\x ') HEXISH[c.charCodeAt(0)] = 1;
/** 12 or more bytes in hex: digits in pairs, `\x`-prefixed pairs, or pairs separated by spaces. */
const HEX_RUN = /(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Za-z])|(?:\\x[0-9A-Fa-f]{2}){12,}|(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2} ){11,}[0-9A-Fa-f]{2}(?![0-9A-Za-z])/g;

/**
 * Hex runs that decode to readable UTF-8 text with spaces in it (words): an instruction spelt in
 * hex to pass a filter that reads words. A hash, a UUID or a key decodes to bytes that are no
 * text. As for base64, only every 24th code unit is looked at (a run covers one), and the
 * stretch of hex digits and separators around it is read with the regex.
 */
export function hexTexts(text: string): Hidden[] {
  return spelledBytes(text, HEXISH, HEX_RUN, 'hex-instruction', (run) => Buffer.from(run.replace(/\\x| /g, ''), 'hex'));
}

/**
 * The runs of `re` in the stretches `table` takes (every 24th code unit looked at, a run covers
 * one; the stretch read with a code unit either side, for the lookarounds) whose bytes, as
 * `bytesOf` reads them, are readable UTF-8 text with spaces in it (words).
 */
function spelledBytes(text: string, table: Uint8Array, re: RegExp, signal: Hidden['signal'], bytesOf: (run: string) => Uint8Array): Hidden[] {
  const out: Hidden[] = [];
  for (const { start, end } of stretches(text, table)) {
    const from = Math.max(0, start - 1);
    const stretch = text.slice(from, Math.min(text.length, end + 1));
    re.lastIndex = 0;
    for (let m = re.exec(stretch); m !== null; m = re.exec(stretch)) {
      const txt = bytesAsText(bytesOf(m[0]));
      if (txt === null || !/\s\S+\s/.test(txt)) continue;
      keep(out, { signal, start: from + m.index, end: from + m.index + m[0].length, text: txt });
    }
  }
  return out;
}

// ---------- binary ----------

/** Binary digits and the spaces between bytes. */
const BITISH = new Uint8Array(0x80);
for (const c of '01 ') BITISH[c.charCodeAt(0)] = 1;
/** 8 or more bytes written as 8 binary digits each, apart by one space or together. */
const BIT_RUN = /(?<![0-9A-Za-z])(?:[01]{8} ){7,}[01]{8}(?![0-9A-Za-z])|(?<![0-9A-Za-z])(?:[01]{8}){8,}(?![0-9A-Za-z])/g;

/**
 * Bytes written in binary (`01001001 01100111 01101110…`) that decode to readable UTF-8 text with
 * words: an instruction spelt so to pass a filter that reads words (CyberSecEval's token
 * smuggling). A bitmap, a mask or a flag field decodes to no text. Read as `encoded-instruction`.
 */
export function binaryTexts(text: string): Hidden[] {
  return spelledBytes(text, BITISH, BIT_RUN, 'encoded-instruction', (run) => {
    const bits = run.replace(/ /g, '');
    const bytes = new Uint8Array(bits.length / 8);
    for (let k = 0; k < bytes.length; k++) bytes[k] = Number.parseInt(bits.slice(k * 8, k * 8 + 8), 2);
    return bytes;
  });
}

// ---------- letters spelt as escapes or references ----------

/** Letters spelt as escapes or references (`&#73;gnore`, `\u0049gnore`) that make a disguise: a writer escapes none. */
const SPELT_LETTERS = 8;

/**
 * Each stretch of letters a text spelt as escapes or references (escapes.ts: `Unescaped.spelt`),
 * out to the words they stand in, read as hidden text (decoded, as the model reads it; `t` is the
 * decoded text). Stretches apart are read apart: an address spelt so against spam harvesters at a
 * page's top and another at its foot are two words, not the page between them.
 */
export function speltLetters(u: Unescaped | null, t: string): Hidden[] {
  const out: Hidden[] = [];
  for (const s of u?.spelt ?? []) {
    if (s.letters < SPELT_LETTERS) continue;
    let start = s.start;
    while (start > 0 && !/\s/.test(t[start - 1]!)) start--;
    let end = s.end;
    while (end < t.length && !/\s/.test(t[end]!)) end++;
    keep(out, { signal: 'encoded-instruction', start, end, text: t.slice(start, end) });
  }
  return out;
}

// ---------- percent-encoding ----------

/** A stretch of 8 or more percent-encoded bytes, plain characters of a word or `+` between them, outside an address (global: read it with matchAll only). */
export const PERCENT_RUN = /(?<![\w%.+~-])[A-Za-z0-9.+_~-]{0,24}(?:%[0-9A-Fa-f]{2}[A-Za-z0-9.+_~-]{0,24}){8,}/g;
const PERCENT_RUN_AT = new RegExp(PERCENT_RUN.source, 'y');
/** A percent-encoded byte: where a stretch's first one may be. */
const PERCENT_BYTE = /%[0-9A-Fa-f]{2}/g;
/** What a stretch's plain characters are (PERCENT_RUN's class). */
const isPercentPlain = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2b || c === 0x5f || c === 0x7e || c === 0x2d;

/**
 * PERCENT_RUN's matches, exactly as `text.matchAll(PERCENT_RUN)` gives them, tried only where one
 * can start: at the plain characters (at most 24, all there are) before a percent-encoded byte.
 * Run over the whole text the regex tried every word, a twelfth of the detector's time on mixed
 * tool output that held a few addresses with `%20` in them.
 */
export function percentRunMatches(text: string): Generator<RegExpExecArray> {
  return matchesFrom(text, PERCENT_RUN_AT, percentRunStarts(text));
}

function* percentRunStarts(text: string): Generator<number> {
  for (const b of text.matchAll(PERCENT_BYTE)) {
    let start = b.index;
    while (start > 0 && b.index - start <= 24 && isPercentPlain(text.charCodeAt(start - 1))) start--;
    if (b.index - start <= 24) yield start;
  }
}
/** What makes a stretch's word an address: a scheme, `www.`, a path from the root, a host and its path. */
const ADDRESS = /:\/\/|^www\.|^\/|^[a-z0-9-]+(?:\.[a-z0-9-]+)+\//i;

/** Three percent-encoded bytes close together: found at the speed of a scan for `%` (a text's percentages have no hex after them). */
const PERCENT_NEAR = /%[0-9A-Fa-f]{2}[^%\s]{0,24}%[0-9A-Fa-f]{2}[^%\s]{0,24}%[0-9A-Fa-f]{2}/;

/**
 * Text spelt in percent-encoding (`%49%67%6E…`, or words joined by `%20`) outside an address,
 * decoded: a model reads it, a filter that reads words does not (`note=%57%68…` too). A stretch
 * inside a URL (a word with a scheme, `www.`, a root path or a host and path before it) is the
 * address's own and is left to the image check below.
 */
export function percentTexts(text: string): Hidden[] {
  const out: Hidden[] = [];
  if (text.indexOf('%') < 0 || !PERCENT_NEAR.test(text)) return out;
  for (const m of percentRunMatches(text)) {
    // inside an address (its path, its query) the encoding is the address's own: the image check reads those
    let word = m.index;
    while (word > 0 && m.index - word < 512 && !/[\s"'<>()[\]]/.test(text[word - 1]!)) word--;
    if (ADDRESS.test(text.slice(word, m.index + 1))) continue;
    const bytes = Buffer.from(
      m[0].replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
      'latin1',
    );
    const txt = bytesAsText(bytes);
    if (txt === null || !/\s\S+\s/.test(txt)) continue;
    keep(out, { signal: 'encoded-instruction', start: m.index, end: m.index + m[0].length, text: txt });
  }
  return out;
}

// ---------- letters in circles and squares ----------

/** The ASCII letter an enclosed letter reads as, or -1: ⒜-⒵ Ⓐ-Ⓩ ⓐ-ⓩ in the BMP; 🄐-🄩 🄰-🅉 🅐-🅩 🅰-🆉 as surrogate pairs (high D83C). */
function enclosedLetter(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0x249c && c <= 0x24b5) return 0x61 + c - 0x249c;
  if (c >= 0x24b6 && c <= 0x24cf) return 0x61 + c - 0x24b6;
  if (c >= 0x24d0 && c <= 0x24e9) return 0x61 + c - 0x24d0;
  if (c !== 0xd83c) return -1;
  const low = text.charCodeAt(i + 1);
  for (const first of [0xdd10, 0xdd30, 0xdd50, 0xdd70, 0xdde6]) if (low >= first && low < first + 26) return 0x61 + low - first;
  return -1;
}
/** An enclosed letter: enclosedLetter's ranges. */
const ENCLOSED = /[\u249c-\u24e9]|\ud83c[\udd10-\udd29\udd30-\udd49\udd50-\udd69\udd70-\udd89\udde6-\uddff]/g;
/** How far apart two enclosed letters may be and still be one run (a word or two written out between them). */
const ENCLOSED_GAP = 16;
/** The fewest enclosed letters that make a disguise (an ⓘ for information or a Ⓡ is a symbol). */
const ENCLOSED_LETTERS = 6;

/**
 * Letters in circles, in parentheses or in squares (the negative ones too, which Unicode does not
 * decompose) read as the ASCII letters they show: a model reads `ⓘⓖⓝⓞⓡⓔ` as "ignore". The lines
 * that hold them are read with each such letter replaced, the rest as written.
 */
export function enclosedTexts(text: string): Hidden[] {
  const out: Hidden[] = [];
  // runs of enclosed letters, ENCLOSED_GAP or fewer code units apart: a list lettered Ⓐ, Ⓑ, Ⓒ at a
  // text's top and an ⓘ at its foot are two runs of a few letters, not a disguise between them
  let letters = 0;
  let first = -1;
  let last = -1;
  const read = () => {
    if (letters < ENCLOSED_LETTERS) return;
    // the lines that hold the run, each such letter read as the letter it shows
    const start = text.lastIndexOf('\n', first) + 1;
    const lineEnd = text.indexOf('\n', last);
    const end = lineEnd < 0 ? text.length : lineEnd;
    keep(out, { signal: 'homoglyph', start, end, text: text.slice(start, end).replace(ENCLOSED, (c) => String.fromCharCode(enclosedLetter(c, 0))) });
  };
  for (const m of text.matchAll(ENCLOSED)) {
    if (letters > 0 && m.index - last > ENCLOSED_GAP) {
      read();
      letters = 0;
    }
    if (letters++ === 0) first = m.index;
    last = m.index + m[0].length;
  }
  read();
  return out;
}

// ---------- HTML hidden from a reader ----------

const HIDING_STYLE =
  /display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|font-size\s*:\s*(?:0(?:\.0\d*)?|\.0\d*)(?:px|pt|em|rem|%)?\s*(?:;|"|'|!|$)|opacity\s*:\s*(?:0(?:\.0\d*)?|\.0\d*)\s*(?:;|"|'|!|$)|(?:^|[;"'\s])color\s*:\s*(?:#fff(?:fff)?\b|white\b|rgba?\(\s*255\s*,\s*255\s*,\s*255\s*(?:,\s*1(?:\.0+)?\s*)?\)|rgba\(\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*0(?:\.0+)?\s*\)|transparent\b)|(?:left|top|text-indent)\s*:\s*-\d{3,}|clip(?:-path)?\s*:\s*(?:rect\(0|inset\(50%)|transform\s*:\s*scale\(\s*0(?:\.0+)?\s*[,)]|font-size\s*:\s*(?:0?\.\d+|1)px/i;
const OPEN_TAG = /<([a-z][a-z0-9]*)\b([^<>]*?)>/gi;
const HIDDEN_ATTR = /(?:^|\s)(?:hidden(?:\s|=|$)|aria-hidden\s*=\s*["']?true)/i;
const STYLE_ATTR = /style\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)/i;
const TAGS = /<[^<>]*>/g;

/** A text colour and a background of the same value in one style (`color:#fefefe;background:#fefefe`). */
const COLOR = /(?:^|[;"'\s])color\s*:\s*([^;"'!]+)/i;
const BACKGROUND = /background(?:-color)?\s*:\s*([^;"'!]+)/i;
const ZERO_SIZE = /(?:^|[;"'\s])(?:height|width|max-height|max-width)\s*:\s*0(?:px)?\s*(?:;|"|'|!|$)/i;
const OVERFLOW_HIDDEN = /overflow\s*:\s*hidden/i;
/** `<font color="white">`. */
const WHITE_FONT = /(?:^|\s)color\s*=\s*["']?(?:#fff(?:fff)?|white)\b/i;

/** Whether an element's attributes hide its text from a reader: a hiding style, the text in the background's colour, `hidden`, `aria-hidden`, a white `<font>`. */
function hides(tag: string, attrs: string): boolean {
  if (HIDDEN_ATTR.test(attrs)) return true;
  if (tag === 'font' && WHITE_FONT.test(attrs)) return true;
  const style = STYLE_ATTR.exec(attrs)?.[1];
  if (style === undefined) return false;
  if (HIDING_STYLE.test(style)) return true;
  // no room and what overflows it hidden (tested apart: one regex looking on from every `height:0;` to an `overflow` was quadratic)
  if (ZERO_SIZE.test(style) && OVERFLOW_HIDDEN.test(style)) return true;
  const color = COLOR.exec(style)?.[1]?.trim().toLowerCase();
  return color !== undefined && color === BACKGROUND.exec(style)?.[1]?.trim().toLowerCase();
}

/** Text inside HTML comments and inside elements hidden by a style or an attribute. */
export function hiddenHtml(text: string): Hidden[] {
  const out: Hidden[] = [];
  if (text.indexOf('<') < 0) return out;
  // a comment runs to its `-->`, or to the text's end as a browser reads one left open (found once:
  // a search from every `<!--` to the end was quadratic in a text of many open ones)
  for (let at = text.indexOf('<!--'); at >= 0; ) {
    const close = text.indexOf('-->', at + 4);
    const end = close < 0 ? text.length : close + 3;
    const inner = text.slice(at + 4, close < 0 ? end : close).trim();
    if (inner.length >= 12) keep(out, { signal: 'hidden-html', start: at, end, text: inner });
    at = close < 0 ? -1 : text.indexOf('<!--', end);
  }
  // each tag's first closing tag found after the last search from before it (-1: none to the end):
  // the same search is not made again from each of many hidden elements of one tag
  const closes = new Map<string, { re: RegExp; from: number; at: number }>();
  let readTo = 0; // how far hidden text has been read: an element ending inside it was read with it
  // what the searches and reads may cost in all, linear in the text however its elements nest or overlap
  let budget = 4 * text.length + 4096;
  for (const m of text.matchAll(OPEN_TAG)) {
    const attrs = m[2]!;
    if (attrs.length < 6) continue;
    const tag = m[1]!.toLowerCase();
    if (!hides(tag, attrs)) continue;
    const from = m.index + m[0].length;
    let found = closes.get(tag);
    if (found === undefined || from < found.from || (found.at >= 0 && from > found.at)) {
      // `</b` is not `</br>`; a search in the text itself (a lowercased copy can be longer: `İ`)
      const re = found?.re ?? new RegExp(`</${tag}(?![a-z0-9])`, 'gi');
      re.lastIndex = from;
      const hit = re.exec(text);
      closes.set(tag, (found = { re, from, at: hit === null ? -1 : hit.index }));
      budget -= (hit === null ? text.length : hit.index) - from;
    }
    const close = found.at;
    // an element left open reads as far as a browser would show it, at most 2,000 code units; what of
    // that was read already with an element before it is not read again
    const end = close < 0 ? Math.min(text.length, from + 2000) : close;
    if (end <= readTo) continue;
    const start = close < 0 ? Math.max(from, readTo) : from;
    budget -= end - start;
    if (budget < 0) break;
    readTo = end;
    const inner = text.slice(start, end).replace(TAGS, ' ').replace(/\s+/g, ' ').trim();
    if (inner.length >= 12) keep(out, { signal: 'hidden-html', start: m.index, end, text: inner });
  }
  return out;
}
