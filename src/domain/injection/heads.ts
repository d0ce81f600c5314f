// What a regex's matches begin with, read from its source: the literal words (lowercased, at
// most WORD_LENGTH code units each) every alternative starts with, and where a match starts
// around them; for a regex that starts at a line, what can begin it past spaces and tabs. The
// Gate (starts.ts) scans a text for these words once and tries each regex only where one begins.
//
// Each regex's words are read from its source (`lead`): literal characters, small classes,
// groups, `?`, `\b`, `^`, and a character of any value before the first word (`(?:^|[\s(])`);
// reading stops at anything else, keeping the words so far, which are then prefixes of what
// the matches begin with (and only a word's first WORD_LENGTH code units are looked for). An
// alternative that begins with nothing known leaves its regex to run over the whole text.

/** What a regex's matches begin with: a literal word and where the match starts around it. */
export interface Head {
  /** Lowercased. */
  word: string;
  /** The match starts from `lo` to `hi` code units after where the word begins (`lo` ≤ 0 when something of bounded width comes first). */
  lo: number;
  hi: number;
  /** Matches start at a word boundary: the code unit before the word is no ASCII word character. */
  boundary: boolean;
}

/** What a part of a regex source begins with, as read by `lead`. */
interface Lead {
  /** Literal prefixes, one of which every match begins with ('' when unknown). */
  words: string[];
  /** Code units a match may take before the words (a `(?:^|[\s(])`). */
  pre: number;
  /** `\b` right before the words. */
  boundary: boolean;
  /** `^` before the words: the match starts at the text's (or a line's, with the m flag) start. */
  anchor: boolean;
  /** The part was read to its end (else reading stopped at something it does not read). */
  end: boolean;
}

/** The whole part is literal: its words are all its matches (or their first WORD_LENGTH code units). */
const complete = (l: Lead) => l.end && l.pre === 0 && !l.anchor;

/** Literal prefixes kept per alternative at most: past it, no longer ones are made. */
const MAX_WORDS = 512;
/** Code units of a word looked for (a longer word is looked for by its start). */
export const WORD_LENGTH = 8;

/** The end of the group or alternative starting at `i`: the index of its `)` or `|`, or the end. */
function scanTo(src: string, i: number, stopAtBar: boolean): number {
  let depth = 0;
  for (; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < src.length && src[i] !== ']'; i++) if (src[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')') {
      if (depth === 0) return i;
      depth--;
    } else if (c === '|' && depth === 0 && stopAtBar) return i;
  }
  return i;
}

/** The alternatives of the group body src[from, to). */
function alternatives(src: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; ; ) {
    const j = Math.min(scanTo(src, i, true), to);
    out.push(src.slice(i, j));
    if (j >= to) return out;
    i = j + 1;
  }
}

/** A quantifier at src[i]: its least count, whether it allows more than one, and its length in the source (0: none). */
function quantifier(src: string, i: number): { min: number; many: boolean; len: number } {
  const c = src[i];
  let q: { min: number; many: boolean; len: number };
  if (c === '?') q = { min: 0, many: false, len: 1 };
  else if (c === '*') q = { min: 0, many: true, len: 1 };
  else if (c === '+') q = { min: 1, many: true, len: 1 };
  else if (c === '{') {
    const m = /^\{(\d+)(,\d*)?\}/.exec(src.slice(i));
    if (!m) return { min: 1, many: false, len: 0 }; // a `{` of its own
    q = { min: Number(m[1]), many: m[2] !== undefined || Number(m[1]) > 1, len: m[0].length };
  } else return { min: 1, many: false, len: 0 };
  if (src[i + q.len] === '?') q.len++; // lazy
  return q;
}

/** Escaped characters that stand for themselves. */
const SIMPLE_ESCAPES = `.-/'’|\\[](){}*+?^$:"<>!=,#&~@%;\`_ `;
const isSimpleEscape = (c: string) => c.length === 1 && SIMPLE_ESCAPES.includes(c);
const CONTROL_ESCAPE: Record<string, string> = { n: '\n', t: '\t', r: '\r' };

/**
 * The character an escape at src[i] (a backslash) stands for, and the escape's length: `\.`,
 * `\n`, `\u00e9`, `\xe9` (a bundler writes a regex's non-ASCII characters so); null for a class
 * escape (`\s`, `\w`…), an assertion or anything else.
 */
function escaped(src: string, i: number): { char: string; len: number } | null {
  const e = src[i + 1] ?? '';
  const control = CONTROL_ESCAPE[e];
  if (control !== undefined) return { char: control, len: 2 };
  if (isSimpleEscape(e)) return { char: e, len: 2 };
  const hex = e === 'u' ? 4 : e === 'x' ? 2 : 0;
  const digits = src.slice(i + 2, i + 2 + hex);
  if (hex > 0 && digits.length === hex && /^[0-9a-fA-F]+$/.test(digits)) return { char: String.fromCharCode(Number.parseInt(digits, 16)), len: 2 + hex };
  return null;
}

