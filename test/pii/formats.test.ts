// The formats of international addresses, phone numbers, cloud keys and SSNs, each with
// positives and near misses written from the format's own specification (RFC 6531 / IDNA for
// addresses, the national numbering plans, the AWS key format, the SSA's SSN rules), not from
// any corpus.
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { internationalVerdict, nationalValid, printedGroups } from '../../src/domain/pii/detectors/phone-plan.js';
import { denseText } from '../../scripts/bench/pii/dense.js';
import { createStreamRedactor, redact, scan, type PiiType } from '../../src/domain/pii/index.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

const found = (text: string) => scan(text).map((d) => `${d.type}:${d.value}`);
const NBSP = '\u00a0';
const NNBSP = '\u202f';

// The AWS documentation's example pair: 20-character id (AKIA + 16 of A-Z2-7), 40-character secret.
const AWS_ID = 'AKIAIOSFODNN7EXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const POSITIVES: Array<[string, PiiType, string]> = [
  // e-mail: RFC 6531 UTF-8 local parts, IDNA domains and TLDs
  ['Kontakt: jürgen.müller@bücher.de, danke', 'EMAIL', 'jürgen.müller@bücher.de'],
  ['напишите коля@пример.рф сегодня', 'EMAIL', 'коля@пример.рф'],
  ['邮箱 用户@例子.广告', 'EMAIL', '用户@例子.广告'],
  ['ईमेल अजय@डाटा.भारत पर', 'EMAIL', 'अजय@डाटा.भारत'],
  ['Email: χρήστης@παράδειγμα.ελ', 'EMAIL', 'χρήστης@παράδειγμα.ελ'],
  ['write to info@société-générale.fr.', 'EMAIL', 'info@société-générale.fr'],
  ['请联系bob@example.com谢谢', 'EMAIL', 'bob@example.com'],
  // German national: area code with trunk 0, then a slash (DIN 5008's older form)
  ['Tel. 030/1234567', 'PHONE', '030/1234567'],
  ['Rufen Sie 0171/1234567 an', 'PHONE', '0171/1234567'],
  ['Telefon: 089/123 456 78', 'PHONE', '089/123 456 78'],
  // French national: ten digits from 0, pairs with no-break spaces, or no separators after a phone word
  [`Appelez le 06${NBSP}12${NBSP}34${NBSP}56${NBSP}78 demain`, 'PHONE', `06${NBSP}12${NBSP}34${NBSP}56${NBSP}78`],
  [`Tél. : 01${NNBSP}23${NNBSP}45${NNBSP}67${NNBSP}89`, 'PHONE', `01${NNBSP}23${NNBSP}45${NNBSP}67${NNBSP}89`],
  ['Tél : 0612345678', 'PHONE', '0612345678'],
  ['portable: 0712345678', 'PHONE', '0712345678'],
  // Polish: nine digits, no trunk prefix; mobiles 3-3-3, landlines 2-3-2-2
  ['komórka 512 345 678', 'PHONE', '512 345 678'],
  ['Biuro 22 123 45 67', 'PHONE', '22 123 45 67'],
  ['tel. 512345678', 'PHONE', '512345678'],
  // Indian: ten digits from 6-9, written 5-5, or bare after a phone word
  ['call 98765 43210 after 6', 'PHONE', '98765 43210'],
  ['mobile: 9876543210', 'PHONE', '9876543210'],
  // US: ten digits without separators next to a phone word, also as a field name
  ['phone_number=4155552671', 'PHONE', '4155552671'],
  ['{"mobilePhone": "2125550123"}', 'PHONE', '2125550123'],
  ['callback 6175550199', 'PHONE', '6175550199'],
  // bare digits after a phone word and a short label: an index, a qualifier, '#', 'no.'
  ['Phone 2: 2125550123', 'PHONE', '2125550123'],
  ['Tel. (home) 2125550123', 'PHONE', '2125550123'],
  ['phone #1 - 4155550123', 'PHONE', '4155550123'],
  ['Mobile no. 9876543210', 'PHONE', '9876543210'],
  // AWS secret access keys: after their key name or right after an access key id
  [`aws_secret_access_key = ${AWS_SECRET}`, 'API_KEY', AWS_SECRET],
  [`"SecretAccessKey": "${AWS_SECRET}"`, 'API_KEY', AWS_SECRET],
  [`AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`, 'API_KEY', AWS_SECRET],
  [`secret key: ${AWS_SECRET}`, 'API_KEY', AWS_SECRET],
  // SSN: spaced or bare with a context word, also as a field name
  ['SSN 123 45 6789', 'SSN', '123 45 6789'],
  ['customer_ssn=123456789', 'SSN', '123456789'],
  ['socialSecurityNumber: 078051120', 'SSN', '078051120'],
  [`SSN:${NBSP}123${NBSP}45${NBSP}6789`, 'SSN', `123${NBSP}45${NBSP}6789`],
  ['SSN 123.45.6789', 'SSN', '123.45.6789'],
];

