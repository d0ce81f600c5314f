import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { redact, scan, type PiiType, type ScanOptions } from '../../src/domain/pii/index.js';

const found = (text: string, opts?: ScanOptions) => scan(text, opts).map((d) => `${d.type}:${d.value}`);

// Key-shaped test values, built here so no real-looking secret sits in the source.
const openAiKey = `sk-proj-${'Ab3dE5fG7h'.repeat(6)}`;
const anthropicKey = `sk-ant-api03-${'Qw9_eR7-tY5u'.repeat(8)}AA`;
const githubToken = `ghp_${'a1B2c3D4e5F6'.repeat(3)}`;
const slackToken = `xoxb-123456789012-1234567890123-${'AbCdEfGh'.repeat(3)}`;

describe('spec acceptance', () => {
  it('detects the e-mail in "Contact ceo@acme.com" as HIGH risk and redacts it', () => {
    const [d, ...rest] = scan('Contact ceo@acme.com');
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ type: 'EMAIL', risk: 'HIGH', start: 8, end: 20, value: 'ceo@acme.com' });
    expect(d!.confidence).toBeGreaterThan(0.9);
    expect(redact('Contact ceo@acme.com').text).toBe('Contact [EMAIL_REDACTED]');
  });
});

const POSITIVES: Array<[string, PiiType, string]> = [
  // e-mail: CRM notes, JSON, markup, sentence ends
  ['CRM: spoke to Jane (jane.doe+crm@sales.globex.co.uk) about the renewal', 'EMAIL', 'jane.doe+crm@sales.globex.co.uk'],
  ['{"email":"Bob.Smith@Example.ORG","ok":true}', 'EMAIL', 'Bob.Smith@Example.ORG'],
  ['<a href="mailto:o\'neil@firm.ie">write</a>', 'EMAIL', "o'neil@firm.ie"],
  ['Reply to josé.garcía@correo.es.', 'EMAIL', 'josé.garcía@correo.es'],
  // phones: US layouts
  ['Call (555) 123-4567 today', 'PHONE', '(555) 123-4567'],
  ['cell: 555-123-4567', 'PHONE', '555-123-4567'],
  ['fax 555.123.4567.', 'PHONE', '555.123.4567'],
  ['dial +1 555 123 4567 now', 'PHONE', '+1 555 123 4567'],
  ['Office: +1 (415) 555-2671', 'PHONE', '+1 (415) 555-2671'],
  ['toll free 1-800-555-0199', 'PHONE', '1-800-555-0199'],
  ['Phone: 4155552671', 'PHONE', '4155552671'],
  ['sms sent to +14155552671 ok', 'PHONE', '+14155552671'],
  // phones: other countries, international and national
  ['London office +44 20 7946 0958', 'PHONE', '+44 20 7946 0958'],
  ['tel. 020 7946 0958', 'PHONE', '020 7946 0958'],
  ['Zentrale +44 (0)20 7946 0958', 'PHONE', '+44 (0)20 7946 0958'],
  ['Berlin: +49 30 12345678', 'PHONE', '+49 30 12345678'],
  ['Rufnummer 030 12345678', 'PHONE', '030 12345678'],
  ['Appelez le +33 1 23 45 67 89', 'PHONE', '+33 1 23 45 67 89'],
  ['ou le 01 23 45 67 89 demain', 'PHONE', '01 23 45 67 89'],
  ['Tokyo 03-1234-5678', 'PHONE', '03-1234-5678'],
  ['携帯 +81 90-1234-5678', 'PHONE', '+81 90-1234-5678'],
  ['Mumbai desk +91 98765 43210', 'PHONE', '+91 98765 43210'],
  ['São Paulo (11) 91234-5678', 'PHONE', '(11) 91234-5678'],
  ['Sydney +61 2 9876 5432', 'PHONE', '+61 2 9876 5432'],
  ['Madrid 612 34 56 78', 'PHONE', '612 34 56 78'],
  ['desk (+49 170 5749435) or email', 'PHONE', '+49 170 5749435'],
  ['drama range +44 7700 900123 still reads as a number', 'PHONE', '+44 7700 900123'],
  // SSN
  ['Employee SSN 123-45-6789 on file', 'SSN', '123-45-6789'],
  ['ssn: 078-05-1120', 'SSN', '078-05-1120'],
  ['Social Security number 123 45 6789', 'SSN', '123 45 6789'],
  ['SSN#123456789', 'SSN', '123456789'],
  ['S.S.N. 536 22 8147 (verified)', 'SSN', '536 22 8147'],
  // cards
  ['Card 4111 1111 1111 1111 exp 04/27', 'CREDIT_CARD', '4111 1111 1111 1111'],
  ['MC 5500-0000-0000-0004', 'CREDIT_CARD', '5500-0000-0000-0004'],
  ['Amex 3782 822463 10005', 'CREDIT_CARD', '3782 822463 10005'],
  ['{"card":"6011111111111117"}', 'CREDIT_CARD', '6011111111111117'],
  // a 15-digit Amex or 14-digit Diners typed in fours, as forms that group every card by four print them
  ['Amex 3782 8224 6310 005 exp 04/27', 'CREDIT_CARD', '3782 8224 6310 005'],
  ['Diners 3056-9309-0259-04.', 'CREDIT_CARD', '3056-9309-0259-04'],
  // IBAN
  ['Wire to DE89 3704 0044 0532 0130 00 today', 'IBAN', 'DE89 3704 0044 0532 0130 00'],
  ['iban=GB82WEST12345698765432', 'IBAN', 'GB82WEST12345698765432'],
  ['RIB: FR14 2004 1010 0505 0001 3M02 606', 'IBAN', 'FR14 2004 1010 0505 0001 3M02 606'],
  ['NL91ABNA0417164300 (ING)', 'IBAN', 'NL91ABNA0417164300'],
  // typed in lower case, in its groups of four: the length and the checksum decide as for capitals
  // (whole, a lower-case run is an id; a space beside a lower-case letter ends a value, as in prose)
  ['iban: de89 3704 0044 0532 0130 00, thanks', 'IBAN', 'de89 3704 0044 0532 0130 00'],
  ['Iban: fr14 2004 1010 0505 0001 3m02 606', 'IBAN', 'fr14 2004 1010 0505 0001 3m02 606'],
  // IP addresses
  ['login from 192.168.1.1 failed', 'IP_ADDRESS', '192.168.1.1'],
  ['resolver 8.8.8.8:53 timed out', 'IP_ADDRESS', '8.8.8.8'],
  ['GET http://10.0.0.5/admin 403', 'IP_ADDRESS', '10.0.0.5'],
  ['peer 2001:db8::1 connected', 'IP_ADDRESS', '2001:db8::1'],
  ['listening on ::1', 'IP_ADDRESS', '::1'],
  ['iface fe80::1ff:fe23:4567:890a%eth0 up', 'IP_ADDRESS', 'fe80::1ff:fe23:4567:890a'],
  ['mapped ::ffff:192.0.2.128 seen', 'IP_ADDRESS', '::ffff:192.0.2.128'],
  ['https://[2001:db8:85a3::8a2e:370:7334]:443/', 'IP_ADDRESS', '2001:db8:85a3::8a2e:370:7334'],
  // keys and tokens
  [`OPENAI_API_KEY=${openAiKey}`, 'API_KEY', openAiKey],
  [`Authorization: Bearer ${anthropicKey}`, 'API_KEY', anthropicKey],
  ['aws_access_key_id = AKIAIOSFODNN7EXAMPLE', 'API_KEY', 'AKIAIOSFODNN7EXAMPLE'],
  [`token: "${githubToken}"`, 'API_KEY', githubToken],
  [`SLACK_BOT_TOKEN=${slackToken}`, 'API_KEY', slackToken],
];

