import { describe, expect, it } from 'vitest';
import { SseSplitter, type SseEvent } from '../../src/core/sse.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

const STREAM = [
  'data: {"a":1}\n\n',
  'event: content_block_delta\ndata: {"text":"x"}\n\n',
  'data: line one\ndata: line two\n\n',
  'data:no-space\n\n',
  ': a comment\ndata: after\n\n',
  'data: [DONE]\n\n',
].join('');

/**
 * `bytes` pushed in 8 KB pieces, as socket reads bring a large event: its events, and the work
 * the pushes did, counted rather than timed (speed is measured in scripts/bench/sse.ts): the
 * bytes `Buffer.concat` joined, the characters `Array.prototype.join` joined and the characters
 * `String.prototype.indexOf` passed over. Joining or searching the event so far at every read
 * makes these grow with its size times its reads (~16 G for 16 MB); once, with its size.
 */
function in8k(bytes: Buffer): { evs: SseEvent[]; joined: number; searched: number } {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 8192) pieces.push(bytes.subarray(at, at + 8192));
  const splitter = new SseSplitter();
  const { concat } = Buffer;
  const { join } = Array.prototype;
  const { indexOf } = String.prototype;
  let joined = 0;
  let searched = 0;
  // Wrapped by hand, not with vi.spyOn: a spy would keep each of ~300,000 calls' arguments.
  Buffer.concat = (list, total) => {
    const out = concat(list, total);
    joined += out.length;
    return out;
  };
  Array.prototype.join = function (this: unknown[], sep?: string) {
    const out = join.call(this, sep);
    joined += out.length;
    return out;
  };
  String.prototype.indexOf = function (this: string, needle: string, from?: number) {
    const at = indexOf.call(this, needle, from);
    searched += (at === -1 ? this.length : at + needle.length) - Math.max(0, from ?? 0);
    return at;
  };
  try {
    const evs = pieces.flatMap((p) => splitter.push(p));
    return { evs, joined, searched };
  } finally {
    Buffer.concat = concat;
    Array.prototype.join = join;
    String.prototype.indexOf = indexOf;
  }
}

function all(splitter: SseSplitter, pieces: Buffer[], together: boolean): SseEvent[] {
  const out = together ? splitter.pushAll(pieces) : pieces.flatMap((p) => splitter.push(p));
  return [...out, ...splitter.end()];
}

