// Guesses at disguises a filter of words misses and a model reads: leetspeak, letters spaced out,
// words broken by asterisks. Unlike hidden.ts's decodings, each is a guess (the same marks stand in
// code, data and headings), so detect.ts reads each undone as a text of its own and lets it count
// only when that reading is flagged and the text as written is not (detect.ts: `h.guessed`).
import type { Hidden } from './hidden.js';

// At most GUESSES of each kind a text, each read on its own (never joined: pieces too short to say
// anything would say something).

/** What a digit or sign inside a word of letters reads as in leetspeak (`1gn0r3 4ll` is `ignore all`). */
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '2': 'z', '3': 'e', '4': 'a', '5': 's', '6': 'g', '7': 't', '8': 'b', '9': 'g', $: 's' };
/** Latin letters, accented too (`fü63`), as a character class's body. */
const LATIN = 'A-Za-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f';
/** A word of letters, digits and `$` (`pa$$word`); not `@`: an address stays one. */
const LEET_WORD = new RegExp(`[${LATIN}0-9$']+`, 'g');
/** Words in leetspeak a stretch needs, and their share of its words. */
const LEET_WORDS = 3;
const LEET_SHARE = 0.3;
/** Code units between two words in leetspeak of one stretch, at most (on one line). */
const LEET_GAP = 80;
/** What of its line around a stretch in leetspeak is read with it, at most, each side. */
const LEET_AROUND = 200;
/** A line is read in pieces of at most this much. */
const LINE_MAX = 4096;
/** Guesses read in a text, at most. */
const GUESSES = 32;

/** A number and its unit or ordinal (`2nd`, `10am`, `16GB`, `5GHz`, `3ten`, `2e`; not `4nd`, leetspeak's `and`): no leetspeak, however many stand on a line. */
const NUMBER_AND_UNIT = /^(?:[0-9]*(?:1st|2nd|3rd|[0-9]th)|[0-9]+(?:am|pm|[kmgtp]i?b|[kmgt]?hz|kg|mg|ml|[cmk]?m|[mnµ]?s|px|pt|r?em|mp|fps|bpm|kwh?|mah|[kmg]bps|x|te[nrs]?|er|e|ème|h|min))$/i;

/** Whether `word` is leetspeak: two letters or more, one past a-f, and a letter after a digit (`1gn0r3`, `s3nd`; not a name and its number, `pt1`, `utf8`, nor a number and its unit, `2nd`, `16GB`). */
function isLeet(word: string): boolean {
  const n = word.length;
  if (n < 3 || n > 24 || NUMBER_AND_UNIT.test(word)) return false;
  let letters = 0;
  let pastHex = false;
  let digits = false;
  let lettersFirst = 0; // letters before the first digit, while no letter follows one
  let letterAfterDigit = false;
  for (let i = 0; i < n; i++) {
    const c = word.charCodeAt(i) | 0x20; // ASCII letters lowercased (digits and `$` stay apart from them)
    if (c >= 0x61 && c <= 0x7a) {
      letters++;
      if (c > 0x66) pastHex = true;
      if (digits) letterAfterDigit = true;
      else lettersFirst++;
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x24) digits = true;
  }
  // letters then digits only (`pt1`, `md5`, `es6`, `request2`) is a name and its number
  return digits && pastHex && letters >= 2 && letterAfterDigit && lettersFirst < n;
}

/**
 * Short words a line in leetspeak writes with digits (`th3`, `m3`, `t0`, `7h15`, `4`), read as such
 * only when they spell one of these: `a1` or `pt1` in code spells none. Those that digits alone spell
 * in German, French and Spanish too (`157` ist, `618` gib, `357` est, `3570` esto). Not `ai` nor
 * `bot`: `41` and `807` are a room, a bus, a rule (`Rule 41 must…`) far more often.
 */
const SHORT_WORDS = new Set(
  [
    'a i o test site me we he be to so do go no is it at as an in on of or by up us my the and all you are for not now can has his her its our out get set any new old own one two who why how use this that them then than with from into your also just only send tell list show read what when were will each both else here must skip give keep stop',
    'ist sie die gib gibt sag bei bist es est et te tes toi esto eso este',
  ]
    .join(' ')
    .split(' '),
);
/** `word` with its digits and `$` read as letters. */
function leetRead(word: string): string {
  let out = '';
  for (const c of word) out += LEET[c] ?? c;
  return out;
}
/** A word of a line in leetspeak, read: one in leetspeak, or a short one with a digit that spells a common word; any other as written. */
function unleet(word: string): string {
  if (isLeet(word)) return leetRead(word);
  if (word.length > 4 || !/[0-9$]/.test(word)) return word;
  const read = leetRead(word);
  return SHORT_WORDS.has(read.toLowerCase()) ? read : word;
}