describe('detectors find PII in varied text', () => {
  it.each(POSITIVES)('%s', (text, type, value) => {
    expect(found(text)).toEqual([`${type}:${value}`]);
  });

  it('finds every value in a mixed CRM note, in order, with exact offsets', () => {
    const text = 'Lead: Ana Silva, ana.silva@acme.com, +44 20 7946 0958; card 4111-1111-1111-1111; ip 10.1.2.3.';
    const ds = scan(text);
    expect(ds.map((d) => d.type)).toEqual(['EMAIL', 'PHONE', 'CREDIT_CARD', 'IP_ADDRESS']);
    for (const d of ds) expect(text.slice(d.start, d.end)).toBe(d.value);
  });

  it('reports offsets in UTF-16 code units, as JavaScript strings index', () => {
    const text = '😀 héllo → ceo@acme.com';
    const [d] = scan(text);
    expect(d!.start).toBe(text.indexOf('ceo@'));
    expect(text.slice(d!.start, d!.end)).toBe('ceo@acme.com');
  });

  it('redacts each type with its own marker', () => {
    const text = `a@b.io 555-123-4567 123-45-6789 4111111111111111 NL91ABNA0417164300 10.0.0.1 ${githubToken}`;
    expect(redact(text).text).toBe('[EMAIL_REDACTED] [PHONE_REDACTED] [SSN_REDACTED] [CREDIT_CARD_REDACTED] [IBAN_REDACTED] [IP_ADDRESS_REDACTED] [API_KEY_REDACTED]');
  });
});

