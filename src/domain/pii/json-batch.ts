// Whole JSON documents (tool answers) scanned in one pass. The streaming walker of json.ts is
// lenient (bare text, single quotes) and gives every string a redactor of its own: per string it
// costs closures, a key split and a scan with its setup, which dominates a list answer of
// thousands of short strings. Here a strict parser finds each value's text (the same text the
// walker would scan: key context first) and says whether the document is JSON at all, so no
// separate JSON.parse is needed; `mayHoldPii` then scans those texts joined (joined.ts).
//
// Same results as the walker: a valid document goes through jsonTexts and rebuild exactly as
// redactJsonText would write it (strings with escapes re-escaped canonically, numbers holding
// PII turned into strings), text outside values copied as it came.
import { scannerFor } from './redact.js';
import type { ScanOptions } from './types.js';
import { isDigit } from './chars.js';
import { Ints } from './ints.js';
import { escapeJson, keyWords, SIMPLE } from './json.js';
import { joinTexts, textAt } from './joined.js';

/** A JSON document's values as their scans see them, and how to write it back. */
export interface JsonTexts {
  /**
   * Each distinct text once, in order of first appearance: the key context, then the value's
   * text. A list answer repeats its keys and many values, and a text's scan depends on it alone.
   */
  readonly distinct: readonly string[];
  /** How many characters of each distinct text are key context (`phone number: `), not the value. */
  readonly contexts: readonly number[];
  /** Per string (keys too) and number, in document order: its text's index in `distinct`. */
  readonly ids: Int32Array;
  /**
   * The document with each value's scan output (context included, as the scan returned it; by
   * index in `ids`) in place of the value; null, undefined or the text itself: as it came.
   */
  rebuild(outputs: ReadonlyArray<string | null | undefined>): string;
}

