import { describe, expect, it } from 'vitest';
import { createJsonStreamRedactor, createStreamRedactor, mapJsonStrings, redact, redactJsonText, type TextRedactor } from '../../src/domain/pii/index.js';
import { keyWords } from '../../src/domain/pii/json.js';
import { expectIs } from '../helpers/cheap-expect.js';

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
      for (let i = 0; i <= doc.length; i++) expectIs(streamed([doc.slice(0, i), doc.slice(i)]), whole, `${doc} at ${i}`);
    }
  });

  it('gives the same text for every split into three chunks and one character at a time', () => {
    const doc = DOCS[1]!;
    const whole = redactJsonText(doc, open);
    for (let i = 0; i <= doc.length; i++) {
      for (let j = i; j <= doc.length; j++) expectIs(streamed([doc.slice(0, i), doc.slice(i, j), doc.slice(j)]), whole);
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

  it('scans a value after its key, as prose would read it: the key says what a bare number is', () => {
    const cases: Array<[string, string]> = [
      ['{"phone":"4155550123"}', '{"phone":"[PHONE_REDACTED]"}'],
      ['{"ssn":"123456789"}', '{"ssn":"[SSN_REDACTED]"}'],
      // A number holding PII becomes the redaction as a string: still valid JSON, the value gone.
      ['{"ssn":123456789,"n":12345}', '{"ssn":"[SSN_REDACTED]","n":12345}'],
      ['{"card": 4111111111111111}', '{"card": "[CREDIT_CARD_REDACTED]"}'],
      // An array's items share its key; a nested object's keys do not leak to its parent's next value.
      [
        '{"phone":["4155550123","4155550124"],"contact":{"ssn":"123456789"},"id":"4155550123"}',
        '{"phone":["[PHONE_REDACTED]","[PHONE_REDACTED]"],"contact":{"ssn":"[SSN_REDACTED]"},"id":"4155550123"}',
      ],
      // Without such a key the same digits are an order number, a count, a price.
      ['{"order_id":4155550123,"total":-12.5e3,"qty":[1,2]}', '{"order_id":4155550123,"total":-12.5e3,"qty":[1,2]}'],
    ];
    for (const [doc, want] of cases) {
      expect(redactJsonText(doc, open), doc).toBe(want);
      expect(() => JSON.parse(want)).not.toThrow();
      for (let i = 0; i <= doc.length; i++) expectIs(streamed([doc.slice(0, i), doc.slice(i)]), want, `${doc} at ${i}`);
      expect(streamed([...doc])).toBe(want);
    }
  });

  it('flushes a number the document ends on, and holds one back until it ends', () => {
    const r = createJsonStreamRedactor(open);
    expect(r.push('{"ssn":1234')).toBe('{"ssn":');
    expect(r.push('56789')).toBe('');
    expect(r.end()).toBe('"[SSN_REDACTED]"');
  });

  it('reads a key as its words: camelCase, snake_case, dashes, dots and digits say what a value is', () => {
    const cases: Array<[string, string]> = [
      ['{"phone_number":"4155550123"}', '{"phone_number":"[PHONE_REDACTED]"}'],
      ['{"phoneNumber":4155550123}', '{"phoneNumber":"[PHONE_REDACTED]"}'],
      ['{"mobile-phone":"4155550123","phone1":"4155550124"}', '{"mobile-phone":"[PHONE_REDACTED]","phone1":"[PHONE_REDACTED]"}'],
      ['{"ssn_number":"123456789","social.security.number":"123456780"}', '{"ssn_number":"[SSN_REDACTED]","social.security.number":"[SSN_REDACTED]"}'],
      // Words that say nothing about a phone or an SSN keep the digits an order number.
      ['{"orderNumber":4155550123,"invoice_2":"123456789"}', '{"orderNumber":4155550123,"invoice_2":"123456789"}'],
    ];
    for (const [doc, want] of cases) {
      expect(redactJsonText(doc, open), doc).toBe(want);
      for (let i = 0; i <= doc.length; i++) expectIs(streamed([doc.slice(0, i), doc.slice(i)]), want, `${doc} at ${i}`);
    }
    expect(keyWords('social_security_number')).toBe('social security number');
    expect(keyWords('HTTPStatus2xx')).toBe('http status xx');
    expect(keyWords('bob@example.org')).toBeNull();
  });

  it('scans text outside strings that is not true/false/null or a number (a model writes such "JSON" too)', () => {
    const cases: Array<[string, string]> = [
      ['bob@example.org', '[EMAIL_REDACTED]'],
      ['{"to": bob@example.org}', '{"to": [EMAIL_REDACTED]}'],
      ["{'to': 'bob@example.org', 'phone': '4155550123'}", "{'to': '[EMAIL_REDACTED]', 'phone': '[PHONE_REDACTED]'}"],
      ['{"a": true, "b" : null ,"c":[false], "d": -1.5e3}', '{"a": true, "b" : null ,"c":[false], "d": -1.5e3}'],
    ];
    for (const [doc, want] of cases) {
      expect(redactJsonText(doc, open), doc).toBe(want);
      for (let i = 0; i <= doc.length; i++) {
        for (let j = i; j <= doc.length; j++) expectIs(streamed([doc.slice(0, i), doc.slice(i, j), doc.slice(j)]), want, `${doc} at ${i},${j}`);
      }
      expect(streamed([...doc])).toBe(want);
    }
  });

  it('tells the opener how long the key context is, so findings can point into the value', () => {
    const seen: number[] = [];
    redactJsonText('{"phone":"4155550123","x":"y","bob@example.org":1}', (context) => (seen.push(context), createStreamRedactor()));
    expect(seen).toEqual([0, 'phone: '.length, 0, 'x: '.length, 0, 0]);
  });
});