// Values of every numeric type and a key, as the context tests below put them in brackets and
// after dashes and full stops (a lone card run too, in brackets: after a '-' or '.' it is a
// negative number or a fraction).
const IN_CONTEXT: Array<[PiiType, string]> = [
  ['PHONE', '415-555-0123'],
  ['PHONE', '+44 20 7946 0958'],
  ['PHONE', '020 7946 0958'],
  ['SSN', '590-59-3854'],
  ['CREDIT_CARD', '4111 1111 1111 1111'],
  ['IP_ADDRESS', '192.168.10.24'],
  ['IP_ADDRESS', '2001:db8::1'],
  ['API_KEY', openAiKey],
];
const foundIn = (type: PiiType, value: string, arounds: Array<(v: string) => string>) => {
  for (const around of arounds) expect(found(around(value)), around(value)).toEqual([`${type}:${value}`]);
};

// A value in brackets was missed whole when the bracket closed after it, not after an area code:
// the '(' was read as the start of `(555) 123-4567`, and the digit after it was never a start of
// its own. Each type, each closing.
describe('a value in brackets is found as it is outside them', () => {
  const AROUND = [(v: string) => `(${v})`, (v: string) => `call (${v}), then`, (v: string) => `see (${v}).`, (v: string) => `x (${v} ); y`, (v: string) => `[(${v})]`];
  it.each([...IN_CONTEXT, ['CREDIT_CARD', '4111111111111111'] as [PiiType, string]])('%s %s', (type, value) => foundIn(type, value, AROUND));

  it('an area code in brackets is still part of its number', () => {
    expect(found('Call (555) 123-4567 or (555)123-4567 today')).toEqual(['PHONE:(555) 123-4567', 'PHONE:(555)123-4567']);
  });
});

// A '-' or '.' (or what folds to them: '—', '–', '。') joins a number's groups only after a digit.
// After a space, a bracket or the text's start it is a dash, a bullet or a sentence's end, and
// the value after it was missed whole; after a phone or SSN word it glues a label on.
describe('a value after a dash, a full stop or a label glued on is found', () => {
  const AROUND = [
    (v: string) => `Call me — ${v} — anytime`,
    (v: string) => `-${v}`,
    (v: string) => `notes: -${v}`,
    (v: string) => `请回电。${v}`,
    (v: string) => `。${v}`,
    (v: string) => `x —${v}— y`,
    (v: string) => `end. .${v}`,
  ];
  it.each(IN_CONTEXT)('%s %s', (type, value) => foundIn(type, value, AROUND));

  it.each([
    ['SSN-590593854', 'SSN:590593854'],
    ['SSN.590-59-3854', 'SSN:590-59-3854'],
    ['SSN—590 59 3854', 'SSN:590 59 3854'],
    ['Tel.4155550123', 'PHONE:4155550123'],
    ['Tel.415-555-0123', 'PHONE:415-555-0123'],
    ['phone—4155550123', 'PHONE:4155550123'],
    ['Phone No.4155550123', 'PHONE:4155550123'],
    ['portable-0612345678', 'PHONE:0612345678'],
    ['Mob.+44 7700 900123', 'PHONE:+44 7700 900123'],
    ['Tel (home)415-555-0123', 'PHONE:415-555-0123'],
    ['(cell)415-555-0123', 'PHONE:415-555-0123'],
  ])('%s', (text, value) => {
    expect(found(text)).toEqual([value]);
  });

  it('a minus sign or a point before a lone run of digits makes a negative number or a fraction, not a card', () => {
    for (const text of ['{"age": -4111111111111111}', 'x=-5105105105105100;', '[-4532015112830366, 2]', 'hash -4111111111111111 seen', 'Δ −4111111111111111', 'p = .5105105105105100'])
      expect(found(text), text).toEqual([]);
    // A grouped value after a dash is still one.
    expect(found('-4111 1111 1111 1111')).toEqual(['CREDIT_CARD:4111 1111 1111 1111']);
  });

  it('after a rule of dashes or an ellipsis, whatever stands before it', () => {
    for (const [text, value] of [
      ['9----4111 1111 1111 1111', 'CREDIT_CARD:4111 1111 1111 1111'],
      ['wait...415-555-0123', 'PHONE:415-555-0123'],
      [`total${'-'.repeat(60)}590-59-3854`, 'SSN:590-59-3854'],
    ] as const)
      expect(found(text), text).toEqual([value]);
  });

  it('glued to a word that is no label, a run is part of an identifier', () => {
    for (const text of ['ORD-4155550123', 'PO-2024-000123', 'INV-4111111111111111', 'ISBN-10 0-306-40615-2', 'v.4111111111111111', 'build-590-59-3854x']) expect(found(text), text).toEqual([]);
  });
});