const NEAR_MISSES: string[] = [
  // at-signs and domains that are not addresses
  'icon@2x.png, react@18.2.0, user@localhost, @ü, ü@, a@b',
  'meet @Müller at 10',
  // slashes: dates, fractions, paths, ratios
  'due 01/15/2024 or 2024/01/15; 3/4 done; GET /orders/12345678/items; ratio 030/12',
  'build 0030/2024 in week 12/2024',
  // bare digit runs without a phone or SSN word, or after an id word
  'order 0612345678 shipped; invoice 9876543210; ticket 512345678; ref 4155552671',
  'numéro de commande 0612345678',
  'telemetry 4155552671 events; cellar 4155552671',
  // a phone word, then a sentence, an identifier or a time before the digits
  'phone 1 of 2125550123 rows; phone: see invoice 2125550123; phone at 10:30, id 2125550123',
  'batch 123456789 and zip 123 45 6789x; build 123.45.6789',
  'a number like 123 45 6789 with no word before it',
  // dates, times, versions, ZIP+4, UUIDs, prices, Luhn-invalid numbers, with no-break spaces too
  `2024-01-15 10:30:00, 15.01.2024 10:30, le 15${NBSP}01${NBSP}2024`,
  'v18.2.0 and 1.2.3.4567; ZIP+4 12345-6789; 550e8400-e29b-41d4-a716-446655440000',
  `Total 1${NBSP}234,56 € ; $1,234.56; 4111${NBSP}1111${NBSP}1111${NBSP}1112`,
  // 40-character tokens with no AWS name or id in front, and look-alikes after one
  `token ${AWS_SECRET}`,
  'aws_secret_access_key = a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
  'secret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  `secret santa list: ${AWS_SECRET}`,
  `aws_secret_access_key = ${AWS_SECRET}XYZ`,
  `secret: ${AWS_SECRET.slice(0, 39)}`,
];

describe('international addresses, phone numbers, cloud keys and SSNs', () => {
  it.each(POSITIVES)('%s', (text, type, value) => {
    expect(found(text)).toEqual([`${type}:${value}`]);
  });

  it.each(NEAR_MISSES)('near miss: %s', (text) => {
    expect(found(text)).toEqual([]);
  });

  it('finds the other prefixed keys in the pass that finds the AWS anchors', () => {
    const gitlab = `glpat-${'x7Kq2'.repeat(4)}`;
    expect(found(`secret: ${gitlab}`)).toEqual([`API_KEY:${gitlab}`]);
    expect(found(`token ${gitlab} and AKIA${'Q2W3E4R5T6Y7U2I3'}`)).toEqual([`API_KEY:${gitlab}`, 'API_KEY:AKIAQ2W3E4R5T6Y7U2I3']);
  });

  it('finds the AWS pair of a credentials CSV row and of a JSON document', () => {
    expect(found(`${AWS_ID},${AWS_SECRET}`)).toEqual([`API_KEY:${AWS_ID}`, `API_KEY:${AWS_SECRET}`]);
    const json = `{"AccessKeyId": "${AWS_ID}", "SecretAccessKey": "${AWS_SECRET}"}`;
    expect(redact(json).text).toBe('{"AccessKeyId": "[API_KEY_REDACTED]", "SecretAccessKey": "[API_KEY_REDACTED]"}');
  });
});