/** A letter, and a digit or `$`: what a word needs to be read as leetspeak inside a stretch of it. */
const LETTER = new RegExp(`[${LATIN}]`);
const DIGIT = /[0-9$]/;
/**
 * A word on a line with a stretch in leetspeak, read: there a word with a letter and a digit is
 * leetspeak whatever its shape (`7h15`, `74k35`, `54w`, `n073`, `B1773`: one who leaves a word a
 * single letter writes no name and its number), but a short one of letters then digits (`A1`, `K1`,
 * `B07`: a cell, a form, a seat, which would read as `Ai`, `Ki`, `Bot`) and one with an apostrophe
 * (`l'14`) are read only as unleet reads any word.
 */
function unleetInside(word: string): string {
  if (!word.includes("'") && LETTER.test(word) && DIGIT.test(word) && (word.length >= 4 || !NAME_AND_NUMBER.test(word))) return leetRead(word);
  return unleet(word);
}
/** Letters, then digits: a cell, a form, a seat when short (`A1`, `K1`, `B07`). */
const NAME_AND_NUMBER = /^[^0-9$]+[0-9$]+$/;

/** The text's lines in pieces of at most LINE_MAX, each with where it starts. */
function* linesOf(text: string): Generator<{ line: string; start: number }> {
  let from = 0;
  while (from < text.length) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    for (let at = from; at < to; at += LINE_MAX) yield { line: text.slice(at, Math.min(to, at + LINE_MAX)), start: at };
    from = to + 1;
  }
}

/** Words of two letters or more. */
const WORDS = /\p{L}{2,}/gu;
/**
 * Whether a text read undone has words to say something with: four distinct at least, and at most
 * every other one a repeat. Packed data read as leetspeak (moment-timezone's `1qM0 WM0 11A0 1o00`,
 * `iqMo wMo iiAo iooo` undone) repeats a few made-up words, and the classifier, which never saw such
 * text, may score it high.
 */
function wordy(text: string): boolean {
  const words = text.toLowerCase().match(WORDS) ?? [];
  const distinct = new Set(words).size;
  return distinct >= 4 && distinct * 2 >= words.length;
}

/**
 * Adds a guess, up to GUESSES, when its reading has words to say something with, or the reading of
 * the disguise alone has (`disguised`: a log line that says the same thing three times around an
 * attack is no packed data).
 */
function guess(out: Hidden[], start: number, end: number, text: string, core?: { start: number; end: number }, disguised?: string): void {
  if (out.length >= GUESSES || !(wordy(text) || (disguised !== undefined && wordy(disguised)))) return;
  out.push({ signal: 'encoded-instruction', start, end, text, guessed: true, ...(core ? { core } : {}) });
}

/**
 * Stretches written in leetspeak (`1gn0r3 4ll pr3v10us 1nstruct10ns`) on a line, read with their
 * digits as letters: three words in leetspeak at least (each with a letter past a-f, so no hash, id
 * or hex colour; not a name and its number, `request2`, `utf8`), a third of the words from the first
 * of them to the last, none more than LEET_GAP apart. `digitSpans`: where the word reader found
 * words mixing letters and digits (tokens.ts), so that no text is scanned for them twice.
 */
