// The scan's shortcuts (made for speed) must decide exactly as the plain code they replace: each is
// checked here against that code (kept in this file as it was, or switched back on), on
// random text built from the characters each decision reads, and on the benchmark's texts.
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { denseText } from '../../scripts/bench/pii/dense.js';
import { nearMissCorpus } from '../../scripts/bench/pii/near-miss.js';
import { realisticCorpus } from '../../scripts/bench/pii/realistic.js';
import { isAlnum, isDigit, isUpper, runsOn, softSpaceAt } from '../../src/domain/pii/chars.js';
import type { Candidate } from '../../src/domain/pii/detectors/candidate.js';
import { cardGrouping, issuerAccepts } from '../../src/domain/pii/detectors/card.js';
import { detectEmails, isDomainChar, isLocalChar, readTldInPlace } from '../../src/domain/pii/detectors/email.js';
import { detectIbans, ibanChecksumOk, nextCode } from '../../src/domain/pii/detectors/iban.js';
import { validGroups } from '../../src/domain/pii/detectors/ip.js';
import { BODY_ALPHABETS, inBody, JOINED_PREFIXES, nextJoined } from '../../src/domain/pii/detectors/keys.js';
import { readLayoutFirst } from '../../src/domain/pii/detectors/numeric.js';
import { nextPhoneWord, PHONE_WORD_LETTERS, PHONE_WORDS } from '../../src/domain/pii/detectors/phone-context.js';
import { nextStart, startsAfterSpace } from '../../src/domain/pii/detectors/numeric-start.js';
import { internationalVerdict, nationalValid, readPlansTogether } from '../../src/domain/pii/detectors/phone-plan.js';
import { createScanner, sortByPosition } from '../../src/domain/pii/scanner.js';
import { expectEqual, expectIs } from '../helpers/cheap-expect.js';

const random = (seed: number) => {
  let x = seed;
  return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x / 2 ** 32);
};

