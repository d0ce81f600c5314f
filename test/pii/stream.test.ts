import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { createStreamRedactor, redact, scan, type Detection, type StreamRedactorOptions } from '../../src/domain/pii/index.js';
import { firstFold, foldStretches, STRETCHES_FROM } from '../../src/domain/pii/normalize.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

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

/**
 * Streams `text` in `trials` random splits of `least` to `least + spread` pieces: each must give
 * what redact() gives of the whole text, findings included. Returns that whole redaction.
 */
function expectSplitsLikeWhole(text: string, trials: number, least: number, spread: number, rnd: () => number) {
  const whole = redact(text);
  for (let trial = 0; trial < trials; trial++) {
    const { out, detections } = streamed(randomSplit(text, least + Math.floor(rnd() * spread), rnd));
    if (!Object.is(out, whole.text)) expect(out, JSON.stringify(text)).toBe(whole.text);
    expectEqual(detections, whole.detections);
  }
  return whole;
}

/** `trials` random texts made of `parts`, 50 to 50 + `spread` units long, each streamed in one random split of 2 to 62 pieces like the whole. */
function expectRandomTextsLikeWhole(parts: readonly string[], trials: number, spread: number, rnd: () => number) {
  for (let trial = 0; trial < trials; trial++) {
    let text = '';
    const length = 50 + Math.floor(rnd() * spread);
    while (text.length < length) text += parts[Math.floor(rnd() * parts.length)];
    expectSplitsLikeWhole(text, 1, 2, 60, rnd);
  }
}

const key = `sk-proj-${'Ab3dE5fG7h'.repeat(6)}`;
const SAMPLES = [
  'Contact the CEO at ceo@acme.com or call (555) 123-4567.',
  `Sure! Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, key ${key} — done.`,
  'Peers: 2001:db8::1, 10.0.0.1:8080 and +44 (0)20 7946 0958; SSN 123-45-6789\nNext line: 01 23 45 67 89 ok',
  '{"email":"a.b@example.org","phone":"+49 30 12345678","ip":"192.168.0.10","note":"version 1.2.3.4"}',
  'DATABASE_URL=postgres://app:hunter2-Xy9@db.internal:5432/crm and postgresql://a_service_account_name_long:pw0rd!x@db/x, redis://:${REDIS_PW}@cache',
];