/** The characters of a class body without ranges, negation or class escapes; null otherwise. */
function classChars(body: string): string[] | null {
  if (body.startsWith('^')) return null;
  const out: string[] = [];
  for (let i = 0; i < body.length; i++) {
    let c = body[i]!;
    if (c === '\\') {
      const e = escaped(body, i);
      if (e === null) return null;
      c = e.char;
      i += e.len - 1;
    } else if (c === '-' && i > 0 && i < body.length - 1) return null;
    out.push(c);
  }
  return out;
}

/**
 * Each of `words` followed by each of `tails`, or null past MAX_WORDS. Only a word's first
 * WORD_LENGTH code units are looked for: a word that long is a prefix enough, and grows no more.
 */
function cross(words: string[], tails: string[]): string[] | null {
  const out = new Set<string>();
  for (const w of words) {
    if (w.length >= WORD_LENGTH) out.add(w);
    else for (const t of tails) out.add((w + t).slice(0, WORD_LENGTH));
    if (out.size > MAX_WORDS) return null;
  }
  return [...out];
}

const SPECIAL = '\\^$.[]()|?*+{}';
const QUANTIFIERS = '?*+{';

/** Escapes of no word character: white space, a line break, a tab. */
const NO_WORD_ESCAPES = 'sntr';
const isWordUnit = (c: string) => /^[A-Za-z0-9_]$/.test(c);

/**
 * Whether a lookbehind of the regex source `src` holds only after no ASCII word character (or at
 * a line's start): it reads literal characters, classes without negation or ranges, `\s` `\n`
 * `\t`, groups, alternatives, `^` and quantifiers, none of a word, and matches nothing only at `^`.
 * False for anything else.
 */
function noWordCharacters(src: string): boolean {
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (c === '\\') {
      const e = escaped(src, i);
      if (e !== null) {
        if (isWordUnit(e.char)) return false;
        i += e.len;
      } else if (NO_WORD_ESCAPES.includes(src[i + 1] ?? '')) i += 2;
      else return false;
    } else if (c === '[') {
      if (src[i + 1] === '^') return false;
      let j = i + 1;
      for (; j < src.length && src[j] !== ']'; j++) {
        if (src[j] === '\\') {
          const e = escaped(src, j);
          if (e !== null) {
            if (isWordUnit(e.char)) return false;
            j += e.len - 1;
          } else if (NO_WORD_ESCAPES.includes(src[j + 1] ?? '')) j++;
          else return false;
        } else if ((src[j] === '-' && j > i + 1 && src[j + 1] !== ']') || isWordUnit(src[j]!)) return false;
      }
      i = j + 1;
    } else if (c === '{') {
      const q = /^\{\d+(?:,\d*)?\}/.exec(src.slice(i));
      if (q === null) return false;
      i += q[0].length;
    } else if (c === '(') {
      if (src.startsWith('(?:', i)) i += 3;
      else return false; // a capture, a lookaround: not read
    } else if (c === '.' || c === '$' || isWordUnit(c)) return false;
    else i++; // ) | ^ ? * + and characters of no word
  }
  // nor may it match nothing after a word character (`\s?`, `[ \t]{0,3}` alone)
  const after = new RegExp(`(?<=${src})`, 'y');
  after.lastIndex = 1;
  return !after.test('a');
}

/**
 * Whether a negative lookbehind of the regex source `src` refuses every ASCII word character
 * before the position: it is `\w`, or one class without negation that takes each of them (`[\wà-ÿ]`; not
 * `[a-zäöü]`, after which a digit may stand, nor `[a-z]` read without the i flag, after which a capital).
 */