// The numeric scanner's starts as found before: every start of the plain pattern, then a test
// of the digits that follow it.
// One or two of '-', '.', '+' or ')' continue a number after a digit or '_' (or after a ')'
// that is one of them), a '+' a word too; a longer run is a rule or an ellipsis; '_' continues a
// word only after a letter or digit (or more '_' than emphasis takes).
const PLAIN_START = /(?<![A-Za-z0-9]|[A-Za-z0-9]_{1,3}|_{4}|[0-9_][-.+)]{1,2}|\)[-.+)]|[A-Za-z][-.)]?\+)[+(]?[0-9]/g;
function plainNextStart(text: string, i: number): number {
  PLAIN_START.lastIndex = i;
  const m = PLAIN_START.exec(text);
  return m === null ? -1 : m.index;
}
function cannotStartValue(text: string, i: number): boolean {
  let j = i;
  while (isDigit(text.charCodeAt(j))) j++;
  if (j === i) return false;
  if (text.charCodeAt(i - 1) === 47 && isDigit(text.charCodeAt(i - 2))) return true;
  const c = text.charCodeAt(j);
  if (runsOn(text, j)) return true;
  if (c === 45 || c === 46 || c === 40) return false;
  if (c === 47) return text.charCodeAt(i) !== 48 || j - i < 2;
  return j - i < 8 && !softSpaceAt(text, j);
}

/** The starts the scanner reads, stepping as it steps past each (a '+' or '(' with its digit). */
function starts(text: string, next: (text: string, i: number) => number, reject: (text: string, i: number) => boolean): number[] {
  const out: number[] = [];
  for (let at = next(text, 0); at !== -1; ) {
    const pos = isDigit(text.charCodeAt(at)) ? at + 1 : at + 2;
    if (!reject(text, at)) out.push(at);
    at = next(text, pos);
  }
  return out;
}
const plainStarts = (text: string) => starts(text, plainNextStart, cannotStartValue);
const fastStarts = (text: string) => starts(text, nextStart, () => false);

describe('the numeric scanner finds the starts it found before', () => {
  it('on random text of digits, joiners, spaces, letters and slashes', () => {
    const rnd = random(27);
    const alphabet = ['0', '1', '5', '9', '0', '3', '7', '+', '(', ')', '/', '-', '.', ' ', ' ', '\u00a0', '\u202f', 'A', 'Z', 'a', 'z', '_', ':', ',', '\n', '$'];
    for (let n = 0; n < 4000; n++) {
      const length = 1 + Math.floor(rnd() * 40);
      // Runs of digits long and short, so that the 8-digit rule is met and missed.
      let text = '';
      while (text.length < length) text += rnd() < 0.3 ? '0123456789'.slice(0, 1 + Math.floor(rnd() * 10)) : alphabet[Math.floor(rnd() * alphabet.length)]!;
      const fast = fastStarts(text);
      const plain = plainStarts(text);
      if (!isDeepStrictEqual(fast, plain)) expect(fast, JSON.stringify(text)).toEqual(plain);
    }
  });

  it('on the benchmark texts', () => {
    for (const text of [denseText(200_000, 5).text, realisticCorpus(300, 9).text]) expectEqual(fastStarts(text), plainStarts(text));
  });
});

describe('a start just after a space, read without the search, is where the search finds one', () => {
  // numeric.ts takes a chain's next segment (a digit after a soft space) as the next start when
  // startsAfterSpace says so: it must say so exactly where nextStart, searching from the space, stops.
  const afterSpaces = (text: string): Array<[number, boolean, boolean]> => {
    const out: Array<[number, boolean, boolean]> = [];
    for (let i = 1; i < text.length; i++) {
      const space = text.charCodeAt(i - 1);
      if ((space === 32 || space === 0xa0 || space === 0x202f) && isDigit(text.charCodeAt(i))) out.push([i, startsAfterSpace(text, i), nextStart(text, i - 1) === i]);
    }
    return out;
  };
  it('on random text of digits, joiners, spaces, letters, slashes and emphasis', () => {
    const rnd = random(41);
    const alphabet = ['0', '1', '5', '9', '0', '3', '7', '+', '(', ')', '/', '-', '.', ' ', ' ', '\u00a0', '\u202f', 'A', 'Z', 'a', 'z', '_', '_', ':', ',', '\n', '$'];
    let checked = 0;
    for (let n = 0; n < 6000; n++) {
      const length = 1 + Math.floor(rnd() * 40);
      let text = '';
      while (text.length < length) text += rnd() < 0.3 ? '0123456789'.slice(0, 1 + Math.floor(rnd() * 10)) : alphabet[Math.floor(rnd() * alphabet.length)]!;
      for (const [i, fast, searched] of afterSpaces(text)) {
        if (!Object.is(fast, searched)) expect(fast, `${JSON.stringify(text)} at ${i}`).toBe(searched);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(2000);
  });

  it('on the benchmark texts', () => {
    for (const text of [denseText(200_000, 5).text, realisticCorpus(300, 9).text, nearMissCorpus(300, 5).text]) {
      const found = afterSpaces(text);
      expect(found.filter(([, fast, searched]) => fast !== searched)).toEqual([]);
      expect(found.filter(([, fast]) => fast).length).toBeGreaterThan(100);
    }
  });
});

describe('card checks agree with their string forms', () => {
  // In fours (a 14- or 15-digit card too), or the networks' 4-6-5 and 4-6-4.
  const GROUPINGS = ['4,4,4,2', '4,4,4,3', '4,4,4,4', '4,4,4,4,3', '4,6,5', '4,6,4'];
  function plainIssuer(digits: string): boolean {
    const n = digits.length;
    const p2 = Number(digits.slice(0, 2));
    const p3 = Number(digits.slice(0, 3));
    const p4 = Number(digits.slice(0, 4));
    if (digits[0] === '4') return n === 13 || n === 16 || n === 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16;
    if (p2 === 34 || p2 === 37) return n === 15;
    const long = n >= 16 && n <= 19;
    if (p4 >= 2200 && p4 <= 2204) return long;
    if (p4 >= 3528 && p4 <= 3589) return long;
    if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19;
    if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || p2 === 62) return long;
    if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 13 && n <= 19;
    return false;
  }

  it('on every four-digit prefix at every card length', () => {
    // 90,000 cases: the disagreements gathered and compared once (an expect each cost 8 s of CPU).
    const disagree: string[] = [];
    for (let p = 0; p < 10000; p++) {
      for (let n = 12; n <= 20; n++) {
        const digits = String(p).padStart(4, '0') + '7'.repeat(n - 4);
        if (issuerAccepts(Array.from(digits, Number), digits.length) !== plainIssuer(digits)) disagree.push(digits);
      }
    }
    expect(disagree).toEqual([]);
  });

  it('on groupings', () => {
    const rnd = random(5);
    for (let i = 0; i < 3000; i++) {
      const groups = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => (rnd() < 0.5 ? 4 : 1 + Math.floor(rnd() * 6)));
      expectIs(cardGrouping(groups), GROUPINGS.includes(groups.join(',')), groups.join(','));
    }
  });
});

describe('numbering plans read together decide as each plan read alone', () => {
  // Regions whose calling code other countries share (+1: 25 plans, several turning a 7-digit
  // local number into a whole one; +44 with the Crown Dependencies; +7), and numbers with and
  // without a national prefix, of every length those plans take.
  const rnd = random(31);
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
  const prefixes = ['', '', '1', '0', '8', '7', '2', '3', '4', '5', '6', '9'];
  const alone = <T>(decide: () => T): T => {
    readPlansTogether(false);
    try {
      return decide();
    } finally {
      readPlansTogether(true);
    }
  };
  let valid = 0;
  afterAll(() => expect(valid).toBeGreaterThan(200)); // the valid side is tried too

  it('for national numbers', () => {
    const regions = ['US', 'CA', 'VI', 'PR', 'AG', 'JM', 'GB', 'JE', 'IM', 'RU', 'KZ', 'FI', 'NO', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'AU', 'JP', 'BR', 'IN'] as const;
    for (let i = 0; i < 5000; i++) {
      const region = regions[i % regions.length]!;
      const d = prefixes[Math.floor(rnd() * prefixes.length)]! + digits(6 + Math.floor(rnd() * 6));
      const verdict = nationalValid(d, region);
      if (verdict) valid++;
      expectIs(
        verdict,
        alone(() => nationalValid(d, region)),
        `${region} ${d}`,
      );
    }
  });

  it('for numbers written with a shared country code', () => {
    const codes = ['1', '1', '1340', '1787', '1876', '44', '447624', '441534', '7', '76', '77', '358', '47', '590', '262', '599'];
    for (let i = 0; i < 5000; i++) {
      const d = codes[i % codes.length]! + digits(5 + Math.floor(rnd() * 7));
      const verdict = internationalVerdict(d);
      if (verdict === 'valid') valid++;
      expectIs(
        verdict,
        alone(() => internationalVerdict(d)),
        `+${d}`,
      );
    }
  });
});

// numeric.ts ruledOutByLayout turns phone candidates down on the chain's layout before a shape is
// built: each of its rules must be one phoneConfidence makes of that layout, so the findings are
// those of every candidate given to phoneConfidence.
describe('the layout checks before a phone shape decide as phoneConfidence does', () => {
  const scanner = createScanner();
  const both = (text: string) => {
    const fast = scanner.scan(text);
    readLayoutFirst(false);
    try {
      return [fast, scanner.scan(text)];
    } finally {
      readLayoutFirst(true);
    }
  };

  it('on digit groups in every layout, after labels, words and punctuation', () => {
    const rnd = random(47);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const before = ['', ' ', 'phone: ', 'Tel.', 'call ', 'SSN ', 'order ', 'SKU ', 'x', '-', '.', '(', '+44 ', '0044 ', 'at 10:', '1.', 'a-', 'geo:-4.5,'];
    const joins = [' ', ' ', '-', '.', '', '/', ') ', '\u00a0'];
    const after = ['', ' ', '.', ',', ')', '-', 'a', ' 12', '.5'];
    let phones = 0;
    for (let n = 0; n < 6000; n++) {
      let text = '';
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        let run = rnd() < 0.2 ? '+' : rnd() < 0.2 ? '0' : '';
        for (let g = 1 + Math.floor(rnd() * 5); g > 0; g--) {
          for (let d = 1 + Math.floor(rnd() * 5); d > 0; d--) run += String(Math.floor(rnd() * 10));
          if (g > 1) run += pick(joins);
        }
        text += `${pick(before)}${run}${pick(after)} `;
      }
      const [fast, plain] = both(text);
      expectEqual(fast, plain, text);
      phones += fast!.filter((d) => d.type === 'PHONE').length;
    }
    expect(phones).toBeGreaterThan(300);
  });

  it("on the benchmark's near-miss records", () => {
    const [fast, plain] = both(nearMissCorpus(400, 5).text);
    expectEqual(fast, plain);
    expect(fast!.filter((d) => d.type === 'PHONE').length).toBeGreaterThan(200);
  });
});

