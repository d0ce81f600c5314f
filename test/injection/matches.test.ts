// Two of the hidden-text regexes (base64 broken into lines, percent-encoded stretches) are tried
// only where a match can start (src/domain/injection/hidden.ts): they must find exactly what the
// regex run over the whole text finds, on random text made of what those matches are made of and
// on the benchmark's mixed tool output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BROKEN_B64, brokenBase64Matches, PERCENT_RUN, percentRunMatches } from '../../src/domain/injection/hidden.js';
import { expectEqual } from '../helpers/cheap-expect.js';
import { ROOT } from '../helpers/runtime.js';

const random = (seed: number) => {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
};

const found = (matches: Iterable<RegExpMatchArray>) => [...matches].map((m) => [m.index, m[0]]);

/** Random text of `pieces` and of runs of `alphabet` 0 to `longest` units long, a piece `share` of the time. */
function texts(seed: number, count: number, pieces: readonly string[], alphabet: string, longest: number, share = 0.5): string[] {
  const rnd = random(seed);
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    let text = '';
    for (let k = 2 + Math.floor(rnd() * 40); k > 0; k--) {
      if (rnd() < share) text += pieces[Math.floor(rnd() * pieces.length)];
      else for (let l = Math.floor(rnd() * (longest + 1)); l > 0; l--) text += alphabet[Math.floor(rnd() * alphabet.length)];
    }
    out.push(text);
  }
  return out;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX = '0123456789abcdefABCDEF';

describe('base64 broken into lines, tried where a match can start', () => {
  it('finds what the regex finds over the whole text, on random lines of base64, spaces, breaks and padding', () => {
    const pieces = ['\n', '\n', '\n', '\r\n', '\n', ' \n', '\t', '\n  ', '=', '==', '===', ' word ', 'ok.', '-', '\n\n'];
    let matched = 0;
    for (const text of texts(7, 4000, pieces, BASE64, 80)) {
      const whole = found(text.matchAll(BROKEN_B64));
      matched += whole.length;
      expectEqual(found(brokenBase64Matches(text)), whole, JSON.stringify(text));
    }
    // The texts hold matches, and texts without one.
    expect(matched).toBeGreaterThan(100);
  });

  it('finds what the regex finds over the whole text on mixed tool output', () => {
    const text = heldoutText();
    expectEqual(found(brokenBase64Matches(text)), found(text.matchAll(BROKEN_B64)));
  });
});

describe('percent-encoded stretches, tried where a match can start', () => {
  it('finds what the regex finds over the whole text, on random words, bytes and broken bytes', () => {
    const rnd = random(3);
    const hex = () => HEX[Math.floor(rnd() * HEX.length)];
    const pieces = [...Array.from({ length: 40 }, () => `%${hex()}${hex()}`), '%', '%2', '%zz', '%%41', ' ', '.', '-', '~', '_', '+', '/', ':', '"', 'é', '\n'];
    let matched = 0;
    for (const text of texts(11, 4000, pieces, 'abcXYZ019.+_~-', 28, 0.75)) {
      const whole = found(text.matchAll(PERCENT_RUN));
      matched += whole.length;
      expectEqual(found(percentRunMatches(text)), whole, JSON.stringify(text));
    }
    expect(matched).toBeGreaterThan(300);
  });

  it('finds what the regex finds over the whole text on mixed tool output', () => {
    const text = heldoutText();
    expectEqual(found(percentRunMatches(text)), found(text.matchAll(PERCENT_RUN)));
  });
});

let heldout: string | null = null;
/** The benchmark's mixed tool output: the held-out texts, one after another. */
function heldoutText(): string {
  heldout ??= gunzipSync(readFileSync(join(ROOT, 'test/fixtures/injection/heldout.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .join('\n');
  return heldout;
}
