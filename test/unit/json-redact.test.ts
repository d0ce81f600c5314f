import { describe, expect, it } from 'vitest';
import { createJsonStreamRedactor, createStreamRedactor, mapJsonStrings, redact, redactJsonText, type TextRedactor } from '../../src/safety/index.js';

// JSON-aware redaction of tool-call arguments: valid JSON out, every split gives the same text.

const open = (): TextRedactor => createStreamRedactor();

function streamed(chunks: string[]): string {
  const r = createJsonStreamRedactor(open);
  let out = '';
  for (const c of chunks) out += r.push(c);
  return out + r.end();
}

/** What redaction of the parsed value string by string gives, written back as JSON. */
const expectedOf = (json: string) => JSON.stringify(mapJsonStrings(JSON.parse(json), (s) => redact(s).text));

const key = `sk-proj-${'Ab3dE5fG7h'.repeat(6)}`;
const DOCS = [
  '{"to":"bob@example.org","subject":"Hi","body":"Call (555) 123-4567 today"}',
  // Escapes around and inside values: a quote, a backslash, newlines, \u escapes (é, an emoji's surrogates).
  '{"note":"He said \\"mail jane.doe@corp.example\\"\\nthen left","path":"C:\\\\x","name":"Ren\\u00e9e \\ud83d\\ude00 ok"}',
  `{"cards":["4111 1111 1111 1111",{"iban":"DE89 3704 0044 0532 0130 00"}],"n":12345,"ok":true,"k":"${key}","nil":null}`,
  // PII in a key, and a value right after an escaped newline (raw scanning would see "nbob@…").
  '{"bob@example.org":1,"line":"x\\nbob@example.org"}',
  '[]',
];

describe('JSON-aware redaction (tool-call arguments)', () => {
  it('redacts inside string values and keys, leaves the rest, and gives valid JSON', () => {
    for (const doc of DOCS) {
      const out = redactJsonText(doc, open);
      expect(() => JSON.parse(out), out).not.toThrow();
      // These documents are written as JSON.stringify writes them, so even the bytes agree.
      expect(out).toBe(expectedOf(doc));
    }
    expect(redactJsonText(DOCS[0]!, open)).toBe('{"to":"[EMAIL_REDACTED]","subject":"Hi","body":"Call [PHONE_REDACTED] today"}');
    expect(JSON.parse(redactJsonText(DOCS[3]!, open))).toEqual({ '[EMAIL_REDACTED]': 1, line: 'x\n[EMAIL_REDACTED]' });
  });

  it('gives the same text for every split into two chunks, escapes cut in half included', () => {
    for (const doc of DOCS) {
      const whole = redactJsonText(doc, open);
      for (let i = 0; i <= doc.length; i++) expect(streamed([doc.slice(0, i), doc.slice(i)]), `${doc} at ${i}`).toBe(whole);
    }
  });

  it('gives the same text for every split into three chunks and one character at a time', () => {
    const doc = DOCS[1]!;
    const whole = redactJsonText(doc, open);
    for (let i = 0; i <= doc.length; i++) {
      for (let j = i; j <= doc.length; j++) expect(streamed([doc.slice(0, i), doc.slice(i, j), doc.slice(j)])).toBe(whole);
    }
    for (const d of DOCS) expect(streamed([...d])).toBe(redactJsonText(d, open));
  });

  it('holds back only inside a string: structure after a closed string goes out at once', () => {
    const r = createJsonStreamRedactor(open);
    expect(r.push('{"to":"bob@exa')).toBe('{"to":"');
    expect(r.push('mple.org","n":')).toBe('[EMAIL_REDACTED]","n":');
    expect(r.push('1}')).toBe('1}');
    expect(r.end()).toBe('');
  });

  it('flushes, redacted, a document cut off inside a string', () => {
    const r = createJsonStreamRedactor(open);
    const out = r.push('{"to":"mail bob@example.org') + r.end();
    expect(out).toBe('{"to":"mail [EMAIL_REDACTED]');
  });
});
