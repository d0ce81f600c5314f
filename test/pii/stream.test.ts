import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { createStreamRedactor, redact, scan, type Detection, type StreamRedactorOptions } from '../../src/domain/pii/index.js';

function streamed(chunks: string[], opts?: StreamRedactorOptions) {
  const s = createStreamRedactor(opts);
  let out = '';
  for (const c of chunks) out += s.push(c);
  out += s.end();
  return { out, detections: s.detections, blocked: s.blocked };
}

function rng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

function randomSplit(text: string, pieces: number, rnd: () => number): string[] {
  const cuts = new Set<number>();
  while (cuts.size < Math.min(pieces - 1, text.length - 1)) cuts.add(1 + Math.floor(rnd() * (text.length - 1)));
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), text.length];
  return sorted.slice(1).map((end, i) => text.slice(sorted[i], end));
}

const key = `sk-proj-${'Ab3dE5fG7h'.repeat(6)}`;
const SAMPLES = [
  'Contact the CEO at ceo@acme.com or call (555) 123-4567.',
  `Sure! Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, key ${key} — done.`,
  'Peers: 2001:db8::1, 10.0.0.1:8080 and +44 (0)20 7946 0958; SSN 123-45-6789\nNext line: 01 23 45 67 89 ok',
  '{"email":"a.b@example.org","phone":"+49 30 12345678","ip":"192.168.0.10","note":"version 1.2.3.4"}',
];

describe('stream redactor', () => {
  it('gives the same text as redact() for every split into two chunks', () => {
    for (const text of SAMPLES) {
      const expected = redact(text).text;
      for (let i = 0; i <= text.length; i++) {
        expect(streamed([text.slice(0, i), text.slice(i)]).out, `split at ${i}`).toBe(expected);
      }
    }
  });

  it('gives the same text and findings as redact() for random many-chunk splits', () => {
    const rnd = rng(42);
    const text = Array.from({ length: 40 }, (_, i) => `${SAMPLES[i % SAMPLES.length]}${i % 3 ? ' ' : '\n'}`).join('');
    const whole = redact(text);
    for (let trial = 0; trial < 60; trial++) {
      const { out, detections } = streamed(randomSplit(text, 2 + Math.floor(rnd() * 200), rnd));
      expect(out).toBe(whole.text);
      expect(detections).toEqual(whole.detections);
    }
  });

  it('stays exact on random text made of the characters values are made of', () => {
    // Digits, separators, brackets, '@', ':' and letters in every combination: the cases where
    // a value might be decided differently with less text in view.
    const rnd = rng(99);
    const parts = [
      '1',
      '23',
      '456',
      '0',
      '9',
      ' ',
      ' ',
      '-',
      '.',
      '(',
      ')',
      '+',
      '@',
      ':',
      '::',
      'a',
      'DE',
      'sk-',
      'x.io',
      'b@c.de',
      '\n',
      '555-123-4567',
      '4111 1111 1111 1111',
      'NL91ABNA0417164300',
      'fe80::1',
      '10.0.0.1',
      'Phone: ',
    ];
    for (let trial = 0; trial < 150; trial++) {
      let text = '';
      const length = 50 + Math.floor(rnd() * 1500);
      while (text.length < length) text += parts[Math.floor(rnd() * parts.length)];
      const whole = redact(text);
      const { out, detections } = streamed(randomSplit(text, 2 + Math.floor(rnd() * 60), rnd));
      expect(out, JSON.stringify(text)).toBe(whole.text);
      expect(detections).toEqual(whole.detections);
    }
  });

  it('splits one character at a time like token-sized SSE deltas', () => {
    const text = SAMPLES.join(' ');
    expect(streamed([...text]).out).toBe(redact(text).text);
  });

  it('stays exact on long text with no whitespace (JSON, minified lines), in any split', () => {
    const rnd = rng(7);
    const record = (i: number) => `{"id":${i},"email":"user${i}@example.com","card":"4111111111111111","ip":"10.0.${i % 250}.1","k":"${key}"}`;
    const text = Array.from({ length: 60 }, (_, i) => record(i)).join(',');
    const whole = redact(text);
    for (let trial = 0; trial < 30; trial++) {
      const { out, detections } = streamed(randomSplit(text, 5 + Math.floor(rnd() * 400), rnd));
      expect(out).toBe(whole.text);
      expect(detections).toEqual(whole.detections);
    }
  });

  it('emits clean text at once and holds back only the tail that could still be a value', () => {
    const s = createStreamRedactor();
    expect(s.push('Hello, the answer is ')).toBe('Hello, the answer is ');
    expect(s.push('ready. Contact ceo@ac')).toBe('ready. Contact ');
    expect(s.push('me.com for details')).toBe('[EMAIL_REDACTED] for ');
    expect(s.end()).toBe('details');
  });

  it('keeps a phone split across chunks together', () => {
    const s = createStreamRedactor();
    let out = s.push('call +44 20 ');
    out += s.push('7946 0958 now');
    out += s.end();
    expect(out).toBe('call [PHONE_REDACTED] now');
  });

  it('holds back a bounded window even when no whitespace ever comes', () => {
    const s = createStreamRedactor();
    let pushed = 0;
    let emitted = 0;
    for (let i = 0; i < 500; i++) {
      const chunk = `"field${i}":"value-${i}",`;
      pushed += chunk.length;
      emitted += s.push(chunk).length;
      expect(pushed - emitted).toBeLessThan(450);
    }
  });

  it('reports findings with offsets in the whole stream, once each, as soon as they are final', () => {
    const seen: Detection[] = [];
    const text = `${'a '.repeat(50)}x@y.io and 555-123-4567 end`;
    const s = createStreamRedactor({ onDetection: (d) => seen.push(d) });
    s.push(text.slice(0, 120));
    expect(seen.map((d) => d.type)).toEqual(['EMAIL']);
    s.push(text.slice(120));
    s.end();
    expect(seen).toEqual(scan(text));
    expect(s.detections).toEqual(seen);
  });

  it('under a policy, leaves warn-mode types in place and flags block-mode ones', () => {
    const policy = { mode: 'redact' as const, perType: { IP_ADDRESS: 'warn' as const, API_KEY: 'block' as const } };
    const text = `from 10.0.0.1 mail a@b.io key ${key}`;
    const result = streamed(randomSplit(text, 7, rng(3)), { policy });
    expect(result.out).toBe('from 10.0.0.1 mail [EMAIL_REDACTED] key [API_KEY_REDACTED]');
    expect(result.blocked?.type).toBe('API_KEY');
    expect(result.out).toBe(redact(text, { policy }).text);
  });

  it('refuses input after end()', () => {
    const s = createStreamRedactor();
    s.push('done');
    s.end();
    expect(() => s.push('more')).toThrow(ValidationError);
  });
});