describe('compiled numbering plans agree with libphonenumber', () => {
  // The fast check replaces a parse per number; here the library is the oracle on random digits.
  const rnd = (() => {
    let x = 12345;
    return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x / 2 ** 32);
  })();
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');

  it('on national numbers of the default regions', () => {
    const regions = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'AU', 'JP', 'BR', 'IN'] as const;
    for (let i = 0; i < 6000; i++) {
      const region = regions[i % regions.length]!;
      const d = (rnd() < 0.5 ? '0' : '') + digits(8 + Math.floor(rnd() * 5));
      const lib = parsePhoneNumberFromString(d, { defaultCountry: region, extract: false })?.isValid() === true;
      expectIs(nationalValid(d, region), lib, `${region} ${d}`);
    }
  });

  it('on how valid national numbers written without a trunk prefix are grouped', () => {
    const regions = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'AU', 'JP', 'BR', 'IN'] as const;
    let compared = 0;
    for (let i = 0; i < 200000 && compared < 3000; i++) {
      const region = regions[i % regions.length]!;
      const d = `${1 + Math.floor(rnd() * 9)}${digits(7 + Math.floor(rnd() * 5))}`;
      if (!nationalValid(d, region)) continue;
      const national = parsePhoneNumberFromString(d, { defaultCountry: region, extract: false })?.formatNational() ?? '';
      // Where the library prints the trunk prefix as a group of its own (`0 815 68 82 18`), the
      // written form without it has one group fewer; that case is ours to decide, not compared.
      if (/^0 /.test(national)) continue;
      const lib = (national.match(/\d+/g) ?? []).map((g) => g.length);
      if (national.replace(/\D/g, '').startsWith('0')) lib[0]!--;
      const fast = printedGroups(d, region);
      if (fast === null) continue;
      compared++;
      expectEqual(fast, lib, `${region} ${d} (${national})`);
    }
    expect(compared).toBe(3000);
  });

  it('on numbers written with a country code', () => {
    const codes = ['1', '44', '49', '33', '34', '39', '31', '48', '61', '81', '55', '91', '7', '86', '41', '353', '971', '52', '54', '852'];
    for (let i = 0; i < 6000; i++) {
      const d = codes[i % codes.length]! + (rnd() < 0.15 ? '0' : '') + digits(6 + Math.floor(rnd() * 6));
      const n = parsePhoneNumberFromString(`+${d}`, { extract: false });
      const lib = n === undefined ? 'no' : n.isValid() ? 'valid' : n.isPossible() ? 'possible' : 'no';
      expectIs(internationalVerdict(d), lib, `+${d}`);
    }
  });
});

describe('stream redaction equals redact() for the new formats', () => {
  const text = `${POSITIVES.map(([t]) => t).join('\n')}\n${NEAR_MISSES.join(' ')}`;
  const whole = redact(text);

  it('for every split into two chunks', () => {
    for (let i = 0; i <= text.length; i++) {
      const s = createStreamRedactor();
      const out = s.push(text.slice(0, i)) + s.push(text.slice(i)) + s.end();
      expectIs(out, whole.text, `split at ${i}`);
    }
  });

  it('for every split of PII-dense text (the benchmark generator), with the same findings', () => {
    const dense = denseText(1200, 3).text;
    const expected = redact(dense);
    for (let i = 0; i <= dense.length; i++) {
      const s = createStreamRedactor();
      const out = s.push(dense.slice(0, i)) + s.push(dense.slice(i)) + s.end();
      expectIs(out, expected.text, `split at ${i}`);
      expectEqual(s.detections, expected.detections);
    }
  });

  it('for one-character chunks, with the same findings', () => {
    const s = createStreamRedactor();
    let out = '';
    for (const c of text) out += s.push(c);
    out += s.end();
    expect(out).toBe(whole.text);
    expect(s.detections).toEqual(whole.detections);
  });
});

