// Bare digit runs after a phone word with a short label in between: an index, a bracketed or
// plain qualifier, a number word, a colon or dash, or the earlier numbers of a list. Near
// misses put a sentence, an identifier, a date, a time or an amount between the word and the
// digits, or have no phone word at all.
import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact, scan } from '../../src/domain/pii/index.js';

const phones = (text: string) => scan(text).map((d) => `${d.type}:${d.value}`);

const POSITIVES: Array<[string, string[]]> = [
  // an index or a short qualifier between the word and the number
  ['phone 1: 2125550123', ['2125550123']],
  ['Phone 2: 2125550123', ['2125550123']],
  ['phone (mobile): 2125550123', ['2125550123']],
  ['Tel. (home) 2125550123', ['2125550123']],
  ['phone #1 - 4155550123', ['4155550123']],
  ['Mobile no. 9876543210', ['9876543210']],
  ['Mobile No 2 - 9876543210', ['9876543210']],
  ['phone 2 (mobile): 2125550123', ['2125550123']],
  ['Telefon privat: 0301234567', ['0301234567']],
  ['Telefon privat unter 0301234567', ['0301234567']],
  ['telefono casa: 0612345678', ['0612345678']],
  ['"phone_home": "2125550123"', ['2125550123']],
  ['phone_1=2125550123', ['2125550123']],
  ['call me tomorrow at 2125550123', ['2125550123']],
  // free words with no punctuation run up to the number, as they may after any phone word
  ['call toll free 8005550123', ['8005550123']],
  ['Call now! 2125550123', ['2125550123']],
  ['Tel. privat 0301234567', ['0301234567']],
  ['mon numéro de portable est le 0612345678', ['0612345678']],
  ['call or text 2125550123', ['2125550123']],
  ['tel/fax: 2125550123', ['2125550123']],
  ['मोबाइल नंबर: 9876543210', ['9876543210']],
  ['phone number 1: +1 212 555 0123', ['+1 212 555 0123']],
  ['Telefon privat: 030 1234567', ['030 1234567']],
  // a list of numbers after one phone word
  ['phones: 2125550123, 4155550123', ['2125550123', '4155550123']],
  ['phone numbers: 2125550123; 4155550123', ['2125550123', '4155550123']],
  ['phones: 2125550123 / 4155550123', ['2125550123', '4155550123']],
  ['phones: 2125550123 or 4155550123', ['2125550123', '4155550123']],
  ['{"phones": ["2125550123", "4155550123"]}', ['2125550123', '4155550123']],
  ['phone: (212) 555-0123, 4155550123', ['(212) 555-0123', '4155550123']],
  ['mobiles: 9876543210, 9123456789', ['9876543210', '9123456789']],
  // a few words of prose with no digit and no identifier's word: redacted (a leak costs more
  // than a reference redacted in passing)
  ['Phone? 2125550123', ['2125550123']],
  ['my phone, if needed, 2125550123', ['2125550123']],
  ['phone: please use 2125550123', ['2125550123']],
  ['Phone: n/a, use 2125550123', ['2125550123']],
  ['phone: see row 2125550123', ['2125550123']],
  // words that say whose phone it is
  ['Phone (customer): 2125550123', ['2125550123']],
  ['Telefon (Kunden): 0301234567', ['0301234567']],
  ['Phone, in case: 2125550123', ['2125550123']],
  // a number of its own right after an index and a colon (not a time's minutes)
  ['Tel1:+49 30 1234567', ['+49 30 1234567']],
  ['Phone 2:212-555-0123', ['212-555-0123']],
  ['tel 2:(212) 555-0123', ['(212) 555-0123']],
  ['contact 2:+1 415 555 0123', ['+1 415 555 0123']],
];

const NEAR_MISSES: string[] = [
  'phone 1 of 2125550123 rows',
  'Order 2125550123',
  'phone: see invoice 2125550123',
  'phone at 10:30, id 2125550123',
  'phone at 10:30 2125550123',
  'Phone: 10:30 2125550123',
  'phone order: 2125550123',
  'phone calls: 2125550123',
  'phone bill 2125550123',
  'phone ext 12 2125550123',
  'phone 15.01.2024, 2125550123',
  'phone 2024-01-15 10, 2125550123',
  'phone: $45, 2125550123',
  'phone 1,234.56, 2125550123',
  'call duration 2125550123',
  'call ids: 2125550123',
  'call 2 at 1732000000',
  'sms 2 sent at 2125550123',
  'cellar 2125550123, 4155550123',
];

describe('phone numbers after a phone word and a short label', () => {
  it.each(POSITIVES)('%s', (text, values) => {
    expect(phones(text)).toEqual(values.map((v) => `PHONE:${v}`));
  });

  it.each(NEAR_MISSES)('near miss: %s', (text) => {
    expect(phones(text)).toEqual([]);
  });

  it('keeps a list going only through numbers and list separators', () => {
    expect(phones('phones: 2125550123, id 4155550123')).toEqual(['PHONE:2125550123']);
    expect(phones('phones: 2125550123, 15.01.2024, 4155550123')).toEqual(['PHONE:2125550123']);
  });

  it('streams every label to the same redaction as redact(), in one-character chunks', () => {
    const text = [...POSITIVES.map(([t]) => t), ...NEAR_MISSES].join('\n');
    const whole = redact(text);
    const s = createStreamRedactor();
    let out = '';
    for (const c of text) out += s.push(c);
    out += s.end();
    expect(out).toBe(whole.text);
    expect(s.detections).toEqual(whole.detections);
  });
});

// The phone words of Chinese, Japanese and Korean labels were none, so a bare run after
// `电话：` or `電話番号：` was missed (a formatted number was found without any word).
describe('a bare phone number after a Chinese, Japanese or Korean phone word', () => {
  it.each([
    ['电话：4155550123', '4155550123'],
    ['联系电话 4155550123', '4155550123'],
    ['手机: 4155550123', '4155550123'],
    ['電話:09012345678', '09012345678'],
    ['電話番号：0312345678', '0312345678'],
    ['携帯 09012345678', '09012345678'],
    ['전화: 4155550123', '4155550123'],
  ])('%s', (text, value) => {
    expect(phones(text)).toEqual([`PHONE:${value}`]);
  });

  it('other words are no phone words', () => {
    expect(phones('订单：4155550123')).toEqual([]);
  });
});