const enum Expect {
  Value,
  ValueOrClose,
  Key,
  KeyOrClose,
  Colon,
  After,
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const HEX4 = /^[0-9a-fA-F]{4}$/;
/** Characters a JSON string holds as they are: all but the quote, the backslash and controls. */
const PLAIN_RUN = /[^"\\\u0000-\u001f]*/y;

function skipWs(s: string, i: number): number {
  while (isWs(s.charCodeAt(i))) i++;
  return i;
}

/** End of the true, false or null at `i`, or -1. */
function literalEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : null;
  return word !== null && s.startsWith(word, i) ? i + word.length : -1;
}

// Keys repeat in every record of a list answer: their words are worked out once.
const WORDS = new Map<string, string | null>();
const MAX_WORDS = 4096;
function wordsOf(key: string): string | null {
  let w = WORDS.get(key);
  if (w === undefined) {
    w = keyWords(key);
    if (WORDS.size >= MAX_WORDS) WORDS.clear();
    WORDS.set(key, w);
  }
  return w;
}

/** End of the number at `i` (JSON's grammar), or -1. */
function numberEnd(s: string, i: number): number {
  if (s.charCodeAt(i) === 0x2d) i++;
  if (s.charCodeAt(i) === 0x30) i++;
  else if (isDigit(s.charCodeAt(i))) while (isDigit(s.charCodeAt(i))) i++;
  else return -1;
  if (s.charCodeAt(i) === 0x2e) {
    if (!isDigit(s.charCodeAt(++i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  const e = s.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    const sign = s.charCodeAt(++i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  return i;
}

/** The strict pass of jsonTexts. A class, not closures over the position: it stays in registers. */
class Reader {
  readonly distinct: string[] = [];
  readonly contexts: number[] = [];
  readonly ids = new Ints(256);
  // Per value, two numbers: where its raw text starts and ends (a string's inside its quotes).
  // A number's start is stored as -1 - start, the end of a string with escapes as -1 - end.
  readonly spans = new Ints(256);
  // Per key context (its words; null: none), each value's index in `distinct`.
  private readonly seen = new Map<string | null, Map<string, number>>();
  private readonly objects: boolean[] = [];
  private readonly keys: Array<string | null> = [];
  /** The words of the key that names the next value (json.ts: the walker's `key`). */
  private key: string | null = null;
  /** The text of the string just read. */
  private text = '';

  constructor(private readonly json: string) {}

  /** True when the text is one JSON document (object, array or string), its values gathered. */
  read(): boolean {
    const json = this.json;
    const n = json.length;
    let expect = Expect.Value as Expect;
    let lastKey = '';
    let i = skipWs(json, 0);
    const first = json.charCodeAt(i);
    if (first !== 0x7b && first !== 0x5b && first !== 0x22) return false;
    for (; (i = skipWs(json, i)) < n; ) {
      const c = json.charCodeAt(i);
      const objects = this.objects;
      if (expect === Expect.Value || expect === Expect.ValueOrClose) {
        const closing = c === 0x5d && expect === Expect.ValueOrClose;
        expect = Expect.After;
        if (closing) i = this.close(i);
        else if (c === 0x22) {
          if ((i = this.string(i)) < 0) return false;
        } else if (c === 0x7b || c === 0x5b) {
          this.keys.push(this.key);
          objects.push(c === 0x7b);
          // An object's first string is a key: no field names it.
          if (c === 0x7b) this.key = null;
          expect = c === 0x7b ? Expect.KeyOrClose : Expect.ValueOrClose;
          i++;
        } else if (c === 0x2d || isDigit(c)) {
          const end = numberEnd(json, i);
          if (end < 0) return false;
          this.add(json.slice(i, end), -1 - i, end);
          i = end;
        } else if ((i = literalEnd(json, i)) < 0) return false;
      } else if (expect === Expect.Key || expect === Expect.KeyOrClose) {
        if (c === 0x7d && expect === Expect.KeyOrClose) {
          i = this.close(i);
          expect = Expect.After;
        } else {
          if (c !== 0x22 || (i = this.string(i)) < 0) return false;
          lastKey = this.text;
          expect = Expect.Colon;
        }
      } else if (expect === Expect.Colon) {
        if (c !== 0x3a) return false;
        this.key = wordsOf(lastKey);
        expect = Expect.Value;
        i++;
      } else {
        if (objects.length === 0) return false; // text after the document
        const inObject = objects[objects.length - 1]!;
        if (c === 0x2c) {
          if (inObject) this.key = null;
          expect = inObject ? Expect.Key : Expect.Value;
          i++;
        } else if (c === (inObject ? 0x7d : 0x5d)) i = this.close(i);
        else return false;
      }
    }
    return expect === Expect.After && this.objects.length === 0;
  }

  private close(i: number): number {
    this.objects.pop();
    this.key = this.keys.pop() ?? null;
    return i + 1;
  }

  private add(value: string, start: number, end: number): void {
    const key = this.key;
    let values = this.seen.get(key);
    if (values === undefined) this.seen.set(key, (values = new Map()));
    let id = values.get(value);
    if (id === undefined) {
      id = this.distinct.push(key === null ? value : `${key}: ${value}`) - 1;
      this.contexts.push(key === null ? 0 : key.length + 2);
      values.set(value, id);
    }
    this.ids.push(id);
    this.spans.push(start);
    this.spans.push(end);
  }

  /** The string whose opening quote is at `i`: gathered, its text in `text`; where it ends, or -1 if malformed. */
  private string(i: number): number {
    const json = this.json;
    let j = i + 1;
    let from = j;
    let text = '';
    let hasEscape = false;
    for (;;) {
      PLAIN_RUN.lastIndex = j;
      PLAIN_RUN.test(json);
      j = PLAIN_RUN.lastIndex;
      const c = json.charCodeAt(j);
      if (c === 0x22) break;
      if (c !== 0x5c) return -1; // a control character, or the end of the text (NaN)
      hasEscape = true;
      text += json.slice(from, j);
      const e = json.charCodeAt(j + 1);
      if (e === 0x75) {
        const hex = json.slice(j + 2, j + 6);
        if (!HEX4.test(hex)) return -1;
        text += String.fromCharCode(parseInt(hex, 16));
        j += 6;
      } else {
        const ch = SIMPLE[json[j + 1]!];
        if (ch === undefined) return -1;
        text += ch;
        j += 2;
      }
      from = j;
    }
    this.text = text += json.slice(from, j);
    this.add(text, i + 1, hasEscape ? -1 - j : j);
    return j + 1;
  }
}

/**
 * A JSON document's values, each with the key that names it, read in one strict pass; null when
 * the text is not one JSON object, array or string (what JSON.parse would refuse).
 * @example
 * const doc = jsonTexts('{"phone":"4155550123"}')!;
 * doc.distinct; // ['phone', 'phone: 4155550123'] (the key, then the value after its key)
 * doc.rebuild([null, 'phone: [PHONE_REDACTED]']); // '{"phone":"[PHONE_REDACTED]"}'
 */
export function jsonTexts(json: string): JsonTexts | null {
  const r = new Reader(json);
  if (!r.read()) return null;
  const { distinct, contexts } = r;
  const ids = r.ids.items.subarray(0, r.ids.length);
  const spans = r.spans.items;
  return {
    distinct,
    contexts,
    ids,
    rebuild(outputs) {
      let out = '';
      let at = 0;
      for (let k = 0; k < ids.length; k++) {
        const o = outputs[k];
        const text = distinct[ids[k]!]!;
        const changed = o !== null && o !== undefined && o !== text;
        const s = spans[2 * k]!;
        const e = spans[2 * k + 1]!;
        if (!changed && e >= 0) continue;
        // What follows the key context is the value's output (json.ts afterContext).
        const value = (changed ? o : text).slice(contexts[ids[k]!]);
        const start = s < 0 ? -1 - s : s;
        const end = e < 0 ? -1 - e : e;
        const raw = json.slice(start, end);
        out += json.slice(at, start) + (s < 0 ? (value === raw ? raw : `"${escapeJson(value)}"`) : escapeJson(value));
        at = end;
      }
      return at === 0 ? json : out + json.slice(at);
    },
  };
}

/**
 * Which of `texts` a scan with `opts` may find something in, worked out by scanning them joined
 * (joined.ts): false is certain (scanning that text alone finds nothing), true means scan it alone.
 * @example mayHoldPii(['Dana', 'dana@example.org'])  // [false, true]
 */
export function mayHoldPii(texts: readonly string[], opts?: ScanOptions): boolean[] {
  const flags = new Array<boolean>(texts.length).fill(false);
  const scanner = scannerFor(opts);
  for (const joined of joinTexts(texts)) {
    for (const c of scanner.candidates(joined.text)) {
      for (let k = textAt(joined, c.start), last = textAt(joined, Math.max(c.start, c.end - 1)); k <= last; k++) flags[joined.first + k] = true;
    }
  }
  return flags;
}