// Markdown emphasis (`_v_`, `__v__`) put a '_' against the value, which every detector read as
// the value running on into a word: every type was missed whole, and a spaced phone lost its last group.
describe('a value in markdown emphasis is found', () => {
  const googleKey = `AIza${'Ab3dE5fG7h'.repeat(3)}Ab3dE`;
  const VALUES: Array<[PiiType, string]> = [
    ['EMAIL', 'jane.doe@example.com'],
    ['PHONE', '415-555-0123'],
    ['PHONE', '+44 20 7946 0958'],
    ['SSN', '590-59-3854'],
    ['CREDIT_CARD', '4111 1111 1111 1111'],
    ['CREDIT_CARD', '4111111111111111'],
    ['IBAN', 'DE89 3704 0044 0532 0130 00'],
    ['IBAN', 'GB82WEST12345698765432'],
    ['IP_ADDRESS', '192.168.10.24'],
    ['IP_ADDRESS', '2001:db8::1'],
    ['API_KEY', openAiKey],
    ['API_KEY', googleKey],
  ];
  const AROUND = [(v: string) => `_${v}_`, (v: string) => `Contact: __${v}__.`, (v: string) => `(___${v}___)`, (v: string) => `- _${v}_, then`];
  it.each(VALUES)('%s %s', (type, value) => {
    for (const around of AROUND) expect(found(around(value)), around(value)).toEqual([`${type}:${value}`]);
  });

  it('a key of one fixed length is found before a dash', () => {
    expect(found(`key ${googleKey}- rotated`)).toEqual([`API_KEY:${googleKey}`]);
    expect(found(`key ${googleKey}-`)).toEqual([`API_KEY:${googleKey}`]);
  });

  it("'_' joined to a word on its far side is still part of an identifier", () => {
    for (const text of ['order_4155550123', 'id_4111111111111111', '4111111111111111_abc', 'x_DE89370400440532013000', 'v__192.168.10.24', 'a@b.com_x', `${googleKey}-x`])
      expect(found(text), text).toEqual([]);
  });
});

// One ':' before or after an IPv6 address (a label's, a sentence's) was read as part of it, and
// the address with it was no address: `ip:2001:db8::1`, `2001:db8::1: unreachable` were missed.
describe("an IPv6 address after a label's colon or before a sentence's is found", () => {
  it.each(['2001:db8::1', '2001:db8:85a3::8a2e:370:7334', 'fe80::1ff:fe23:4567:890a'])('%s', (value) => {
    for (const text of [`ip:${value}`, `client_ip:${value} ok`, `peer ${value}: unreachable`, `:${value}:`, `联系：${value}；`, `(ip:${value})`])
      expect(found(text), text).toEqual([`IP_ADDRESS:${value}`]);
  });

  it('two colons stay part of the address', () => {
    expect(found('gateway 2001:db8:: reached, then ::1')).toEqual(['IP_ADDRESS:2001:db8::', 'IP_ADDRESS:::1']);
  });
});

