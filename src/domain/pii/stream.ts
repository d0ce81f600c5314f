import { ValidationError } from '../../core/errors.js';
import { isSoftSpace, isWhitespace } from './chars.js';
import { LOOK_AHEAD, LOOK_BEHIND, MAX_VALUE_LENGTH } from './detectors/candidate.js';
import { foldText, mayFold, normalizeText } from './normalize.js';
import { DEFAULT_POLICY, modeFor, validatePolicy } from './policy.js';
import { applyRedactions, scannerFor, type RedactOptions } from './redact.js';
import type { Detection } from './types.js';

// How the stream stays both live and exact (output of any chunking == redact(whole text)):
//
// * A "hard break" is whitespace no value can contain: anything but a single ASCII space
//   between two group characters (see isSoftSpace). No finding spans one, and no decision
//   about text before one reads past it, so everything up to the last hard break is final
//   and is emitted at once. Only the tail after it is held back.
// * A tail without a hard break (JSON, base64, a minified line) is cut HOLD characters
//   from its end once it grows past FORCE_AT. No value is longer than MAX_VALUE_LENGTH, so
//   every finding that could cross the cut lies within the text we hold: the cut moves back
//   to the start of any candidate that crosses it.
// * Scans restart with a little emitted text in front (the detectors look behind a value
//   by up to LOOK_BEHIND; after a forced cut, enough to re-sync a value in progress). After
//   a hard break that text is context only: no value starts in it, so detectors skip it.
// * The detectors read text folded (normalize.ts: zero-width characters dropped, fullwidth
//   and other digits made ASCII…), so all of the above is decided on the folded text: a
//   zero-width space is no break, a no-break or ideographic space is a space, and lengths
//   count folded characters. Pending text that holds anything that folds (or may, with the
//   next chunk: half a surrogate pair) is read folded, and each cut maps back to the original;
//   the look-behind is kept folded, which is what the whole text's scan reads there (folding
//   is per code point, and folding folded text changes nothing). Plain text skips all this.
const HOLD = MAX_VALUE_LENGTH + LOOK_AHEAD + 62;
// A forced cut rescans what is held; letting the tail grow a little past HOLD first keeps
// tiny chunks (token-sized SSE deltas) from paying for a rescan each.
const FORCE_AT = HOLD + 96;
const CONTEXT_AFTER_BREAK = LOOK_BEHIND;
const CONTEXT_AFTER_FORCED_CUT = MAX_VALUE_LENGTH + LOOK_BEHIND + 32;
// Only a pathological chain of overlapping candidates can keep us from cutting; past this
// much held text we cut anyway, trading exactness for bounded memory.
const MAX_PENDING = 64 * 1024;

export interface StreamRedactorOptions extends RedactOptions {
  /** Called once per finding as soon as it is final, with offsets in the whole stream. */
  onDetection?: (d: Detection) => void;
  /** Keep findings in `detections` (default true); turn off for unbounded streams. */
  retainDetections?: boolean;
}