describe('the IBAN checksum read in place agrees with the checksum of the string', () => {
  it('on IBANs written whole and in groups of four, valid and with one character changed', () => {
    const rnd = random(13);
    const countries: Array<[string, number]> = [
      ['DE', 22],
      ['GB', 22],
      ['FR', 27],
      ['NO', 15],
      ['MT', 31],
      ['BR', 29],
    ];
    const chars = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    let valid = 0;
    for (let n = 0; n < 4000; n++) {
      const [country, length] = countries[n % countries.length]!;
      let body = '';
      for (let k = 4; k < length; k++) body += rnd() < 0.8 ? String(Math.floor(rnd() * 10)) : chars[10 + Math.floor(rnd() * 26)]!;
      // Check digits that make it valid half of the time.
      let iban = `${country}00${body}`;
      for (let check = 2; check <= 98; check++) {
        const candidate = `${country}${String(check).padStart(2, '0')}${body}`;
        if (ibanChecksumOk(candidate)) {
          iban = candidate;
          break;
        }
      }
      if (rnd() < 0.5) {
        const at = 4 + Math.floor(rnd() * (length - 4));
        iban = iban.slice(0, at) + chars[Math.floor(rnd() * 10)] + iban.slice(at + 1);
      }
      const grouped = rnd() < 0.5 ? iban : iban.replace(/(.{4})(?=.)/g, '$1 ');
      // People type IBANs in lower case too, in groups (a space beside a lower-case letter ends
      // any value, as in prose: in lower case, groups are read on across spaces between digits).
      const written = rnd() < 0.25 && grouped !== iban && !/[A-Z] | [A-Z]/.test(grouped) ? grouped.toLowerCase() : grouped;
      const out: Candidate[] = [];
      detectIbans(`IBAN ${written} ok`, out);
      const expected = ibanChecksumOk(iban);
      expectIs(ibanChecksumOk(iban.toLowerCase()), expected);
      if (expected) valid++;
      expectIs(out.length === 1, expected, written);
    }
    expect(valid).toBeGreaterThan(1000);
  });
});