// A dash glued after an address (an em dash, as LLM prose writes one, folds to '-') ran into its
// top-level domain, which then was none: the address was missed whole.
describe('an e-mail address before a glued dash is found', () => {
  it.each([
    ['Email jane.doe@example.com—she replies fast', 'jane.doe@example.com'],
    ['bob@globex.co.uk-thanks', 'bob@globex.co.uk'],
    ['write to a@acme.com–or call', 'a@acme.com'],
    ['x@mail.example-host.org--x', 'x@mail.example-host.org'],
  ])('%s', (text, value) => {
    expect(found(text)).toEqual([`EMAIL:${value}`]);
  });

  it('a dash inside the domain is still its own', () => {
    expect(found('a@my-site.com and b@x.c-d')).toEqual(['EMAIL:a@my-site.com']);
  });
});

// A local part is at most 64 characters: padding glued before an address (no mailbox has such a
// name) must not hide the address a reader sees at its end. Its last 64 characters are taken.
describe('an e-mail address after a run longer than any local part is found', () => {
  it.each([
    ['600 letters and a dash', 'x'.repeat(600), '-', 'jane.doe@example.com'],
    ['70 dots', 'pad', '.'.repeat(70), 'jane@example.com'],
    ['65 letters glued', 'a'.repeat(65), '', 'bob@globex.co.uk'],
    ['200 letters and an underscore', 'Reply to ', 'z'.repeat(200), '_mary+news@acme.io'],
  ])('%s', (_, before, glue, address) => {
    const text = `${before}${glue}${address} please`;
    const [d, ...more] = scan(text);
    expect(more).toEqual([]);
    expect(d?.type).toBe('EMAIL');
    expect(text.slice(d!.start, d!.end).endsWith(address)).toBe(true);
    expect(d!.end - d!.start - address.length + address.indexOf('@')).toBeLessThanOrEqual(64);
  });

  it('a URL’s password is a credential, whole, however long (it was read as an address’s end past 64 characters)', () => {
    expect(found('https://admin:s3cret@host.example.com/path')).toEqual(['API_KEY:s3cret']);
    expect(found(`https://admin:${'p'.repeat(100)}@host.example.com/path`)).toEqual([`API_KEY:${'p'.repeat(100)}`]);
  });

  it('a run of exactly 65 characters is too long too; the cut never starts on a combining mark or padding’s underscores', () => {
    expect(found(`${'k'.repeat(60)}jane@x.com`)).toEqual([`EMAIL:${'k'.repeat(60)}jane@x.com`]);
    const sixtyFive = `${'k'.repeat(61)}jane`;
    expect(found(`${sixtyFive}@x.com`)).toEqual([`EMAIL:${sixtyFive.slice(1)}@x.com`]);
    expect(found(`${'_'.repeat(90)}jane@x.com`)).toEqual(['EMAIL:jane@x.com']);
    // 'e' and a combining acute: a cut between them leaves the accent out of the span too.
    const accented = `${'e\u0301'.repeat(40)}jane@x.com`;
    const [d] = scan(accented);
    expect(accented.slice(d!.start, d!.end)).toMatch(/^e\u0301(e\u0301)*jane@x\.com$/);
  });

  it('a URL’s password of 65 characters is no address: its colon lies just before the run', () => {
    expect(found(`https://admin:${'p'.repeat(65)}@host.example.com/path`)).toEqual([`API_KEY:${'p'.repeat(65)}`]);
  });

  it.each([
    ['Thai', 'กรุณาติดต่อคุณสมชายที่อีเมลนี้เพื่อยืนยันการนัดหมายของท่านในวันพรุ่งนี้ขอบคุณมากครับ'],
    ['Lao', 'ກະລຸນາຕິດຕໍ່ທີ່ອີເມວນີ້ເພື່ອຢືນຢັນການນັດໝາຍຂອງທ່ານໃນມື້ອື່ນຂອບໃຈຫຼາຍໆ'],
    ['Khmer', 'សូមទាក់ទងតាមអ៊ីមែលនេះដើម្បីបញ្ជាក់ការណាត់ជួបរបស់អ្នកនៅថ្ងៃស្អែកសូមអរគុណ'],
    ['Myanmar', 'ကျေးဇူးပြု၍ဤအီးမေးလ်ကိုဆက်သွယ်ပါမနက်ဖြန်ချိန်းဆိုမှုကိုအတည်ပြုရန်'],
    ['Han', '请通过以下电子邮件地址与我们的客户服务团队联系以确认您明天的预约谢谢您的耐心等待和支持'],
  ])('prose of a script written without spaces (%s) glued to an address is not taken into it', (_, prose) => {
    expect(found(`${prose}jane.doe@example.com${prose}`)).toEqual(['EMAIL:jane.doe@example.com']);
  });

  it('an address all in such a script is still one', () => {
    expect(found('ติดต่อ สมชาย@ตัวอย่าง.ไทย ครับ')).toEqual(['EMAIL:สมชาย@ตัวอย่าง.ไทย']);
    expect(found('mail สมชาย@example.com now')).toEqual(['EMAIL:สมชาย@example.com']);
    // ASCII digits and punctuation (Thai digits fold to them) belong to either script.
    for (const a of ['สมชาย2024@example.com', 'สมชาย_99@example.com', 'สม-ชาย@example.com', 'jane@ไทย2.com', 'jane@ศูนย์-ข้อมูล.ไทย']) expect(found(`mail ${a} now`)).toEqual([`EMAIL:${a}`]);
    expect(found('mail สมชาย๑๒@example.com now')).toEqual(['EMAIL:สมชาย๑๒@example.com']);
  });

  it('an address after a quote or a dash that follows a colon is found with a URL nearby', () => {
    for (const t of ["{url:'https://a.io',email:'jane@x.com'}", "[https://api.x.io] user:'jane@x.com' logged in", 'https://ex.com/faq to:-jane@x.com']) expect(found(t)).toEqual(['EMAIL:jane@x.com']);
  });

  it('and reads long runs in linear time', () => {
    const text = `${'a'.repeat(1000)}@`.repeat(2000);
    const t0 = performance.now();
    scan(text);
    const one = performance.now() - t0;
    const t1 = performance.now();
    scan(text.repeat(4));
    expect(performance.now() - t1).toBeLessThan(Math.max(one, 20) * 16);
  });
});