export interface StreamRedactor {
  /** Adds a chunk; returns the redacted text that is final now (possibly ''). */
  push(chunk: string): string;
  /** Flushes the held-back tail; the redactor takes no more input. */
  end(): string;
  /** Findings so far, offsets in the whole stream (UTF-16 code units). */
  readonly detections: readonly Detection[];
  /** The first finding whose type is in `block` mode: the caller should stop the stream. */
  readonly blocked: Detection | null;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * `a + b` as one flat string: detectors read it char by char, and on the rope V8 makes of
 * `a + b` every read is slower (about an eighth of a chunk's scan).
 */
function flat(a: string, b: string): string {
  if (b.length === 0) return a;
  return a.length === 0 ? b : [a, b].join('');
}

export function createStreamRedactor(opts: StreamRedactorOptions = {}): StreamRedactor {
  const scanner = scannerFor(opts);
  const policy = opts.policy ? validatePolicy(opts.policy) : DEFAULT_POLICY;
  const retain = opts.retainDetections ?? true;
  const detections: Detection[] = [];
  let context = ''; // emitted text, folded, kept for look-behind
  let contextEndsOnBreak = true; // no value spans the end of context, so none need start in it
  let pending = ''; // raw text not yet emitted
  let base = 0; // stream offset of pending[0]
  let ended = false;
  let disguised = false; // pending may hold something that folds: read it folded

  /** Index just past the last hard break in `t` (pending as the detectors read it); -1 when a tail longer than FORCE_AT has none. */
  function lastHardBreakIn(t: string): number {
    const floor = Math.max(0, t.length - FORCE_AT - 1);
    for (let i = t.length - 1; i >= floor; i--) {
      const c = t.charCodeAt(i);
      if (!isWhitespace(c)) continue;
      const prev = i > 0 ? t.charCodeAt(i - 1) : context.charCodeAt(context.length - 1);
      const next = i + 1 < t.length ? t.charCodeAt(i + 1) : Number.NaN;
      if (!isSoftSpace(prev, c, next)) return i + 1;
    }
    return t.length > FORCE_AT ? -1 : 0;
  }

  /** Index in pending just past the last hard break; -1 when a tail longer than FORCE_AT has none. */
  function lastHardBreak(): number {
    if (!disguised) return lastHardBreakIn(pending);
    // A trailing half of a surrogate pair is not read yet: with its other half it may fold into
    // a digit that turns the space before it soft.
    const t = isHighSurrogate(pending.charCodeAt(pending.length - 1)) ? pending.slice(0, -1) : pending;
    const folded = normalizeText(t);
    if (folded === null) return lastHardBreakIn(t);
    const cut = lastHardBreakIn(folded.text);
    // Raw text grows without bound under zero-width padding: memory is what forces a cut then.
    if (cut === 0 && pending.length > MAX_PENDING) return -1;
    return cut <= 0 ? cut : folded.endOf(cut);
  }

  /** Emits pending[0, cut) given the scan of `text` = context + (at least) that much pending. */
  function emit(text: string, found: ReturnType<typeof scanner.candidates>, cut: number, forced: boolean): string {
    const offset = context.length;
    const fresh: Detection[] = [];
    for (const d of scanner.resolve(text, found)) {
      if (d.end <= offset || d.start >= offset + cut) continue; // emitted before, or still held
      // Nothing reaches back into emitted text (see above); were it to, the visible part is still redacted.
      fresh.push({ ...d, start: Math.max(d.start, offset) - offset, end: d.end - offset });
    }
    const raw = pending.slice(0, cut);
    const out = applyRedactions(raw, fresh, policy);
    const read = disguised ? foldText(raw) : raw;
    for (const d of fresh) {
      const whole: Detection = { ...d, start: d.start + base, end: d.end + base };
      if (redactor.blocked === null && modeFor(d.type, policy) === 'block') redactor.blocked = whole;
      if (retain) detections.push(whole);
      opts.onDetection?.(whole);
    }
    const keep = forced ? CONTEXT_AFTER_FORCED_CUT : CONTEXT_AFTER_BREAK;
    context = read.length >= keep ? read.slice(read.length - keep) : (context + read).slice(-keep);
    contextEndsOnBreak = !forced;
    pending = pending.slice(cut);
    base += cut;
    if (disguised) disguised = mayFold(pending);
    return out;
  }

  /** Where values may start: after the context when it ends on a hard break (re-reading it is only for look-behind). */
  function scanFrom(): number {
    return contextEndsOnBreak ? context.length : 0;
  }

  /** Where pending is cut to hold back HOLD characters as the detectors read them. */
  function holdFrom(): number {
    if (!disguised) return pending.length - HOLD;
    const folded = normalizeText(pending);
    if (folded === null) return pending.length - HOLD;
    return folded.text.length <= HOLD ? 0 : folded.startOf(folded.text.length - HOLD);
  }

  function forcedCut(): string {
    const text = flat(context, pending);
    const found = scanner.candidates(text, scanFrom(), !disguised);
    const offset = context.length;
    let cut = holdFrom();
    for (let moved = true; moved && cut > 0; ) {
      moved = false;
      for (const c of found) {
        if (c.start - offset < cut && c.end - offset > cut) {
          cut = c.start - offset;
          moved = true;
        }
      }
    }
    if (cut <= 0) {
      if (pending.length <= MAX_PENDING) return '';
      cut = pending.length - HOLD;
    }
    // Never between the halves of a surrogate pair: each half alone folds to nothing it stands for.
    if (isHighSurrogate(pending.charCodeAt(cut - 1))) cut--;
    return emit(text, found, cut, true);
  }

  // `detections` and `blocked` are data properties, not getters: V8 allocates an object literal's
  // accessor pair in the old generation, and its getter's closure (this whole redactor, its text
  // included) would then outlive every scavenge until the next full GC (docs/benchmarks-history.md,
  // fourth round). One redactor is made for each text slot of each redacted stream.
  const redactor: StreamRedactor & { blocked: Detection | null } = {
    detections,
    blocked: null,
    push(chunk: string): string {
      if (ended) throw new ValidationError('the stream redactor has ended; create a new one');
      if (chunk.length === 0) return '';
      // Flat, not a rope: lastHardBreak and the detectors read it char by char.
      pending = flat(pending, chunk);
      disguised ||= mayFold(chunk);
      const cut = lastHardBreak();
      if (cut < 0) return forcedCut();
      if (cut === 0) return '';
      const text = flat(context, pending.slice(0, cut));
      return emit(text, scanner.candidates(text, scanFrom(), !disguised), cut, false);
    },
    end(): string {
      if (ended) return '';
      ended = true;
      if (pending.length === 0) return '';
      const text = flat(context, pending);
      return emit(text, scanner.candidates(text, scanFrom(), !disguised), pending.length, false);
    },
  };
  return redactor;
}