describe('candidates sorted by merging their runs come in the order a stable sort gives', () => {
  const byPosition = (a: Candidate, b: Candidate) => a.start - b.start || b.end - a.end;
  const same = (list: Candidate[]) => {
    const merged = list.slice();
    sortByPosition(merged);
    const sorted = list.slice().sort(byPosition);
    // The same objects in the same places: ties (one start and end, another type) keep their order.
    expectIs(
      merged.every((c, i) => c === sorted[i]),
      true,
    );
  };

  it('on lists of a few sorted runs with ties, and on shuffled ones', () => {
    const rnd = random(53);
    for (let n = 0; n < 3000; n++) {
      const list: Candidate[] = [];
      for (let runs = 1 + Math.floor(rnd() * 9); runs > 0; runs--) {
        let start = Math.floor(rnd() * 40);
        for (let k = Math.floor(rnd() * 12); k > 0; k--) {
          if (rnd() < 0.6) start += Math.floor(rnd() * 4);
          list.push({ type: 'PHONE', start, end: start + Math.floor(rnd() * 5), confidence: list.length });
        }
      }
      if (rnd() < 0.2) list.sort(() => rnd() - 0.5);
      same(list);
    }
  });

  it("on the benchmark texts' candidates", () => {
    const scanner = createScanner();
    for (const text of [denseText(200_000, 5).text, realisticCorpus(300, 9).text, nearMissCorpus(300, 5).text]) same(scanner.candidates(text));
  });
});