const NEGATIVES: string[] = [
  // dates and times
  'Meeting on 2024-01-15, then 01/15/2024, then 15.01.2024 (Jan 15, 2024).',
  'Deployed at 2024-01-15T10:30:00Z, finished 10:30:45.',
  'epoch 1705312200000 and 1705312200',
  // versions and numbered sections
  'Running version 1.2.3.4 (build v2.10.1)',
  'Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36',
  'upgraded to 1.2.3.4 yesterday; see section 3.1.2.4',
  'SNMP OID 1.3.6.1.4.1.343.2',
  // identifiers
  'Order #100234567 shipped; order 4155552671 refunded; PO-2024-000123; INV-00042',
  'request 550e8400-e29b-41d4-a716-446655440000 and 12345678-1234-1234-1234-123456789012',
  'commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 (short 3f2a1bc)',
  // lower-case ids of an IBAN's length that pass mod-97 (BE 16, EE 20, MT 31 characters)
  'span be9391f584f03faf, trace ee844bfd58199fc10fe7, id Me20FsmtqMLEsw4HD8Z5RR',
  // a reference number in fours that passes Luhn; an IBAN with wrong check digits (its groups are no card)
  'Ref 4532 0151 1283 0 and DE44 6353 1277 8474 0341 10',
  'ISBN 978-3-16-148410-0 and ISBN-10 0-306-40615-2',
  'MAC 00:1a:2b:3c:4d:5e; std::vector<int>; a::b',
  // numbers that fail their checks
  'Card 4111 1111 1111 1112 failed Luhn, so did 4111111111111112',
  'Invalid SSNs: 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000',
  'not addresses: 999.1.1.1, 256.0.0.1, 1.2.3',
  // money and postcodes
  'Total $1,234.56 (€1.234,56; USD 1,234,567)',
  'Ship to 12345-6789 or 02134-1234',
  // at-signs that are not addresses, and placeholder keys
  'ping @username, install react@18.2.0, use icon@2x.png, ssh root@localhost',
  'Set OPENAI_API_KEY=sk-your-api-key-here (or sk-... or sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx)',
  'the task-force-1234567890123456789012 met; risk_score=0.93',
  'temperatures +20 21 22 23 24 25 over the week',
  '',
  'Plain prose with no personal data at all, only words and a few numbers like 42 and 3.14.',
];

describe('hard negatives stay untouched', () => {
  it.each(NEGATIVES)('%s', (text) => {
    expect(found(text)).toEqual([]);
    expect(redact(text).text).toBe(text);
  });
});

