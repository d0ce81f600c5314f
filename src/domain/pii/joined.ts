import { LOOK_BEHIND } from './detectors/candidate.js';

// Many texts read as one (scanner.ts scanEach, json-batch.ts mayHoldPii, the folded stretches
// of a long text): joined by APART, whitespace no value spans, longer than any detector looks
// behind or ahead of a value, so what is found in the joined text is what each text holds alone.
export const APART = '\n'.repeat(LOOK_BEHIND + 1);

// A joined text stays within what V8 keeps in its young generation: a string of more than 128 KB
// (64 K characters of two bytes) is a large object, mapped fresh each time and faulted in page
// by page, ~1.2 µs a 4 KB page on this machine. 2,000 records joined as one text (1.3 MB) cost
// 0.57 ms and 325 page faults; the same texts joined in pieces under this length 0.18 ms and none.
export const JOINED_LIMIT = 60_000;

/** Consecutive texts of a list joined by APART. */
export interface JoinedTexts {
  readonly text: string;
  /** Index in the list of the first text joined here. */
  readonly first: number;
  /** How many texts are joined here. */
  readonly count: number;
  /** Where each text starts in `text`; `starts[count]` is past the last one's APART. */
  readonly starts: Int32Array;
}

/**
 * `texts` joined in order, in as few pieces as keep each within JOINED_LIMIT characters (a text
 * longer than that is a piece of its own, not copied).
 */
export function joinTexts(texts: readonly string[]): JoinedTexts[] {
  const pieces: JoinedTexts[] = [];
  for (let first = 0; first < texts.length; ) {
    let end = first + 1;
    let length = texts[first]!.length;
    while (end < texts.length && length + APART.length + texts[end]!.length <= JOINED_LIMIT) length += APART.length + texts[end++]!.length;
    const count = end - first;
    const starts = new Int32Array(count + 1);
    for (let j = 0, at = 0; j <= count; j++) {
      starts[j] = at;
      if (j < count) at += texts[first + j]!.length + APART.length;
    }
    const text = count === 1 ? texts[first]! : texts.slice(first, end).join(APART);
    pieces.push({ text, first, count, starts });
    first = end;
  }
  return pieces;
}

/** Which text of `joined` (0 for its first) offset `at` falls in, or in the APART after it. */
export function textAt(joined: JoinedTexts, at: number): number {
  const starts = joined.starts;
  let lo = 0;
  let hi = joined.count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
