// Disguised PII, as a probe found it passing: values written with characters that look the same (or like
// nothing) to a reader. The class is what is tested: for each type, disguises the probe named and
// others it did not (other zero-width and format characters, other digit scripts, other dashes,
// spaces and stops, mathematical letters), each with the redacted text written out by hand.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { firstFold, foldCodePoint, foldStretches, normalizeText, STRETCHES_FROM } from '../../src/domain/pii/normalize.js';
import { auditFields, createJsonStreamRedactor, createStreamRedactor, jsonTexts, mayHoldPii, openSealedValue, redact, redactJsonText, scan } from '../../src/domain/pii/index.js';

const found = (text: string) => scan(text).map((d) => `${d.type}:${d.value}`);

// [text, what redact() must give]
const EMAILS: Array<[string, string]> = [
  // zero-width and other default-ignorable characters inside the address
  ['Mail zara.quill\u200b@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // zero-width space
  ['Mail zara\u200c.quill@vex\u200dmail.io now', 'Mail [EMAIL_REDACTED] now'], // non-joiner, joiner
  ['Mail zara.quill@\u2060vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // word joiner
  ['Mail zara.qu\u00adill@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // soft hyphen
  ['Mail zara.quill\ufeff@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // BOM / zero-width no-break space
  ['Mail zara\u200e.quill@vexmail\u200f.io now', 'Mail [EMAIL_REDACTED] now'], // LRM, RLM
  ['Mail zara\u202e.quill@vexmail\u202c.io now', 'Mail [EMAIL_REDACTED] now'], // bidi override and pop
  ['Mail zara\u2066.quill@vexmail\u2069.io now', 'Mail [EMAIL_REDACTED] now'], // bidi isolate
  ['Mail zara.quill\ufe0f@vex\u{e0100}mail.io now', 'Mail [EMAIL_REDACTED] now'], // variation selectors
  ['Mail zara.quill@vex\u{e0061}\u{e0062}mail.io now', 'Mail [EMAIL_REDACTED] now'], // tag characters
  ['Mail zara.quill\u180e@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // Mongolian vowel separator
  ['Mail zara.quill@vexmail.i\u034fo now', 'Mail [EMAIL_REDACTED] now'], // combining grapheme joiner
  // compatibility forms: fullwidth, mathematical, circled letters
  ['Mail ｚａｒａ．ｑｕｉｌｌ＠ｖｅｘｍａｉｌ．ｉｏ now', 'Mail [EMAIL_REDACTED] now'],
  ['Mail 𝐳𝐚𝐫𝐚@𝐯𝐞𝐱𝐦𝐚𝐢𝐥.𝐢𝐨 now', 'Mail [EMAIL_REDACTED] now'], // bold
  ['Mail 𝔷𝔞𝔯𝔞@𝔳𝔢𝔵𝔪𝔞𝔦𝔩.𝔦𝔬 now', 'Mail [EMAIL_REDACTED] now'], // fraktur
  ['Mail 𝚣𝚊𝚛𝚊@𝚟𝚎𝚡𝚖𝚊𝚒𝚕.𝚒𝚘 now', 'Mail [EMAIL_REDACTED] now'], // monospace
  ['Mail ⓩⓐⓡⓐ@ⓥⓔⓧⓜⓐⓘⓛ.ⓘⓞ now', 'Mail [EMAIL_REDACTED] now'], // circled
  // at signs and stops
  ['Mail zara.quill﹫vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // small commercial at
  ['Mail zara.quill＠vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // fullwidth at
  ['Mail zara.quill@vexmail。io。', 'Mail [EMAIL_REDACTED]。'], // ideographic full stop
  ['Mail zara﹒quill@vexmail｡io now', 'Mail [EMAIL_REDACTED] now'], // small and halfwidth ideographic full stops
  ['Mail zara.quill@vexmail․io now', 'Mail [EMAIL_REDACTED] now'], // one dot leader
  ['Mail zara–quill@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // en dash in the local part
  ['Mail zara.quill@vexmail۔io now', 'Mail [EMAIL_REDACTED] now'], // Arabic full stop
  ['Mail zara.quill@vexmail।io now', 'Mail [EMAIL_REDACTED] now'], // Devanagari danda
  ['Mail zara·quill@vexmail・io now', 'Mail [EMAIL_REDACTED] now'], // middle dot, katakana middle dot
  // control characters and combining marks
  ['Mail zara.quill\u0000@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // NUL
  ['Mail zara.q\u007fuill@vex\u0080mail.io now', 'Mail [EMAIL_REDACTED] now'], // DEL, a C1 control
  ['Mail z\u0332a\u0332r\u0332a\u0332@vexmail.io now', 'Mail [EMAIL_REDACTED] now'], // combining low line
  ['Mail zara.quill@vexmail.io\u0301 now', 'Mail [EMAIL_REDACTED] now'], // an accent on the last letter
];

const SSNS: Array<[string, string]> = [
  ['SSN 536-2\u200d2-8147 on file', 'SSN [SSN_REDACTED] on file'],
  ['SSN 5\u200b3\u200b6-22-8147 on file', 'SSN [SSN_REDACTED] on file'],
  ['SSN 536-22-81\u00ad47 on file', 'SSN [SSN_REDACTED] on file'],
  // dashes
  ['SSN 536–22–8147 on file', 'SSN [SSN_REDACTED] on file'], // en dash
  ['SSN 536—22—8147 on file', 'SSN [SSN_REDACTED] on file'], // em dash
  ['SSN 536‐22‑8147 on file', 'SSN [SSN_REDACTED] on file'], // hyphen, non-breaking hyphen
  ['SSN 536‒22―8147 on file', 'SSN [SSN_REDACTED] on file'], // figure dash, horizontal bar
  ['SSN 536−22−8147 on file', 'SSN [SSN_REDACTED] on file'], // minus sign
  ['SSN 536﹣22－8147 on file', 'SSN [SSN_REDACTED] on file'], // small and fullwidth hyphen-minus
  // digits of other scripts
  ['SSN ٥٣٦-٢٢-٨١٤٧ on file', 'SSN [SSN_REDACTED] on file'], // Arabic-Indic
  ['SSN ۵۳۶-۲۲-۸۱۴۷ on file', 'SSN [SSN_REDACTED] on file'], // Extended Arabic-Indic (Persian)
  ['SSN ५३६-२२-८१४७ on file', 'SSN [SSN_REDACTED] on file'], // Devanagari
  ['SSN ৫৩৬-২২-৮১৪৭ on file', 'SSN [SSN_REDACTED] on file'], // Bengali
  ['SSN ๕๓๖-๒๒-๘๑๔๗ on file', 'SSN [SSN_REDACTED] on file'], // Thai
  ['SSN ５３６-２２-８１４７ on file', 'SSN [SSN_REDACTED] on file'], // fullwidth
  ['SSN 𝟓𝟑𝟔-𝟐𝟐-𝟖𝟏𝟒𝟕 on file', 'SSN [SSN_REDACTED] on file'], // mathematical bold
  ['SSN 𝟻𝟹𝟼-𝟸𝟸-𝟾𝟷𝟺𝟽 on file', 'SSN [SSN_REDACTED] on file'], // mathematical monospace
  ['SSN ߅߃߆-߂߂-߈߁߄߇ on file', 'SSN [SSN_REDACTED] on file'], // NKo
  ['SSN 𐒥𐒣𐒦-𐒢𐒢-𐒨𐒡𐒤𐒧 on file', 'SSN [SSN_REDACTED] on file'], // Osmanya (outside the BMP)
  // digits that are not decimal digits (\p{Nd}) and that NFKC leaves alone, other dashes
  ['SSN ❺❸❻-❷❷-❽❶❹❼ on file', 'SSN [SSN_REDACTED] on file'], // dingbat negative circled
  ['SSN ➄➂➅‐➁➁‐➇➀➃➆ on file', 'SSN [SSN_REDACTED] on file'], // dingbat circled sans-serif
  ['SSN ⑤③⑥-②②-⑧①④⑦ on file', 'SSN [SSN_REDACTED] on file'], // circled (NFKC)
  ['SSN 536˗22˗8147 on file', 'SSN [SSN_REDACTED] on file'], // modifier letter minus
  ['SSN 536➖22➖8147 on file', 'SSN [SSN_REDACTED] on file'], // heavy minus
  ['SSN 536⁻22⁻8147 on file', 'SSN [SSN_REDACTED] on file'], // superscript minus
  ['SSN 536〜22〜8147 on file', 'SSN [SSN_REDACTED] on file'], // wave dash
  ['SSN 536ー22ー8147 on file', 'SSN [SSN_REDACTED] on file'], // katakana prolonged sound mark
  ['SSN 5\u20e33\u20e36\u20e3-22-8147 on file', 'SSN [SSN_REDACTED] on file'], // keycaps
  ['SSN 5\u03363\u03366\u0336-2\u03362\u0336-8147 on file', 'SSN [SSN_REDACTED] on file'], // struck through
  // a keyword in disguise still says what bare digits are
  ['ＳＳＮ: ５３６２２８１４７', 'ＳＳＮ: [SSN_REDACTED]'],
];

const CARDS: Array<[string, string]> = [
  ['Card 4539\u200c1488\u200c0343\u200c6467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539 1488\u200b 0343 6467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card ４５３９ １４８８ ０３４３ ６４６７ ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card ٤٥٣٩ ١٤٨٨ ٠٣٤٣ ٦٤٦٧ ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card ४५३९-१४८८-०३४३-६४६७ ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539–1488–0343–6467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  // unusual spaces between the groups: em, thin, figure, ideographic, no-break
  ['Card 4539\u20031488\u20030343\u20036467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539\u20091488\u20090343\u20096467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539\u20071488\u20070343\u20076467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539\u30001488\u30000343\u30006467 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 𝟒𝟓𝟑𝟗𝟏𝟒𝟖𝟖𝟎𝟑𝟒𝟑𝟔𝟒𝟔𝟕 ok', 'Card [CREDIT_CARD_REDACTED] ok'],
  ['Card 4539\u28001488\u28000343\u28006467 ok', 'Card [CREDIT_CARD_REDACTED] ok'], // blank braille cells
  ['Card 4539\u001b1488\u001b0343\u001b6467 ok', 'Card [CREDIT_CARD_REDACTED] ok'], // escape characters
];

const OTHERS: Array<[string, string]> = [
  // phones
  ['call ＋４４ ２０ ７９４６ ０９５８ today', 'call [PHONE_REDACTED] today'],
  ['call 415–555–0199 today', 'call [PHONE_REDACTED] today'],
  ['call （４１５） ５５５-０１９９ today', 'call [PHONE_REDACTED] today'],
  ['call ٤١٥-٥٥٥-٠١٩٩ today', 'call [PHONE_REDACTED] today'],
  ['call 415\u200b555\u200b0199 today', 'call [PHONE_REDACTED] today'],
  ['call 415·555·0199 today', 'call [PHONE_REDACTED] today'],
  ['call ➕44 20 7946 0958 today', 'call [PHONE_REDACTED] today'], // heavy plus
  ['電話 ０３－１２３４－５６７８ まで', '電話 [PHONE_REDACTED] まで'], // Japanese national, written fullwidth
  // IBAN
  ['IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００ ok', 'IBAN [IBAN_REDACTED] ok'],
  ['IBAN DE89\u200b3704\u200b0044\u200b0532\u200b0130\u200b00 ok', 'IBAN [IBAN_REDACTED] ok'],
  // IP addresses
  ['host １９２．１６８．１０．４２ down', 'host [IP_ADDRESS_REDACTED] down'],
  ['host 192。168。10。42 down', 'host [IP_ADDRESS_REDACTED] down'],
  // keys
  ['key sk-proj-Ab3dE5fG7h\u200bAb3dE5fG7hAb3dE5fG7h ok', 'key [API_KEY_REDACTED] ok'],
  ['key ｓｋ－ｐｒｏｊ－Ａｂ３ｄＥ５ｆＧ７ｈＡｂ３ｄＥ５ｆＧ７ｈ ok', 'key [API_KEY_REDACTED] ok'],
];

describe('disguised values are found and their whole original span redacted', () => {
  it.each([...EMAILS, ...SSNS, ...CARDS, ...OTHERS])('%s', (text, expected) => {
    expect(redact(text).text).toBe(expected);
  });

  it('reports the original span and value, disguise included', () => {
    const text = 'Mail zara.quill\u200b@vexmail.io and ٥٣٦-٢٢-٨١٤٧';
    expect(scan(text).map((d) => [d.type, d.start, d.end, d.value])).toEqual([
      ['EMAIL', 5, 27, 'zara.quill\u200b@vexmail.io'],
      ['SSN', 32, 43, '٥٣٦-٢٢-٨١٤٧'],
    ]);
    // Two UTF-16 units per mathematical letter: the span covers both halves of each.
    expect(found('to 𝐳𝐚@𝐯𝐱.𝐢𝐨!')).toEqual(['EMAIL:𝐳𝐚@𝐯𝐱.𝐢𝐨']);
  });

  it('leaves characters outside a value as they were', () => {
    expect(redact('\u200bMail: zara.quill@vexmail.io\u200b — thanks…').text).toBe('\u200bMail: [EMAIL_REDACTED]\u200b — thanks…');
    expect(redact('«４５３９ １４８８ ０３４３ ６４６７»').text).toBe('«[CREDIT_CARD_REDACTED]»');
  });

  it('does not make values of text that only looks like one when folded', () => {
    for (const text of [
      'pages 10–20, 1990—2000 and 3–4 pm', // dashes between small numbers
      'version ４.２.０ and ²³ and ½', // fullwidth version, superscripts, fractions
      'ＳＳＮ is 5362２ then 8147', // digits apart
      'Ｉｃｏｎ icon＠2x.png; react﹫18.2.0', // at signs in asset names and versions
      '2024–01–15 and 15。01。2024', // dates with other dashes and stops
      'order ４５３９１４８８０３４３６４６７ shipped', // a card-shaped order number stays an order number
    ])
      expect(found(text), text).toEqual([]);
  });

  it('allows an allowlisted value in any disguise', () => {
    const opts = { allowValues: ['zara.quill@vexmail.io'], allowDomains: ['example.org'] };
    expect(redact('zara.quill\u200b@vexmail.io, ｂｏｂ＠ｅｘａｍｐｌｅ．ｏｒｇ, eve@vex\u200bmail.io', opts).text).toBe(
      'zara.quill\u200b@vexmail.io, ｂｏｂ＠ｅｘａｍｐｌｅ．ｏｒｇ, [EMAIL_REDACTED]',
    );
  });
});

describe('disguised values in JSON (tool-call arguments, tool answers, SDK event data)', () => {
  it('reads a disguised key as the field name it spells, and redacts disguised values inside strings', () => {
    const doc = '{"ｐｈｏｎｅ":"４１５５５５０１２３","s\u200bsn":"１２３４５６７８９","to":"zara\u200b@vexmail.io","note":"ok"}';
    const json = JSON.stringify(JSON.parse(doc));
    const expected = '{"ｐｈｏｎｅ":"[PHONE_REDACTED]","s\u200bsn":"[SSN_REDACTED]","to":"[EMAIL_REDACTED]","note":"ok"}';
    expect(redactJsonText(json, () => createStreamRedactor())).toBe(expected);
    // Streamed in pieces of one unit, as tool-call arguments arrive.
    const stream = createJsonStreamRedactor(() => createStreamRedactor());
    let out = '';
    for (let i = 0; i < json.length; i++) out += stream.push(json[i]!);
    expect(out + stream.end()).toBe(expected);
    expect(jsonTexts(json)!.distinct.slice(0, 2)).toEqual(['ｐｈｏｎｅ', 'phone: ４１５５５５０１２３']);
  });

  it('says which of many values may hold PII when the PII is disguised', () => {
    expect(mayHoldPii(['ｚａｒａ＠ｖｅｘｍａｉｌ．ｉｏ', 'plain text', 'x\u200b@vex.io', 'ok', '４５３９ １４８８ ０３４３ ６４６７'])).toEqual([true, false, true, false, true]);
  });
});

describe('the audit trail of a disguised value', () => {
  const keys = { hmacKey: randomBytes(32), encryptionKey: randomBytes(32) };
  const fields = (text: string) => scan(text).map((d) => auditFields(d, keys));

  it('hashes it as the value it stands for, so two disguises and the plain value are one value', () => {
    const hashes = ['zara.quill@vexmail.io', 'zara.quill\u200b@vexmail.io', 'ｚａｒａ．ｑｕｉｌｌ＠ｖｅｘｍａｉｌ．ｉｏ', 'ZARA.quill﹫vexmail。io'].map((t) => fields(t)[0]!.valueHash);
    expect(new Set(hashes).size).toBe(1);
    const ssn = ['536-22-8147', '٥٣٦-٢٢-٨١٤٧', '536–22–8147', '５３６\u200b-２２-８１４７'].map((t) => fields(t)[0]!.valueHash);
    expect(new Set(ssn).size).toBe(1);
    expect(ssn[0]).not.toBe(hashes[0]);
  });

  it('seals it as it was written, disguise and all', () => {
    const [f] = fields('SSN ٥٣٦-٢٢\u200b-٨١٤٧');
    expect(openSealedValue(f!.sealedValue, keys.encryptionKey)).toBe('٥٣٦-٢٢\u200b-٨١٤٧');
    expect([f!.start, f!.end]).toEqual([4, 16]);
  });
});

describe('long texts with a few disguised values', () => {
  // Long texts are read as they are except around what folds: these check that what comes out
  // is what each line gives on its own (short texts are folded whole), line by line.
  const lines: Array<[string, string]> = [...EMAILS, ...SSNS, ...CARDS, ...OTHERS];
  const filler = [
    'The quarterly report was reviewed by the team, all 14 items closed.',
    'status=200 latency=35ms path=/v1/chat/completions id=550e8400-e29b-41d4-a716-446655440000',
    'Order 1234567 shipped on 2024-01-15; invoice 98765 follows. See you.',
    'Call me at 10:30 about the 3 tickets, ok?',
  ];

  it('redacts each disguised value as in a short text, and nothing else', () => {
    let text = '';
    let expected = '';
    for (let i = 0; text.length < 4 * STRETCHES_FROM; i++) {
      const [line, redacted] = i % 13 === 3 ? lines[(i * 5) % lines.length]! : [filler[i % filler.length]!, filler[i % filler.length]!];
      text += `${line}\n`;
      expected += `${redacted}\n`;
    }
    expect(foldStretches(text, firstFold(text), 32)).not.toBeNull();
    expect(redact(text).text).toBe(expected);
  });

  it('folds the whole text where no break is near (one long line), with the same result', () => {
    const text = `${'x'.repeat(2 * STRETCHES_FROM)};zara.quill\u200b@vexmail.io;${'y'.repeat(100)} and ５３６-２２-８１４７`;
    expect(foldStretches(text, firstFold(text), 32)).toBeNull();
    expect(redact(text).text).toBe(`${'x'.repeat(2 * STRETCHES_FROM)};[EMAIL_REDACTED];${'y'.repeat(100)} and [SSN_REDACTED]`);
  });

  it('finds the stretches around what folds, from break to break', () => {
    const words = 'word '.repeat(5000);
    // From the break before the zero-width space to the first break 32 characters past it.
    expect([...foldStretches(`${words}bob\u200b@x.io ${words}`, 25003, 32)!]).toEqual([25000, 25040]);
    // A space inside a number is no break; two disguises close together make one stretch.
    const t = `${words}call 415 555\u200b0199, ok ４ 1 and more words here to pass the look-behind\n${words}`;
    expect([...foldStretches(t, firstFold(t), 32)!]).toEqual([25005, 25058]);
  });
});

describe('the folded text and its way back', () => {
  it('maps folded offsets to the original around removed, widened and split characters', () => {
    // 'a' ZWSP 'b' '１' 'ﬁ' (fi ligature: one becomes two) '𝟐' (two units become one) 'z'
    const n = normalizeText('a\u200bb１ﬁ𝟐z')!;
    expect(n.text).toBe('ab1fi2z');
    // startOf: where the code point behind each folded character starts.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => n.startOf(i))).toEqual([0, 2, 3, 4, 4, 5, 7, 8]);
    // endOf(i): just past the code point behind folded character i - 1.
    expect([1, 2, 3, 4, 5, 6, 7].map((i) => n.endOf(i))).toEqual([1, 3, 4, 5, 5, 7, 8]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => n.foldedAt(i))).toEqual([0, 1, 1, 2, 3, 5, 5, 6, 7]);
  });

  it('is null, and costs one pass, for text with nothing to fold', () => {
    for (const text of [
      'plain ASCII text, digits 123 and @ signs',
      'Jürgen Müller, ßtraße, é è ê',
      '中文文本和한국어',
      'emoji 🚀🎉 and κόσμε',
      '\ud800 lone halves \udc00',
      'tabs\tand\r\nline breaks',
      '',
    ])
      expect(normalizeText(text), text).toBeNull();
  });

  it("reads prose's dashes and ellipses as they are, but not one that could join a value's parts", () => {
    // Nothing a detector could take in: the fast pass goes on (one pass for ordinary LLM prose).
    for (const text of ['Sure — here it is.', 'Well… let me think — ok.', 'costs five — or less', 'end of list. — next']) expect(firstFold(text), text).toBe(-1);
    // A digit one space away: read folded (a phone's groups may stand apart, though today's
    // detectors take no spaced dash as a separator, disguised or not).
    expect(firstFold('call 415 — 555 — 0199 now')).toBe(9);
    // A letter or digit beside it: read folded, and the value is found.
    for (const [text, value] of [
      ['call 415—555—0199 now', '415—555—0199'],
      ['ssn 536–22–8147 please', '536–22–8147'],
      ['mail jane。doe@example.com today', 'jane。doe@example.com'],
    ] as const) {
      expect(firstFold(text), text).not.toBe(-1);
      expect(redact(text).text, text).not.toContain(value);
    }
  });

  it('folds every code point to what it stands for, and folding again changes nothing', () => {
    // Every code point outside ASCII: its fold is stable (the stream redactor keeps its
    // look-behind folded and scans it again), and where it is a digit, it is that digit.
    const spots: Array<[string, string]> = [
      ['\u0663', '3'],
      ['\u09ea', '4'],
      ['\u{1d7d9}', '1'],
      ['\u{104a9}', '9'],
      ['\uff10', '0'],
      ['\u2460', '1'],
      ['\u00b2', '2'],
      ['\u2013', '-'],
      ['\u2212', '-'],
      ['\u3002', '.'],
      ['\u3000', ' '],
      ['\u00a0', ' '],
      ['\u200b', ''],
      ['\u{e007f}', ''],
      ['\ufb01', 'fi'],
      ['\u2474', '(1)'],
      ['\u2776', '1'],
      ['\u{1f10b}', '0'],
      ['\u2796', '-'],
      ['\u06d4', '.'],
      ['\u00b7', '.'],
      ['\u2800', ' '],
      ['\u0301', ''],
      ['\u0000', ''],
      ['\u009b', ''],
      ['\u0085', '\n'],
    ];
    for (const [c, f] of spots) expect(normalizeText(c)?.text, c).toBe(f);
    let unstable = 0;
    const missed: number[] = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const once = normalizeText(String.fromCodePoint(cp))?.text;
      if (once !== undefined && normalizeText(once) !== null) unstable++;
      // What the fast pass skips (printable ASCII, common alphabets' letters) must stand for
      // itself, but for ellipses (`...`, which no value holds: see the test above).
      if (once === undefined && foldCodePoint(cp) !== null && foldCodePoint(cp) !== '...') missed.push(cp);
    }
    expect(unstable).toBe(0);
    expect(missed).toEqual([]);
  });
});