describe('a decimal number is no phone number', () => {
  it('leaves numbers with one decimal point alone, whichever plan their digits fit (a JSON timestamp, a measurement)', () => {
    // Integer parts that are country codes or area codes and fractions of 5-11 digits: as
    // digits alone, 201 824894574 is a German number (Essen) and 9211 94613964 fits others.
    const flagged: string[] = [];
    for (let int = 1; int < 10_000; int = Math.floor(int * 1.37) + 1) {
      for (let len = 5; len <= 11; len++) {
        const frac = String(int * 7919 + len * 104729)
          .padEnd(len, '7')
          .slice(0, len);
        const text = `{"at": ${int}.${frac}, "status": 503} took ${int}.${frac} s`;
        if (scan(text, { types: ['PHONE'] }).length > 0) flagged.push(`${int}.${frac}`);
      }
    }
    for (const v of ['201.824894574', '921.194613964', '651.941995181', '341.476839029', '3.14159265358']) {
      if (scan(`{"at": ${v}}`).length > 0) flagged.push(v);
    }
    expect(flagged).toEqual([]);
  });

  it('still finds one after a phone word, and dotted numbers of more groups', () => {
    expect(found('Phone: 201.824894574')).toEqual(['PHONE:201.824894574']);
    expect(found('call 415.555.2671 or +33.1.42.68.53.00')).toEqual(['PHONE:415.555.2671', 'PHONE:+33.1.42.68.53.00']);
  });
});

describe('overlaps', () => {
  it('keeps the longest finding: an address whose local part looks like a phone is one e-mail', () => {
    expect(found('write to 555-123-4567@fax.example.com')).toEqual(['EMAIL:555-123-4567@fax.example.com']);
  });

  it('keeps a number with its country code rather than the national part inside it', () => {
    expect(found('+1 555 123 4567')).toEqual(['PHONE:+1 555 123 4567']);
  });

  it('an IBAN wins over a card-like run of its groups', () => {
    expect(found('DE89 3704 0044 0532 0130 00').map((s) => s.split(':')[0])).toEqual(['IBAN']);
  });
});

describe('options', () => {
  it('allowlists domains (with subdomains) and exact values', () => {
    const opts: ScanOptions = { allowDomains: ['@company.com'], allowValues: ['555-123-4567', 'Ops@Partner.io'] };
    const text = 'bob@company.com, eve@mail.company.com, mallory@evil.com, ops@partner.io, 555-123-4567, 555-987-6543';
    expect(found(text, opts)).toEqual(['EMAIL:mallory@evil.com', 'PHONE:555-987-6543']);
    expect(found('bob@notcompany.com', opts)).toEqual(['EMAIL:bob@notcompany.com']);
  });

  it('looks only for the chosen types', () => {
    expect(found('a@b.io 555-123-4567 10.0.0.1', { types: ['PHONE'] })).toEqual(['PHONE:555-123-4567']);
  });

  it('uses the default risks, and configured ones', () => {
    const risks = (opts?: ScanOptions) => scan('a@b.io 555-123-4567 NL91ABNA0417164300 10.0.0.1', opts).map((d) => d.risk);
    expect(risks()).toEqual(['HIGH', 'MEDIUM', 'MEDIUM', 'LOW']);
    expect(risks({ risk: { IP_ADDRESS: 'HIGH', EMAIL: 'MEDIUM' } })).toEqual(['MEDIUM', 'MEDIUM', 'MEDIUM', 'HIGH']);
  });

  it('national formats follow the configured regions; +CC numbers are found for any country', () => {
    expect(found('tel. 020 7946 0958', { phoneRegions: ['US'] })).toEqual([]);
    expect(found('tel. +44 20 7946 0958', { phoneRegions: ['US'] })).toEqual(['PHONE:+44 20 7946 0958']);
  });

  it('refuses unknown types, risks and regions with a precise message', () => {
    expect(() => scan('x', { types: ['NAME' as PiiType] })).toThrow(ValidationError);
    expect(() => scan('x', { types: ['NAME' as PiiType] })).toThrow(/unknown PII type 'NAME'/);
    expect(() => scan('x', { risk: { EMAIL: 'SEVERE' as never } })).toThrow(/HIGH, MEDIUM or LOW/);
    expect(() => scan('x', { phoneRegions: ['XX'] })).toThrow(/phone region 'XX'/);
  });
});