describe('stream redactor', () => {
  it('gives the same text as redact() for every split into two chunks', () => {
    for (const text of SAMPLES) {
      const expected = redact(text).text;
      for (let i = 0; i <= text.length; i++) {
        expectIs(streamed([text.slice(0, i), text.slice(i)]).out, expected, `split at ${i}`);
      }
    }
  });

  it('gives the same text and findings as redact() for random many-chunk splits', () => {
    const rnd = rng(42);
    const text = Array.from({ length: 40 }, (_, i) => `${SAMPLES[i % SAMPLES.length]}${i % 3 ? ' ' : '\n'}`).join('');
    expectSplitsLikeWhole(text, 60, 2, 200, rnd);
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
    expectRandomTextsLikeWhole(parts, 150, 1500, rnd);
  });

  it('splits one character at a time like token-sized SSE deltas', () => {
    const text = SAMPLES.join(' ');
    expect(streamed([...text]).out).toBe(redact(text).text);
  });

  it('stays exact on long text with no whitespace (JSON, minified lines), in any split', () => {
    const rnd = rng(7);
    const record = (i: number) => `{"id":${i},"email":"user${i}@example.com","card":"4111111111111111","ip":"10.0.${i % 250}.1","k":"${key}"}`;
    const text = Array.from({ length: 60 }, (_, i) => record(i)).join(',');
    expectSplitsLikeWhole(text, 30, 5, 400, rnd);
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
      if (!(pushed - emitted < 450)) expect(pushed - emitted).toBeLessThan(450);
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

  describe('on disguised values (zero-width characters, other digits, dashes, spaces and stops)', () => {
    // [text, what redact() gives, written by hand]
    const DISGUISED: Array<[string, string]> = [
      ['Mail zara.quill\u200b@vexmail.io or ｚａｒａ＠ｖｅｘｍａｉｌ．ｉｏ, SSN ٥٣٦-٢٢-٨١٤٧ and 536–22–8147.', 'Mail [EMAIL_REDACTED] or [EMAIL_REDACTED], SSN [SSN_REDACTED] and [SSN_REDACTED].'],
      ['Card ４５３９ １４８８ ０３４３ ６４６７; 𝐳𝐚𝐫𝐚@𝐯𝐞𝐱𝐦𝐚𝐢𝐥.𝐢𝐨; call 415\u200b555\u200b0199\u2003now', 'Card [CREDIT_CARD_REDACTED]; [EMAIL_REDACTED]; call [PHONE_REDACTED]\u2003now'],
      [
        '4539\u200c1488\u200c0343\u200c6467 \u200b 4539\u30001488\u30000343\u30006467\u00a0IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００',
        '[CREDIT_CARD_REDACTED] \u200b [CREDIT_CARD_REDACTED]\u00a0IBAN [IBAN_REDACTED]',
      ],
      [
        '{"ｅｍａｉｌ":"zara\u2060@vexmail。io","ip":"１０.０.０.１","k":"sk-proj-Ab3dE5fG7h\u200bAb3dE5fG7hAb3dE5fG7h"}',
        '{"ｅｍａｉｌ":"[EMAIL_REDACTED]","ip":"[IP_ADDRESS_REDACTED]","k":"[API_KEY_REDACTED]"}',
      ],
    ];

    it('redacts them as written by hand, whole and for every split into two chunks', () => {
      for (const [text, expected] of DISGUISED) {
        expect(redact(text).text).toBe(expected);
        for (let i = 0; i <= text.length; i++) expectIs(streamed([text.slice(0, i), text.slice(i)]).out, expected, `${text} split at ${i}`);
      }
    });

    it('gives the same text and findings as redact() for random many-chunk splits and one-unit chunks', () => {
      const rnd = rng(2201);
      const text = Array.from({ length: 30 }, (_, i) => `${DISGUISED[i % DISGUISED.length]![0]}${i % 3 ? ' ' : '\n'}`).join('');
      const whole = expectSplitsLikeWhole(text, 40, 2, 300, rnd);
      const units = streamed(text.split(''));
      expect(units.out).toBe(whole.text);
      expect(units.detections).toEqual(whole.detections);
    });

    it('on a long text read folded only around its disguises, gives what the stream gives for any split', () => {
      const rnd = rng(404);
      const clean = 'The team reviewed 14 tickets and closed the order 1234567 on 2024-01-15 at 10:30.\n';
      let text = '';
      for (let i = 0; text.length < 4 * STRETCHES_FROM; i++) text += i % 9 === 4 ? `${DISGUISED[i % DISGUISED.length]![0]}\n` : clean;
      expect(foldStretches(text, firstFold(text), 32)).not.toBeNull();
      const whole = expectSplitsLikeWhole(text, 10, 20, 2000, rnd);
      expect(whole.text).toBe(
        text
          .split('\n')
          .map((line) => DISGUISED.find(([t]) => t === line)?.[1] ?? line)
          .join('\n'),
      );
    });

    it('holds a value back when a disguising character sits at a chunk edge', () => {
      const edges: Array<[string[], string]> = [
        [['Card 4539 1488 0343 646', '７ ok'], 'Card [CREDIT_CARD_REDACTED] ok'],
        [['Card ４５３９ １４８８ ０３４３ ', '６４６７ ok'], 'Card [CREDIT_CARD_REDACTED] ok'],
        [['SSN 536-22-814', '\u200b7 on file'], 'SSN [SSN_REDACTED] on file'],
        [['SSN 536-22-8147\u200b', ' on file'], 'SSN [SSN_REDACTED]\u200b on file'],
        [['call 415 ', '\u200b555 0199 now'], 'call [PHONE_REDACTED] now'],
        [['call 415\u2003', '555\u2003', '0199 now'], 'call [PHONE_REDACTED] now'],
        [['Mail zara.quill', '\u200b', '@vexmail.io now'], 'Mail [EMAIL_REDACTED] now'],
        // A mark on the last character goes with the value, even when it comes in the next chunk.
        [['SSN 536-22-8147', '\u20e3 on file'], 'SSN [SSN_REDACTED] on file'],
        [['Mail zara@vexmail.io', '\u0301', '\ufe0f now'], 'Mail [EMAIL_REDACTED] now'],
        // A surrogate pair cut in two: each half alone is no letter.
        [['Mail \ud835', '\udc33\ud835\udc1a@vex.io now'], 'Mail [EMAIL_REDACTED] now'],
        [['SSN \ud835\udfd3\ud835\udfd1\ud835', '\udfd4-22-8147 on file'], 'SSN [SSN_REDACTED] on file'],
      ];
      for (const [chunks, expected] of edges) expect(streamed(chunks).out, JSON.stringify(chunks)).toBe(expected);
      // What is held back: the tail that a fold may still turn into a value, and no more.
      const s = createStreamRedactor();
      expect(s.push('Hi there ')).toBe('Hi there ');
      expect(s.push('４５３９ １４８８ ')).toBe('');
      expect(s.push('０３４３ ６４６７\u200b ok, bye')).toBe('[CREDIT_CARD_REDACTED]\u200b ok, ');
      expect(s.end()).toBe('bye');
    });

    it('keeps what the detectors read behind a value, however much zero-width text pads it', () => {
      // The keyword is 40 zero-width spaces back: the look-behind must be counted in folded characters.
      const pad = '\u200b'.repeat(40);
      const text = `S\u200bS\u200bN${pad}: 536228147 on file`;
      const expected = `S\u200bS\u200bN${pad}: [SSN_REDACTED] on file`;
      expect(redact(text).text).toBe(expected);
      for (let i = 0; i <= text.length; i++) expectIs(streamed([text.slice(0, i), text.slice(i)]).out, expected, `split at ${i}`);
    });

    it('stays exact on random text made of disguising characters and the characters values are made of', () => {
      const rnd = rng(77);
      const parts = [
        '1',
        '23',
        '４',
        '٥٦',
        '𝟕',
        '\u200b',
        '\u2060',
        '\u00ad',
        '\ufe0f',
        ' ',
        '\u3000',
        '\u00a0',
        '-',
        '–',
        '−',
        '.',
        '。',
        '＠',
        '@',
        '﹫',
        'a',
        'ｂ',
        '𝐜',
        'x.io',
        'sk-',
        '\n',
        '555–123–4567',
        '４１１１ １１１１ １１１１ １１１１',
        'SSN ',
        '\ud835',
        // Controls, combining marks, other digits, stops, dashes and blanks.
        '\u0000',
        '\u0085',
        '\u0301',
        '\u20e3',
        '❺',
        '➄',
        '۔',
        '·',
        '➖',
        'ー',
        '\u2800',
      ];
      expectRandomTextsLikeWhole(parts, 120, 1200, rnd);
    });

    it('stays exact on long random text with a few disguising characters, in any split', () => {
      const rnd = rng(515);
      const plain = [
        '1',
        '23',
        '456',
        ' ',
        ' ',
        ' ',
        '-',
        '.',
        '(',
        ')',
        '+',
        '@',
        ':',
        'a',
        'DE',
        'x.io',
        'b@c.de',
        '\n',
        '555-123-4567',
        '4111 1111 1111 1111',
        'Phone: ',
        'SSN ',
        'word ',
        'the ',
        '10.0.0.1',
      ];
      const disguise = ['\u200b', '４', '٥', '–', '＠', '。', '\u3000', '\u00a0', '𝟕', '\u00ad'];
      let stretched = 0;
      for (let trial = 0; trial < 12; trial++) {
        let text = '';
        while (text.length < STRETCHES_FROM + 4000) text += rnd() < 0.01 ? disguise[Math.floor(rnd() * disguise.length)] : plain[Math.floor(rnd() * plain.length)];
        if (foldStretches(text, firstFold(text), 32) !== null) stretched++;
        expectSplitsLikeWhole(text, 1, 50, 500, rnd);
      }
      expect(stretched).toBeGreaterThan(6);
    });

    it('stays exact on long disguised text with no whitespace, in any split, and bounded under zero-width padding', () => {
      const rnd = rng(13);
      const record = (i: number) => `{"id":${i},"email":"user${i}\u200b@example。com","card":"４１１１１１１１１１１１１１１１","ip":"１０.0.${i % 250}.1"}`;
      const text = Array.from({ length: 50 }, (_, i) => record(i)).join(',');
      const whole = expectSplitsLikeWhole(text, 20, 5, 400, rnd);
      expect(whole.detections.length).toBe(150);
      // A thousand zero-width spaces inside a card number do not hide it.
      const padded = `Card 4539${'\u200b'.repeat(1000)}148803436467 ok`;
      expect(streamed(randomSplit(padded, 90, rnd)).out).toBe('Card [CREDIT_CARD_REDACTED] ok');
      // Endless padding with no break is cut for memory, not held forever.
      const s = createStreamRedactor({ retainDetections: false });
      let pushed = 0;
      let emitted = 0;
      for (let i = 0; i < 100; i++) {
        pushed += 4096;
        emitted += s.push('\u200b'.repeat(4096)).length;
        if (!(pushed - emitted < 70 * 1024)) expect(pushed - emitted).toBeLessThan(70 * 1024);
      }
    });
  });

  it('refuses input after end()', () => {
    const s = createStreamRedactor();
    s.push('done');
    s.end();
    expect(() => s.push('more')).toThrow(ValidationError);
  });
});
