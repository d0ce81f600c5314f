import { describe, expect, it } from 'vitest';
import { typesInShortText } from '../../src/domain/pii/index.js';
import { ExportGuard, MAX_VALUE_CHARS, PII_MARKER } from '../../src/observability/exported.js';

// Every exported string an agent chose passes the export guard (src/observability/exported.ts),
// with the PII engine's own short-text test. A string longer than what is exported of it (256
// characters) is judged by that cut and by PII running through the cut (the 256 characters past the
// cut are read, and PII among them is the marker too), and read no further: a
// 2 MB conversation id cost the event loop what reading 2 MB for PII does, at every span.

/** The guard as the runtime makes it, and the lengths of every text it had read. */
function guard() {
  const read: number[] = [];
  const g = new ExportGuard((text) => {
    read.push(text.length);
    return typesInShortText(text).length > 0;
  });
  return { g, read };
}

const filler = (n: number) => 'conv_'.padEnd(n, 'abcdefghij');

describe('the export guard on a string longer than its cut', () => {
  it('exports the cut and reads at most 512 characters of a long value', () => {
    const { g, read } = guard();
    const long = filler(2_000_000);
    const t0 = performance.now();
    expect(g.text(long)).toBe(long.slice(0, MAX_VALUE_CHARS));
    expect(g.name('invoke_agent', long)).toBe(`invoke_agent ${long.slice(0, MAX_VALUE_CHARS)}`);
    expect(Math.max(...read)).toBeLessThanOrEqual(2 * MAX_VALUE_CHARS);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('is the marker when PII runs through the cut, whatever part of it the cut keeps', () => {
    for (const pii of ['jane.doe@example.com', '4111 1111 1111 1111', '123-45-6789', '+1 (212) 555-0147', 'DE89 3704 0044 0532 0130 00']) {
      for (let kept = 1; kept < pii.length; kept += 3) {
        const value = `${filler(MAX_VALUE_CHARS - kept - 1)} ${pii} and then ${filler(5_000)}`;
        expect(guard().g.text(value), `${pii} with ${kept} characters before the cut`).toBe(PII_MARKER);
        expect(guard().g.name('op', value)).toBe('op');
      }
    }
  });

  it('is the marker for PII inside the cut, and the cut for PII only past what is exported', () => {
    expect(guard().g.text(`conv_jane@example.com ${filler(10_000)}`)).toBe(PII_MARKER);
    const far = `${filler(2_000)} 123-45-6789`;
    expect(guard().g.text(far)).toBe(far.slice(0, MAX_VALUE_CHARS));
    // a longer cut the caller asks for is judged the same way
    expect(guard().g.text(far, 1_000)).toBe(far.slice(0, 1_000));
    expect(guard().g.text(`${filler(995)} 123-45-6789`, 1_000)).toBe(PII_MARKER);
  });

  it('still reads a trace state member whole: it is exported whole', () => {
    const { g } = guard();
    expect(g.traceState(`vendor=ok,other=${'x'.repeat(600)}-jane@example.com`)).toBe('vendor=ok');
  });
});
