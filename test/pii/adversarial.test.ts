import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact, scan } from '../../src/domain/pii/index.js';

// Inputs built to make a backtracking regex explode. Every scan here must simply finish
// (vitest's timeout is the only clock) and give the right answer.
const MB = 1024 * 1024;

const RUNS: Array<[string, string]> = [
  ['a megabyte of digits', '1'.repeat(MB)],
  ['a megabyte of dots', '.'.repeat(MB)],
  ['a megabyte of underscores', '_'.repeat(MB)],
  ['domains that are none before a dash', 'x@y- '.repeat(MB / 2)],
  ['a megabyte of @ signs', '@'.repeat(MB)],
  ['a@ repeated', 'a@'.repeat(MB / 2)],
  ['a.b@ repeated', 'a.b@'.repeat(MB / 4)],
  ['digit-dot pairs', '1.'.repeat(MB / 2)],
  ['digit-dash pairs', '1-'.repeat(MB / 2)],
  ['digits and single spaces', '1 '.repeat(MB / 2)],
  ['+1 groups', '+1 '.repeat(MB / 3)],
  ['bracketed digits', '(1)'.repeat(MB / 3)],
  ['colons', ':'.repeat(MB)],
  ['hex and colons', 'a:'.repeat(MB / 2)],
  ['IBAN prefixes', 'DE89'.repeat(MB / 4)],
  ['a key prefix with an endless body', `sk-${'a1'.repeat(MB / 2)}`],
  ['key prefixes back to back', 'sk-'.repeat(MB / 3)],
  ['uppercase and digits', 'AKIA0'.repeat(MB / 5)],
  // Disguised (look-alike and invisible characters): read folded, each of these is one of the runs above, or nothing at all.
  ['a megabyte of zero-width spaces', '\u200b'.repeat(MB)],
  ['a megabyte of fullwidth digits', '１'.repeat(MB)],
  ['digits between zero-width spaces', '1\u200b'.repeat(MB / 2)],
  ['fullwidth digits and ideographic spaces', '１\u3000'.repeat(MB / 2)],
  ['Arabic-Indic digits and en dashes', '١–'.repeat(MB / 2)],
  ['mathematical letters and fullwidth at signs', '𝐚＠'.repeat(MB / 3)],
  ['soft hyphens between key prefixes', 'sk-\u00ad'.repeat(MB / 4)],
];

describe('pathological input', () => {
  it.each(RUNS)('%s: finishes with nothing found', (_name, text) => {
    expect(scan(text)).toEqual([]);
  });

  it('finds the PII planted in a 10 MB single line of mixed text', () => {
    const filler = 'status=ok latency=35ms path=/v1/chat/completions id=550e8400-e29b-41d4-a716-446655440000 ';
    const parts: string[] = [];
    let size = 0;
    let planted = 0;
    while (size < 10 * MB) {
      const chunk = planted < 100 && parts.length % 997 === 500 ? `user=ceo${planted++}@acme.com ` : filler;
      parts.push(chunk);
      size += chunk.length;
    }
    const text = parts.join('');
    const result = redact(text);
    expect(result.detections).toHaveLength(100);
    expect(result.detections.every((d) => d.type === 'EMAIL')).toBe(true);
    expect(result.text).not.toContain('@acme.com');
  });

  it('streams a megabyte of digits padded with zero-width spaces in bounded memory, same as redact()', () => {
    const text = `${'1\u200b'.repeat(MB / 2)} then ５３６-２２-８１４７`;
    const s = createStreamRedactor({ retainDetections: false });
    let out = '';
    for (let i = 0; i < text.length; i += 4096) {
      out += s.push(text.slice(i, i + 4096));
      expect(Math.min(i + 4096, text.length) - out.length).toBeLessThan(3000);
    }
    out += s.end();
    expect(out).toBe(redact(text).text);
    expect(out.endsWith(' then [SSN_REDACTED]')).toBe(true);
  });

  it('streams a 10 MB line without whitespace in bounded memory, same as redact()', () => {
    const unit = `${'x'.repeat(200)}"ip":"10.0.0.7",`;
    const text = unit.repeat(Math.ceil((10 * MB) / unit.length));
    const s = createStreamRedactor({ retainDetections: false });
    let out = '';
    // What has come out so far, measured in input characters: held back is a few hundred at most.
    let emitted = 0;
    for (let i = 0; i < text.length; i += 65536) {
      const piece = s.push(text.slice(i, i + 65536));
      out += piece;
      emitted += piece.replaceAll('[IP_ADDRESS_REDACTED]', '10.0.0.7').length;
      expect(Math.min(i + 65536, text.length) - emitted).toBeLessThan(1000);
    }
    out += s.end();
    expect(out).toBe(redact(text).text);
    expect(out).not.toContain('10.0.0.7');
  });
});