function notAfterWord(src: string): boolean {
  if (src === '\\w') return true;
  if (!/^\[[^^]/.test(src)) return false;
  let end = 1;
  while (end < src.length && src[end] !== ']') end += src[end] === '\\' ? 2 : 1;
  if (end !== src.length - 1) return false;
  // Read in both modes, as the regex's own flags are not known here (`\u{41}` is an A with the u
  // flag, five characters without): each mode that takes the class must refuse every word character.
  let read = 0;
  for (const flags of ['u', '']) {
    let re: RegExp;
    try {
      re = new RegExp(`^${src}$`, flags);
    } catch {
      continue; // (an escape one mode refuses: that mode is not the regex's)
    }
    read++;
    for (let c = 0; c < 0x80; c++) if (isWordUnit(String.fromCharCode(c)) && !re.test(String.fromCharCode(c))) return false;
  }
  return read > 0;
}

/** One item of a regex source: what it matches, and where the next begins (a quantifier is read apart). */
type Item =
  | { kind: 'assertion'; boundary?: boolean; anchor?: boolean } // takes nothing: \b, \B, ^, $, a lookaround
  | { kind: 'chars'; chars: string[] } // one of these (characters, or a run of plain ones)
  | { kind: 'any' } // one character, of unknown value
  | { kind: 'group'; leads: Lead[]; noWord: boolean } // what each of its alternatives begins with; whether it takes no word character (noWordCharacters)
  | { kind: 'unknown' };

function item(src: string, i: number): { item: Item; end: number } {
  const c = src[i]!;
  if (c === '\\') {
    const e = src[i + 1] ?? '';
    if (e === 'b' || e === 'B') return { item: { kind: 'assertion', boundary: e === 'b' }, end: i + 2 };
    const char = escaped(src, i);
    if (char !== null) return { item: { kind: 'chars', chars: [char.char] }, end: i + char.len };
    if (e.length === 1 && 'sSwWdD'.includes(e)) return { item: { kind: 'any' }, end: i + 2 };
    return { item: { kind: 'unknown' }, end: i + 2 };
  }
  if (c === '^' || c === '$') return { item: { kind: 'assertion', anchor: c === '^' }, end: i + 1 };
  if (c === '.') return { item: { kind: 'any' }, end: i + 1 };
  if (c === '[') {
    let j = i + 1;
    for (; j < src.length && src[j] !== ']'; j++) if (src[j] === '\\') j++;
    const chars = classChars(src.slice(i + 1, j));
    return { item: chars === null ? { kind: 'any' } : { kind: 'chars', chars }, end: j + 1 };
  }
  if (c === '(') {
    const close = scanTo(src, i + 1, false);
    let body = i + 1;
    // a lookbehind that reads only characters of no word (`(?<=(?:^|[\n.:])[ \t]{0,3})`): a boundary, as \b is
    if (src.startsWith('?<=', body)) return { item: { kind: 'assertion', boundary: noWordCharacters(src.slice(body + 3, close)) }, end: close + 1 };
    // a lookbehind that no ASCII word character may be before (`(?<![\wà-ÿ])`): a boundary, as \b is
    if (src.startsWith('?<!', body)) return { item: { kind: 'assertion', boundary: notAfterWord(src.slice(body + 3, close)) }, end: close + 1 };
    if (src.startsWith('?=', body) || src.startsWith('?!', body)) return { item: { kind: 'assertion' }, end: close + 1 };
    if (src.startsWith('?:', body)) body += 2;
    else if (src.startsWith('?<', body)) body = src.indexOf('>', body) + 1; // a named group
    return { item: { kind: 'group', leads: alternatives(src, body, close).flatMap(lead), noWord: noWordCharacters(src.slice(body, close)) }, end: close + 1 };
  }
  if (c === ')' || c === '|') return { item: { kind: 'unknown' }, end: i + 1 };
  // a run of plain characters, read at once (but its last when a quantifier follows it)
  let j = i + 1;
  while (j < src.length && !SPECIAL.includes(src[j]!)) j++;
  if (j < src.length && j - i > 1 && QUANTIFIERS.includes(src[j]!)) j--;
  return { item: { kind: 'chars', chars: [src.slice(i, j)] }, end: j };
}

/**
 * What every match of the alternative `src` begins with (its source, case as written; the words
 * are lowercased). Reads literal characters, small classes, `?`, groups, assertions, and a
 * character or so of unknown value before the first word; stops at anything else, keeping what
 * it has read: the words are then prefixes of what the matches begin with.
 */
function lead(src: string): Lead[] {
  let words = [''];
  let pre = 0;
  let boundary = false;
  let anchor = false;
  const atStart = () => words.length === 1 && words[0] === '';
  const stop = (end = false): Lead[] => [{ words, pre, boundary, anchor, end }];
  for (let i = 0; i < src.length; ) {
    const { item: it, end: next } = item(src, i);
    const q = quantifier(src, next);
    i = next + q.len;
    if (it.kind === 'assertion') {
      if (atStart() && pre === 0) {
        boundary ||= it.boundary === true;
        anchor ||= it.anchor === true;
      }
      continue;
    }
    if (it.kind === 'chars') {
      if (q.min === 0 && q.many) return stop(); // `x*`: nothing more is certain
      const more = cross(
        words,
        it.chars.map((x) => x.toLowerCase()),
      );
      if (more === null) return stop();
      words = q.min === 0 ? [...words, ...more] : more;
      if (q.many) return stop(); // `x+`: one at least, then unknown
    } else if (it.kind === 'any') {
      // before the words, a character of unknown value widens where a match may start (and what
      // was said of the code unit before the words no longer is)
      if (!atStart() || q.many) return stop();
      pre += 1;
      boundary = false;
    } else if (it.kind === 'group') {
      const leads = it.leads;
      if (leads.every(complete) && !(q.min === 0 && q.many)) {
        // a group the words begin with, each of its alternatives at a boundary (`(?:\bai|人工智能)`:
        // a boundary is said of words that begin with an ASCII word character only; an alternative
        // that may match nothing, `(?:\bfoo|)bar`, leaves the words after it where they are)
        if (atStart() && pre === 0 && q.min > 0) boundary ||= leads.every((g) => g.boundary || g.words.every((w) => w !== '' && !/^[a-z0-9_]/.test(w)));
        const more = cross(
          words,
          leads.flatMap((g) => g.words),
        );
        if (more === null) return stop();
        words = q.min === 0 ? [...words, ...more] : more;
        if (q.many) return stop();
      } else if (q.min === 0) return stop();
      else if (atStart() && !anchor) {
        // `(?:^|[\s(])`: a character at most before the words; one of no word (or none, at a line's
        // start) puts them at a boundary, as \b does (`(?:^|[\s(])ai` is never tried inside `mail`)
        if (!q.many && leads.every((g) => g.end && g.words.every((w) => w === ''))) {
          pre = Math.max(pre, ...leads.map((g) => g.pre + pre));
          boundary = it.noWord;
        }
        // a group the words start with: what its alternatives begin with
        else return leads.map((g) => ({ ...g, pre: g.pre + pre, boundary: g.boundary || (g.pre === 0 && boundary), end: false }));
      } else {
        // after words: one of its alternatives' words each, where they start right away
        const more = cross(
          words,
          leads.flatMap((g) => g.words),
        );
        if (more === null || leads.some((g) => g.pre > 0 || g.anchor)) return stop();
        words = more;
        return stop();
      }
    } else return stop();
  }
  return stop(true);
}

/** What a `^` of a regex with the m flag matches after. */
const LINE_TERMINATORS = '\n\r\u2028\u2029';
/** A bit per line terminator (0 for any other code unit). */
export const terminatorBit = (c: number) => (c === 0x0a ? 1 : c === 0x0d ? 2 : c === 0x2028 ? 4 : c === 0x2029 ? 8 : 0);

/** The heads of a regex: what each of its matches begins with; null when one alternative begins with nothing known. */
export function headsOf(re: RegExp): { heads: Head[]; atZero: boolean } | null {
  const heads: Head[] = [];
  let atZero = false;
  for (const alt of alternatives(re.source, 0, re.source.length)) {
    for (const l of lead(alt)) {
      if (l.words.every((w) => w !== '')) {
        for (const word of l.words) heads.push({ word, lo: -l.pre, hi: 0, boundary: l.boundary && /^[a-z0-9_]/.test(word) });
      } else if (l.anchor) {
        // at the text's start, and with the m flag at each line's
        atZero = true;
        if (re.multiline) for (const nl of LINE_TERMINATORS) heads.push({ word: nl, lo: 1, hi: 1, boundary: false });
      } else return null;
    }
  }
  return { heads, atZero };
}

/** An alternative that starts at a line: `^` or `(?:^|\n)`, then spaces or tabs (`[ \t]*`, `[ \t]{0,3}`), then the rest. */
const LINE_ALTERNATIVE = /^(?:\^|\(\?:\^\|\\n\))(?:\[ \\t\](?:\*|\{0,\d+\}))?/;

/**
 * What the matches of a regex that start at a line begin with past the line's spaces and tabs:
 * per code unit (lowercased), whether one can begin so. Null when an alternative that starts at a
 * line is not of the form LINE_ALTERNATIVE, or its rest begins with nothing known or with a
 * space or tab (then every line is tried, as before).
 */
export function lineFirsts(re: RegExp): Uint8Array | null {
  const firsts = new Uint8Array(0x10000);
  for (const alt of alternatives(re.source, 0, re.source.length)) {
    const leads = lead(alt);
    const atLine = leads.some((l) => l.anchor || l.words.some((w) => LINE_TERMINATORS.includes(w[0] ?? '')));
    if (!atLine) continue; // its matches start at a word the scan finds (Starts.ranges)
    const prefix = LINE_ALTERNATIVE.exec(alt);
    if (prefix === null) return null;
    for (const l of lead(alt.slice(prefix[0].length))) {
      if (l.pre > 0 || l.anchor) return null;
      for (const w of l.words) {
        if (w === '' || w[0] === ' ' || w[0] === '\t' || LINE_TERMINATORS.includes(w[0]!)) return null;
        firsts[w.charCodeAt(0)] = 1;
      }
    }
  }
  return firsts;
}