describe('SseSplitter', () => {
  const expected: Array<Pick<SseEvent, 'event' | 'data'>> = [
    { event: null, data: '{"a":1}' },
    { event: 'content_block_delta', data: '{"text":"x"}' },
    { event: null, data: 'line one\nline two' },
    { event: null, data: 'no-space' },
    { event: null, data: 'after' },
    { event: null, data: '[DONE]' },
  ];

  it('finds the same events, raw bytes kept, wherever the upstream splits its bytes, one piece at a time or all together', () => {
    const bytes = Buffer.from(`${STREAM}\ndata: after an extra blank line\n\n`);
    const expected2 = [...expected, { event: null, data: 'after an extra blank line' }];
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const together of [false, true]) {
        const evs = all(new SseSplitter(), [bytes.subarray(0, cut), bytes.subarray(cut)], together);
        expectEqual(
          evs.map(({ event, data }) => ({ event, data })),
          expected2,
        );
        expectIs(evs.map((e) => e.raw).join(''), bytes.toString());
      }
    }
  });

  it('reads CRLF line ends, even when the first CR comes after events without any', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    const first = 'data: plain\n\n';
    const bytes = Buffer.from(first + crlf);
    for (let cut = 0; cut <= bytes.length; cut++) {
      // Also cut again at each line end after it: a blank line split between reads, whatever its CRs.
      for (const second of [cut, ...[...bytes.keys()].filter((i) => i > cut && bytes[i - 1] === 10)]) {
        const evs = all(new SseSplitter(), [bytes.subarray(0, cut), bytes.subarray(cut, second), bytes.subarray(second)], false);
        expectEqual(
          evs.map(({ event, data }) => ({ event, data })),
          [{ event: null, data: 'plain' }, ...expected],
        );
        expectIs(evs.map((e) => e.raw).join(''), first + crlf);
      }
    }
  });

  it('keeps a character split between two pieces whole, and hands on a last event that has no blank line after it', () => {
    const bytes = Buffer.from('data: café ☕\n\ndata: tail');
    const at = bytes.indexOf(Buffer.from('☕')) + 1;
    const evs = all(new SseSplitter(), [bytes.subarray(0, at), bytes.subarray(at)], true);
    expect(evs.map((e) => e.data)).toEqual(['café ☕', 'tail']);
  });

  it('decodes as a TextDecoder would, wherever the pieces cut: a leading byte order mark dropped, bad bytes replaced, characters split between pieces kept whole', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('data: a\u00e9\n\n'),
      Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xe2, 0x82, 0x0a, 0x0a]), // a character cut short by a line end
      Buffer.from('data: \ud83d\ude00 \ufeff\n\n'),
      Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0xc3]), // bad bytes, then the stream ends mid-character
    ]);
    const whole = new TextDecoder().decode(bytes);
    for (let a = 0; a <= bytes.length; a += 2) {
      for (let b = a; b <= bytes.length; b += 5) {
        const pieces = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
        for (const together of [false, true]) {
          const evs = all(new SseSplitter(), pieces, together);
          expectIs(evs.map((e) => e.raw).join(''), `${whole}\n\n`);
        }
      }
    }
  });

  it('reads an event of one 16 MB line (an image as base64) that comes in 8 KB pieces in time linear in its size, and hands on each byte', () => {
    const line = 'x'.repeat(16 * 1024 * 1024);
    const bytes = Buffer.from(`data: {"b64":"${line}"}\n\ndata: [DONE]\n\n`);
    const { evs, joined, searched } = in8k(bytes);
    expect(evs.map((e) => e.data.length)).toEqual([line.length + 10, 6]);
    // Joined once its line ends: its size, once. Joined at every read it would be ~16 GB (seconds).
    expect(joined).toBeLessThanOrEqual(2 * bytes.length);
    expect(searched).toBeLessThanOrEqual(2 * bytes.length);
  });

  it('reads an event of 16 MB in many short data lines that comes in 8 KB pieces in time linear in its size, and hands on each byte', () => {
    const line = `data: ${'y'.repeat(58)}\n`;
    const lines = Math.floor((16 * 1024 * 1024) / line.length);
    const text = `${line.repeat(lines)}\ndata: [DONE]\n\n`;
    const { evs, joined, searched } = in8k(Buffer.from(text));
    expect(evs.map((e) => e.raw.length)).toEqual([line.length * lines + 1, 14]);
    expect(evs[0]!.data.length).toBe(59 * lines - 1);
    expect(evs[0]!.raw === text.slice(0, line.length * lines + 1)).toBe(true);
    // Each read's text searched alone and the event joined once: ~2× its size copied. Its text
    // joined and searched again at every read, ~2,000 reads, it would be ~16 GB (seconds).
    expect(joined).toBeLessThanOrEqual(3 * text.length);
    expect(searched).toBeLessThanOrEqual(3 * text.length);
  });
  it('cleans every event that holds a credential, wherever the reads cut, when a read found clear skips cleaning', () => {
    const key = 'sk-live-0123456789';
    const clean = (raw: string) => raw.replaceAll(key, '[CREDENTIAL_REDACTED]');
    const bytes = Buffer.from(`data: a\n\ndata: ${key}\n\ndata: b\ndata: x${key}y\n\ndata: c\n\ndata: ${key}`);
    const expected = all(new SseSplitter(clean), [bytes], false).map((e) => e.raw);
    expect(expected.join('')).not.toContain(key);
    let skipped = 0;
    const holds = (text: string) => text.includes(key) || (skipped++, false);
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 7) {
        const pieces = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
        expectEqual(
          all(new SseSplitter(clean, holds), pieces, false).map((e) => e.raw),
          expected,
        );
      }
    }
    expect(skipped).toBeGreaterThan(0);
  });
  it('reads an event’s id and retry (an MCP stream’s resumption point), and leaves them off events that have none', () => {
    const evs = new SseSplitter().push(Buffer.from('id: s1_4\nretry: 250\ndata: \n\nevent: message\nid:s1_5\ndata: {"x":1}\n\ndata: plain\n\nretry: soon\ndata: y\n\n'));
    expect(evs.map(({ id, retry, data }) => ({ id, retry, data }))).toEqual([
      { id: 's1_4', retry: 250, data: '' },
      { id: 's1_5', retry: undefined, data: '{"x":1}' },
      { id: undefined, retry: undefined, data: 'plain' },
      { id: undefined, retry: undefined, data: 'y' },
    ]);
    expect(Object.keys(evs[2]!)).toEqual(['raw', 'event', 'data']);
    expect(evs.some((e) => e.foreign)).toBe(false);
  });
});