describe('phone words found with where they start read after the search, as the look-behind found them', () => {
  const plain = new RegExp(`(?<![${PHONE_WORD_LETTERS}])${PHONE_WORDS}`, 'g');
  const words = (before: string, next: (s: string, from: number) => RegExpExecArray | null): string[] => {
    const out: string[] = [];
    for (let m = next(before, 0); m !== null; m = next(before, m.index + m[0].length)) out.push(`${m.index}:${m[0]}`);
    return out;
  };
  const plainNext = (s: string, from: number) => {
    plain.lastIndex = from;
    return plain.exec(s);
  };

  it('on random lower-case text of phone words, letters of several scripts and punctuation', () => {
    const rnd = random(59);
    const pieces = ['tel', 'phone', 'phones', 'mob', 'call', 'no', 'number', 'nr', 'é', 'ß', 'ȿ', 'ɐ', 'a', 'x', 'z', ' ', '.', '_', '-', '#', ':', '1', '电话', 'ケータイ', 's'];
    let found = 0;
    for (let n = 0; n < 6000; n++) {
      let text = '';
      for (let k = 1 + Math.floor(rnd() * 8); k > 0; k--) text += pieces[Math.floor(rnd() * pieces.length)]!;
      const fast = words(text, nextPhoneWord);
      const plain = words(text, plainNext);
      if (!isDeepStrictEqual(fast, plain)) expect(fast, JSON.stringify(text)).toEqual(plain);
      found += fast.length;
    }
    expect(found).toBeGreaterThan(2000);
  });

  it('before every digit run of the bench texts', () => {
    for (const text of [denseText(60_000, 5).text, nearMissCorpus(100, 5).text]) {
      for (const m of text.matchAll(/(?<![0-9])[0-9]/g)) {
        const before = text.slice(Math.max(0, m.index - 32), m.index).toLowerCase();
        expectEqual(words(before, nextPhoneWord), words(before, plainNext));
      }
    }
  });
});

describe('an ASCII top-level domain read in place decides as the lower-cased slice does', () => {
  const both = (text: string): [Candidate[], Candidate[]] => {
    const fast: Candidate[] = [];
    detectEmails(text, fast);
    readTldInPlace(false);
    try {
      const plain: Candidate[] = [];
      detectEmails(text, plain);
      return [fast, plain];
    } finally {
      readTldInPlace(true);
    }
  };

  it('on addresses whose domains end in extensions, IDNA, digits, dashes and other scripts', () => {
    const rnd = random(61);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const tlds = 'com COM De io x png PNG Json jsx js j xn--p1ai XN--P1AI xn- c0m co-m рф Kom \u212aom İco ico scss scsss yaml webp'.split(' ');
    let found = 0;
    for (let n = 0; n < 6000; n++) {
      const text = `${pick(['', 'mail ', 'x '])}${pick(['bob', 'a.b', 'ünal'])}@${pick(['acme', 'mail.acme', 'a-b', 'пример'])}.${pick(tlds)}${pick(['', ' ', '.', '-x', '—ok', ',', '2'])}`;
      const [fast, plain] = both(text);
      expectEqual(fast, plain, text);
      found += fast.length;
    }
    expect(found).toBeGreaterThan(2000);
  });

  it('on the benchmark texts', () => {
    for (const text of [denseText(200_000, 5).text, realisticCorpus(300, 9).text, nearMissCorpus(300, 5).text]) {
      const [fast, plain] = both(text);
      expectEqual(fast, plain);
      expect(fast.length).toBeGreaterThan(50);
    }
  });
});

describe('the character before an IBAN country code or a key prefix matched with it, as the look-behind read it', () => {
  // Every match of each plain pattern, searched from each index, against the search that reads
  // the character before (from the text's first character on).
  const PLAIN_CODE = /(?<![A-Za-z0-9]|[A-Za-z0-9]_{1,3}|_{4})[A-Za-z]{2}[0-9]{2}/g;
  const PLAIN_JOINED = new RegExp(`[-_](?<=[kpousrtmf8a1bexiK].)(?<=${JOINED_PREFIXES})`, 'g');
  const codes = (text: string, next: (i: number) => number) => Array.from({ length: text.length + 1 }, (_, i) => next(i));
  const plainCode = (text: string) => (i: number) => {
    PLAIN_CODE.lastIndex = i;
    return PLAIN_CODE.test(text) ? PLAIN_CODE.lastIndex - 4 : -1;
  };
  const joined = (m: RegExpExecArray | null) => (m === null ? '' : `${m.index + m[0].length - m[1]!.length}:${m[1]}`);
  const plainJoined = (text: string, i: number) => {
    PLAIN_JOINED.lastIndex = i;
    return PLAIN_JOINED.exec(text);
  };
  const check = (text: string) => {
    const fastCodes = codes(text, (i) => nextCode(text, i));
    const plainCodes = codes(text, plainCode(text));
    if (!isDeepStrictEqual(fastCodes, plainCodes)) expect(fastCodes, JSON.stringify(text)).toEqual(plainCodes);
    const fast: string[] = [];
    const plain: string[] = [];
    for (let i = 0; i <= text.length; i++) {
      fast.push(joined(nextJoined(text, i)));
      plain.push(joined(plainJoined(text, i)));
    }
    if (!isDeepStrictEqual(fast, plain)) expect(fast, JSON.stringify(text)).toEqual(plain);
  };

  it('on random text of letters, digits, underscores, dashes and prefixes', () => {
    const rnd = random(67);
    const pieces = ['de', 'GB', 'x', 'Q', '4', '89', '0', '_', '__', '-', ' ', '.', 'é', 'sk', 'sk-', 'sk_', 'gsk_', 'xoxb-', 'glpat-', 'PMAK-', 'ghp_', 'k', 'K'];
    for (let n = 0; n < 3000; n++) {
      let text = '';
      for (let k = 1 + Math.floor(rnd() * 8); k > 0; k--) text += pieces[Math.floor(rnd() * pieces.length)]!;
      check(text);
    }
  });

  it('on the benchmark texts', () => {
    // From every index of a few kilobytes (each search may run to the text's end).
    for (const text of [denseText(6_000, 5).text, nearMissCorpus(12, 5).text]) check(text);
  });
});