// The same formats in disguise: fullwidth and other-script digits, zero-width and
// format characters inside, other dashes, slashes and spaces. The value found is the original
// text, disguise included.
const DISGUISED_POSITIVES: Array<[string, PiiType, string]> = [
  ['Kontakt: jürgen.müller\u200b@bücher.de, danke', 'EMAIL', 'jürgen.müller\u200b@bücher.de'],
  ['напишите коля＠пример.рф сегодня', 'EMAIL', 'коля＠пример.рф'],
  ['请联系ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ谢谢', 'EMAIL', 'ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
  ['Tel. ０３０／１２３４５６７', 'PHONE', '０３０／１２３４５６７'],
  ['Appelez le ０６\u00a0１２\u00a0３４\u00a0５６\u00a0７８ demain', 'PHONE', '０６\u00a0１２\u00a0３４\u00a0５６\u00a0７８'],
  ['komórka ５１２\u200b ３４５ ６７８', 'PHONE', '５１２\u200b ３４５ ６７８'],
  ['call ९८७६५ ४३२१० after 6', 'PHONE', '९८७६५ ४३२१०'],
  ['phone_number=٤١٥٥٥٥٢٦٧١', 'PHONE', '٤١٥٥٥٥٢٦٧١'],
  ['{"ｍｏｂｉｌｅＰｈｏｎｅ": "2125550123"}', 'PHONE', '2125550123'],
  ['Phone 2: ２１２５５５０１２３', 'PHONE', '２１２５５５０１２３'],
  [`aws_secret_access_key = ${AWS_SECRET.slice(0, 20)}\u200b${AWS_SECRET.slice(20)}`, 'API_KEY', `${AWS_SECRET.slice(0, 20)}\u200b${AWS_SECRET.slice(20)}`],
  ['SSN １２３ ４５ ６７８９', 'SSN', '１２３ ４５ ６７８９'],
  ['customer_ssn=１２３４５６７８９', 'SSN', '１２３４５６７８９'],
  ['SSN 123\u3000４５\u30006789', 'SSN', '123\u3000４５\u30006789'],
  ['SSN ١٢٣.٤٥.٦٧٨٩ no', 'SSN', '١٢٣.٤٥.٦٧٨٩'],
];

const DISGUISED_NEAR_MISSES: string[] = [
  'icon＠2x.png, react﹫18.2.0, user＠localhost',
  'due ０１／１５／２０２４ or ２０２４／０１／１５; ratio ０３０／１２',
  'order ０６１２３４５６７８ shipped; invoice ९८७६५४३२१०; ticket ٥١٢٣٤٥٦٧٨',
  'telemetry ４１５５５５２６７１ events',
  `２０２４–０１–１５ １０:３０:００, １５。０１。２０２４ １０:３０`,
  'v１８.２.０ and １.２.３.４５６７; ZIP+4 １２３４５–６７８９',
  `token ${AWS_SECRET.slice(0, 20)}\u200b${AWS_SECRET.slice(20)}`,
];

describe('the formats in disguise', () => {
  it.each(DISGUISED_POSITIVES)('%s', (text, type, value) => {
    expect(found(text)).toEqual([`${type}:${value}`]);
  });

  it.each(DISGUISED_NEAR_MISSES)('near miss: %s', (text) => {
    expect(found(text)).toEqual([]);
  });

  const text = `${DISGUISED_POSITIVES.map(([t]) => t).join('\n')}\n${DISGUISED_NEAR_MISSES.join(' ')}`;
  const whole = redact(text);

  it('stream redaction equals redact() for every split into two chunks, with the same findings', () => {
    expect(whole.detections.length).toBe(DISGUISED_POSITIVES.length);
    for (let i = 0; i <= text.length; i++) {
      const s = createStreamRedactor();
      const out = s.push(text.slice(0, i)) + s.push(text.slice(i)) + s.end();
      expectIs(out, whole.text, `split at ${i}`);
      expectEqual(s.detections, whole.detections);
    }
  });

  it('stream redaction equals redact() for one-unit chunks (surrogate pairs cut in two)', () => {
    const s = createStreamRedactor();
    let out = '';
    for (let i = 0; i < text.length; i++) out += s.push(text[i]!);
    out += s.end();
    expect(out).toBe(whole.text);
    expect(s.detections).toEqual(whole.detections);
  });
});