export function leetTexts(text: string, digitSpans: Int32Array): Hidden[] {
  const out: Hidden[] = [];
  let first = -1; // the stretch being gathered: its first word's start, its last word's end, its words in leetspeak
  let last = -1;
  let found = 0;
  const flush = () => {
    if (found >= LEET_WORDS && found >= (text.slice(first, last).match(LEET_WORD)?.length ?? 0) * LEET_SHARE) {
      // read with what stands around it on its line (`Ignore all pr3v10us 1nstruct10ns`), its words
      // with a letter and a digit and its short ones that spell a common word undone, the rest as written
      const line = text.lastIndexOf('\n', first) + 1;
      let lineEnd = text.indexOf('\n', last);
      if (lineEnd < 0) lineEnd = text.length;
      const from = Math.max(line, first - LEET_AROUND);
      const to = Math.min(lineEnd, last + LEET_AROUND);
      guess(out, from, to, text.slice(from, to).replace(LEET_WORD, unleetInside), { start: first, end: last }, text.slice(first, last).replace(LEET_WORD, unleetInside));
    }
    first = -1;
    found = 0;
  };
  let lineEnd = -1; // the first line break at or after `last` (the text's length when none), found as `last` moves on
  for (let k = 0; k < digitSpans.length && out.length < GUESSES; k += 2) {
    const s = digitSpans[k]!;
    const e = digitSpans[k + 1]!;
    if (!isLeet(text.slice(s, e))) continue;
    if (first >= 0 && lineEnd < last) {
      lineEnd = text.indexOf('\n', last);
      if (lineEnd < 0) lineEnd = text.length;
    }
    if (first >= 0 && (s - last > LEET_GAP || lineEnd < s)) flush();
    if (first < 0) first = s;
    last = e;
    found++;
  }
  if (first >= 0) flush();
  return out;
}

/** A letter, one to three asterisks (`*`, `∗`, `＊`; a zero-width character among them), a letter: a word broken so (`Ign*ore`, `al**l`). */
const STAR_IN_WORD = /[A-Za-z][\u200b-\u200d\u2060]*[*\u2217\uff0a]{1,3}[\u200b-\u200d\u2060]*[A-Za-z]/g;
/** Words joined by a lone asterisk between spaces (`ignore * all * previous`). */
const STAR_JOIN = / [*\u2217\uff0a] /g;
/** The words between two joins for them to join words, as Spikee writes them (a list's items on one line are longer). */
const JOINED_WORDS = 1;
const STARS = /[*\u2217\uff0a\u200b-\u200d\u2060]/g;
/** Runs of Latin letters: a word broken by an asterisk is two of them. */
const LETTER_RUNS = /[A-Za-z]+/g;
/** Asterisks in or between a line's words that make it a disguise. */
const STARS_IN_WORDS = 3;
const STARS_JOINING = 4;

/**
 * How many lone asterisks join single words (`ignore * all * previous`: each stretch between two of
 * them one word, as Spikee's splat writes them; the first and the last stretch run on into the line's
 * other words). A bulleted list flattened onto one line (an MCP tool's description, `* Regular
 * analytical steps * Revisions of previous thoughts`) joins phrases, and a row of stars (`Ratings:  *
 * *  *`) nothing.
 */
function joinedWords(line: string): number {
  if (line.indexOf(' * ') < 0 && line.indexOf(' \u2217 ') < 0 && line.indexOf(' \uff0a ') < 0) return 0;
  const parts = line.split(STAR_JOIN);
  if (parts.length < 3) return 0;
  let n = 0;
  for (let i = 1; i < parts.length - 1; i++) {
    const words = parts[i]!.trim();
    if (words !== '' && words.split(/\s+/, JOINED_WORDS + 1).length <= JOINED_WORDS) n++;
  }
  return n + 1;
}

/**
 * Lines whose words are broken and joined by asterisks (`Ign*ore * *all* * previous`), read without
 * them: three words broken so and a third of the runs of letters between the first and the last
 * (minified code's `a*b` among its names is no disguise), or four joined so, at least. Markdown's
 * emphasis (`**bold**`, `*it*`) and a list's `* ` break no word; arithmetic (`a * b`) is read, and
 * reads as nothing.
 */