describe("a key body's alphabet read from one table, as its predicate read it", () => {
  // The predicates each shape had, one a body.
  const hex = (c: number) => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
  const base64url = (c: number) => isAlnum(c) || c === 45 || c === 95;
  const plain: Record<keyof typeof BODY_ALPHABETS, (c: number) => boolean> = {
    alnum: isAlnum,
    base64url,
    upperAlnum: (c) => isUpper(c) || isDigit(c),
    slack: (c) => isAlnum(c) || c === 45,
    githubPat: (c) => isAlnum(c) || c === 95,
    hex,
    sendgrid: (c) => base64url(c) || c === 46,
    postman: (c) => hex(c) || c === 45,
  };

  it('for every UTF-16 code unit', () => {
    const disagree: string[] = [];
    for (const [name, alphabet] of Object.entries(BODY_ALPHABETS)) {
      const predicate = plain[name as keyof typeof BODY_ALPHABETS];
      for (let c = 0; c < 0x10000; c++) if (inBody(c, alphabet) !== predicate(c)) disagree.push(`${name} ${c}`);
    }
    expect(disagree).toEqual([]);
  });
});

describe("an IPv6 address's groups counted in place, as splitting counted them", () => {
  const plain = (part: string): number => {
    if (part === '') return 0;
    const groups = part.split(':');
    for (const g of groups) {
      if (g.length === 0 || g.length > 4) return -1;
      for (let i = 0; i < g.length; i++) if (!/[0-9A-Fa-f]/.test(g[i]!)) return -1;
    }
    return groups.length;
  };

  it('on random runs of hex digits, colons and other characters, read from anywhere in them', () => {
    const rnd = random(73);
    const pieces = ['0', 'f', 'A', 'db8', '2001', 'ffff1', ':', ':', '::', 'g', '.', ' '];
    for (let n = 0; n < 20000; n++) {
      let text = '';
      for (let k = Math.floor(rnd() * 10); k > 0; k--) text += pieces[Math.floor(rnd() * pieces.length)]!;
      const from = Math.floor(rnd() * (text.length + 1));
      const to = from + Math.floor(rnd() * (text.length - from + 1));
      const groups = validGroups(text, from, to);
      const expected = plain(text.slice(from, to));
      if (!Object.is(groups, expected)) expect(groups, `${JSON.stringify(text)} [${from}, ${to})`).toBe(expected);
    }
  });
});

describe("an address's characters read from one table, as the chain of tests read them", () => {
  const word = /[\p{L}\p{M}\p{N}]/u;
  const unicodeWord = (c: number) => c >= 0x80 && word.test(String.fromCharCode(c));
  const plainLocal = (c: number) => isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39 || unicodeWord(c);
  const plainDomain = (c: number) => isAlnum(c) || c === 46 || c === 45 || unicodeWord(c);

  it('for every UTF-16 code unit and past the end of a text', () => {
    const disagree: number[] = [];
    for (let c = 0; c < 0x10000; c++) if (isLocalChar(c) !== plainLocal(c) || isDomainChar(c) !== plainDomain(c)) disagree.push(c);
    expect(disagree).toEqual([]);
    expect([isLocalChar(Number.NaN), isDomainChar(Number.NaN)]).toEqual([false, false]);
  });
});