export function splatTexts(text: string): Hidden[] {
  const out: Hidden[] = [];
  for (const { line, start } of linesOf(text)) {
    if (out.length >= GUESSES) break;
    if (line.indexOf('*') < 0 && line.indexOf('\u2217') < 0 && line.indexOf('\uff0a') < 0) continue;
    const inWords = [...line.matchAll(STAR_IN_WORD)];
    const joins = joinedWords(line);
    // words broken so: three, and a third of the words from the first to the last (a manual's `a*b` and `x*y` are no disguise)
    const span = inWords.length >= STARS_IN_WORDS ? line.slice(inWords[0]!.index, inWords.at(-1)!.index + inWords.at(-1)![0].length) : '';
    const broken = inWords.length >= STARS_IN_WORDS && inWords.length * 3 >= (span.match(LETTER_RUNS)?.length ?? 0);
    if (!broken && joins < STARS_JOINING) continue;
    // judged on the whole line undone, or on the stretch from the first asterisk in or between
    // words to the last alone
    let first = line.length;
    let last = 0;
    for (const m of [...inWords, ...line.matchAll(STAR_JOIN)]) {
      first = Math.min(first, m.index);
      last = Math.max(last, m.index + m[0].length);
    }
    const undo = (part: string) => part.replace(STARS, '').replace(/[ \t]{2,}/g, ' ');
    guess(out, start, start + line.length, undo(line), undefined, undo(line.slice(first, last)));
  }
  return out;
}

/** Characters apart by blanks (spaces of every width, tabs), eight or more. */
const SPACED = /(?<![^\s])(?:[^\s][\t\p{Zs}]+){7,}[^\s](?![^\s])/gu;
const BLANKS = /[\t\p{Zs}]+/gu;
/** A word spelt out longer than this is no word: letters with no wider gap between words. */
const SPACED_WORD_MAX = 64;

/**
 * Letters spaced out (`I g n o r e   a l l   p r e v i o u s`), read as the words they spell: the
 * most common gap of a run is between letters, any other (or ` / `, ` | `) between words; a word in
 * leetspeak among them read as such. Read on the lines of the runs the word reader met of eight
 * one-letter words or more (`spacedRuns`, pairs of from and to): a run of spaced letters is inside a
 * line (no gap of it is a line break), and the rest of a long text is not read again for it.
 */
export function spacedTexts(text: string, runs: readonly number[]): Hidden[] {
  const out: Hidden[] = [];
  let read = 0; // the text up to here was read
  for (let r = 0; r < runs.length && out.length < GUESSES; r += 2) {
    // (a run on lines already read is skipped unseen, and the line's start is sought back only to
    // what was read: many runs on one long line cost one reading of it, not one each)
    if (runs[r + 1]! <= read) continue;
    const from = runs[r]! <= read ? read : Math.max(read, text.lastIndexOf('\n', runs[r]! - 1) + 1);
    const next = text.indexOf('\n', runs[r + 1]!);
    const to = next < 0 ? text.length : next;
    if (to <= from) continue;
    read = to;
    spacedIn(text.slice(from, to), from, out);
  }
  return out;
}

/** spacedTexts in `lines` (whole lines of the text, from its code unit `at`). */
function spacedIn(lines: string, at: number, out: Hidden[]): void {
  for (const m of lines.matchAll(SPACED)) {
    // a long run is read in pieces of LINE_MAX (each a guess of its own)
    for (let from = 0; from < m[0].length && out.length < GUESSES; from += LINE_MAX) {
      const run = m[0].slice(from, from + LINE_MAX);
      const parts = run.split(BLANKS);
      // the gap between letters is the run's most common one (a gap is its characters: a tab is no
      // space); any other is between words
      const gaps: string[] = [];
      const seen = new Map<string, number>();
      for (const g of run.matchAll(BLANKS)) {
        gaps.push(g[0]);
        seen.set(g[0], (seen.get(g[0]) ?? 0) + 1);
      }
      let letterGap = '';
      let most = 0;
      for (const [g, n] of seen)
        if (n > most || (n === most && g.length < letterGap.length)) {
          letterGap = g;
          most = n;
        }
      const words: string[] = [];
      let word = '';
      for (let k = 0; k < parts.length; k++) {
        const part = parts[k]!;
        if (part === '/' || part === '|') {
          if (word) words.push(word);
          word = '';
        } else word += part;
        if ((gaps[k] ?? letterGap) !== letterGap) {
          if (word) words.push(word);
          word = '';
        }
      }
      if (word) words.push(word);
      // words, not letters listed (`a  b  c`: most a letter long) nor a run with no gap between words (one long "word")
      const letters = words.reduce((n, w) => n + w.length, 0);
      if (words.length < 2 || words.length * 2 > letters || words.some((w) => w.length > SPACED_WORD_MAX)) continue;
      guess(out, at + m.index + from, at + m.index + from + run.length, words.map((w) => (isLeet(w) ? unleet(w) : w)).join(' '));
    }
    if (out.length >= GUESSES) break;
  }
}
