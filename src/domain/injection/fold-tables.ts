// The tables the word reader and the fold (tokens.ts) look code units up in: per BMP code unit
// its kind (separator, invisible, combining mark, ideograph, or a letter or digit of Latin,
// Cyrillic or Greek, or another script), the code unit a letter folds to and its lowercase, all
// learnt on first sight (astral code points likewise, in a map); the Cyrillic and Greek letters
// that look like a Latin one; the mathematical letters read as ASCII; the code units
// foldForSignals undoes and the zero-width ones (hidden.ts reads runs of those), and the
// Words.seen bits each sets.

export const enum Kind {
  Unknown = 0,
  Separator = 1,
  /** Invisible (zero-width, bidi controls, soft hyphen…) or half of a surrogate pair. */
  Skip = 2,
  /** A combining mark: skipped by the reader, kept by the fold for the regexes. */
  Mark = 3,
  Ideograph = 4,
  /** From here on, letters and digits (their folded code unit is in FOLD): this one of another script than the two below. */
  Letter = 5,
  Latin = 6,
  /** A letter that looks like a Latin one (LOOKALIKES), of Cyrillic, Greek, Armenian or Cherokee; their other letters are Letter. */
  LookAlike = 7,
}

// Per BMP code unit: its kind, and for letters the code unit it folds to (first of its NFKD,
// lowercased, marks dropped) and its lowercase. Filled on first sight.
export const KIND = new Uint8Array(0x10000);
export const FOLD = new Uint16Array(0x10000);
export const LOWER = new Uint16Array(0x10000);

const LETTER = /[\p{L}\p{N}]/u;
const MARK = /\p{M}/u;
const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/u;
const IDEOGRAPH = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const LATIN = /\p{Script=Latin}/u;
const LOOKALIKE_SCRIPT = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;

/** Cyrillic, Greek, Armenian and Cherokee letters (lowercased) that look like a Latin letter, read as it inside a mixed word. */
const LOOKALIKES: Record<string, string> = {
  а: 'a',
  в: 'b',
  с: 'c',
  ԁ: 'd',
  е: 'e',
  ё: 'e',
  һ: 'h',
  н: 'h',
  і: 'i',
  ї: 'i',
  ј: 'j',
  к: 'k',
  ӏ: 'l',
  м: 'm',
  п: 'n',
  о: 'o',
  р: 'p',
  ԛ: 'q',
  г: 'r',
  ѕ: 's',
  т: 't',
  и: 'u',
  ѵ: 'v',
  ԝ: 'w',
  х: 'x',
  у: 'y',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  γ: 'y',
  ω: 'w',
  // Armenian
  ա: 'w',
  հ: 'h',
  լ: 'l',
  ո: 'n',
  ս: 'u',
  ց: 'g',
  զ: 'q',
  օ: 'o',
  // Cherokee, in lowercase (its capitals are the look-alikes: Ꭺ Ᏼ Ꮯ Ꭰ Ꭼ Ꮐ Ꮋ Ꮖ Ꭻ Ꮶ Ꮮ Ꮇ Ꮎ Ꮲ Ꭱ Ꮢ Ꮪ Ꭲ Ꮩ Ꮤ Ꮃ Ꮓ)
  ꭺ: 'a',
  ᏼ: 'b',
  ꮯ: 'c',
  ꭰ: 'd',
  ꭼ: 'e',
  ꮐ: 'g',
  ꮋ: 'h',
  ꮖ: 'i',
  ꭻ: 'j',
  ꮶ: 'k',
  ꮮ: 'l',
  ꮇ: 'm',
  ꮎ: 'o',
  ꮲ: 'p',
  ꭱ: 'r',
  ꮢ: 'r',
  ꮪ: 's',
  ꭲ: 't',
  ꮩ: 'v',
  ꮤ: 'w',
  ꮃ: 'w',
  ꮓ: 'z',
};
export const LOOK = new Uint16Array(0x10000);
for (const [k, v] of Object.entries(LOOKALIKES)) LOOK[k.charCodeAt(0)] = v.charCodeAt(0);

/**
 * Capitals that look like a Latin capital, read as it inside a mixed word, case kept (not the
 * palochka Ӏ, which attackers write for an l as often as for an I: lookAlikeOf reads it by the letter before it): a capital's
 * look is not always its small letter's (Greek Η is an H, η an n), and the regexes of
 * chat tokens are case-sensitive (`[ΙNST]` with a Greek Ι is Llama's `[INST]`, never `[iNST]`).
 * A capital not here reads as its small letter's look-alike in capitals (Cherokee's capitals are
 * the look-alikes of the table above; a Cyrillic И reads as a U and Г as an R though neither looks
 * like one: inside a Latin word, rare either way).
 */
const CAPITAL_LOOKALIKES: Record<string, string> = {
  А: 'A',
  В: 'B',
  С: 'C',
  Е: 'E',
  Ё: 'E',
  Н: 'H',
  І: 'I',
  Ї: 'I',
  Ј: 'J',
  К: 'K',
  М: 'M',
  О: 'O',
  Р: 'P',
  Ԛ: 'Q',
  Ѕ: 'S',
  Т: 'T',
  Ԝ: 'W',
  Х: 'X',
  У: 'Y',
  Ү: 'Y',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Ζ: 'Z',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
  Օ: 'O',
  Տ: 'S',
};
/** Per capital look-alike, the Latin capital it reads as in a mixed word (0: not a capital look-alike; see `lookAlikeOf`). */
const LOOK_CAPITAL = new Uint16Array(0x10000);
for (const [k, v] of Object.entries(CAPITAL_LOOKALIKES)) LOOK_CAPITAL[k.charCodeAt(0)] = v.charCodeAt(0);

/** The Cyrillic capital palochka. */
const PALOCHKA = 0x04c0;

/**
 * The ASCII letter a look-alike code unit (of Kind.LookAlike) reads as in a mixed word, in its
 * case: a small letter as LOOK has it, a capital as the capital it looks like (`afterSmall`: the
 * word's letter before it is a small one, which the palochka's reading depends on).
 *
 * @example
 *   lookAlikeOf(0x0456) // 'i' (Cyrillic і)
 *   lookAlikeOf(0x0397) // 'H' (Greek Η)
 */
export function lookAlikeOf(c: number, afterSmall = false): number {
  // the palochka Ӏ, written for an l and for an I: an l after a small letter (`aӀӀ`, `ruӀes`), else an I (`ӀGNORE`, `[ӀNST]`)
  if (c === PALOCHKA) return afterSmall ? 0x6c : 0x49;
  const capital = LOOK_CAPITAL[c]!;
  if (capital !== 0) return capital;
  const lower = LOWER[c]!;
  const small = LOOK[lower]!;
  // a capital (its lowercase another code unit) reads as the capital of its small letter's look
  return lower !== c && small >= 0x61 && small <= 0x7a ? small - 0x20 : small;
}

/**
 * Latin letters that show as another ASCII one and that Unicode does not decompose to it: small
 * capitals (ɪɢɴᴏʀᴇ reads "ignore"), the dotless i. Read as the ASCII letter by the word reader and
 * the fold, wherever they stand (IPA's ɪ and ʏ, Turkish ı: a word of them folds to plain letters).
 */
const LATIN_FORMS: Record<string, string> = {
  ᴀ: 'a',
  ʙ: 'b',
  ᴄ: 'c',
  ᴅ: 'd',
  ᴇ: 'e',
  ꜰ: 'f',
  ɢ: 'g',
  ʜ: 'h',
  ɪ: 'i',
  ᴊ: 'j',
  ᴋ: 'k',
  ʟ: 'l',
  ᴍ: 'm',
  ɴ: 'n',
  ᴏ: 'o',
  ᴘ: 'p',
  ʀ: 'r',
  ꜱ: 's',
  ᴛ: 't',
  ᴜ: 'u',
  ᴠ: 'v',
  ᴡ: 'w',
  ʏ: 'y',
  ᴢ: 'z',
  ı: 'i',
};
/** The ASCII letter a LATIN_FORMS code unit reads as, 0 for any other. */
export const LATIN_FORM = new Uint16Array(0x10000);
for (const [k, v] of Object.entries(LATIN_FORMS)) LATIN_FORM[k.charCodeAt(0)] = v.charCodeAt(0);

export function learn(c: number): Kind {
  const s = String.fromCharCode(c);
  let kind: Kind;
  if (c >= 0xd800 && c <= 0xdfff)
    kind = Kind.Skip; // astral: handled by the caller
  else if (MARK.test(s)) kind = Kind.Mark;
  else if (IGNORABLE.test(s)) kind = Kind.Skip;
  else if (IDEOGRAPH.test(s)) kind = Kind.Ideograph;
  else if (LETTER.test(s)) {
    // only a letter that looks like a Latin one makes a Latin word mixed (`Googleի`, `/θɪn/` are no disguise)
    kind = LATIN.test(s) ? Kind.Latin : LOOKALIKE_SCRIPT.test(s) && (LOOK[s.toLowerCase().charCodeAt(0)] !== 0 || LOOK_CAPITAL[c] !== 0) ? Kind.LookAlike : Kind.Letter;
    const base = s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
    FOLD[c] = LATIN_FORM[c] || (base.length > 0 ? base.charCodeAt(0) : c);
    LOWER[c] = s.toLowerCase().charCodeAt(0);
  } else kind = Kind.Separator;
  KIND[c] = kind;
  return kind;
}
/** A BMP code unit's kind, learnt on first sight. */
export const kindOf = (c: number): Kind => (KIND[c] === Kind.Unknown ? learn(c) : (KIND[c] as Kind));
// ASCII up front: letters and digits fold to lowercase, the rest separate words.
for (let c = 0; c < 0x80; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  KIND[c] = !alnum ? Kind.Separator : c > 0x39 ? Kind.Latin : Kind.Letter;
  FOLD[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  LOWER[c] = FOLD[c]!;
}

const astralKinds = new Map<number, number>(); // cp → kind | fold << 8

export function astral(cp: number): number {
  let v = astralKinds.get(cp);
  if (v === undefined) {
    const s = String.fromCodePoint(cp);
    if (IGNORABLE.test(s) || MARK.test(s) || (cp >= 0xe0000 && cp <= 0xe007f)) v = Kind.Skip;
    else if (IDEOGRAPH.test(s)) v = Kind.Ideograph | (0x4e00 << 8);
    else if (LETTER.test(s)) {
      const base = s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
      const f = base.length === 1 ? base.charCodeAt(0) : 0x2606;
      v = Kind.Letter | (f << 8);
    } else v = Kind.Separator;
    astralKinds.set(cp, v);
  }
  return v;
}

/** Zero-width code units, as ranges (hidden.ts reads runs of them). */
export const ZERO_WIDTH_UNITS: readonly (readonly [number, number])[] = [
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x2060, 0x2064],
  [0xfeff, 0xfeff],
];
/**
 * Code units foldForSignals undoes: invisible ones (soft hyphen, zero-width, bidi controls…),
 * fullwidth forms, and the high surrogates of mathematical letters (U+1D400–U+1D7FF) and of tag
 * characters.
 */
const FOLDED_UNITS: readonly (readonly [number, number])[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  ...ZERO_WIDTH_UNITS,
  [0x202a, 0x202e],
  [0x206a, 0x206f],
  [0xd835, 0xd835],
  [0xdb40, 0xdb40],
  [0xff01, 0xff5e],
  ...Object.keys(LATIN_FORMS).map((k) => [k.charCodeAt(0), k.charCodeAt(0)] as const),
];
/** A regex for a code unit of these ranges. */
export function unitClass(ranges: readonly (readonly [number, number])[]): RegExp {
  const u = (c: number) => `\\u${c.toString(16).padStart(4, '0')}`;
  return new RegExp(`[${ranges.map(([a, b]) => (a === b ? u(a) : `${u(a)}-${u(b)}`)).join('')}]`);
}
export const NEEDS_FOLD = unitClass(FOLDED_UNITS);

/** Words.seen: a code unit foldForSignals undoes, so the text may need folding. */
export const SEEN_FOLDABLE = 1;
/** Words.seen: a zero-width code unit. */
export const SEEN_ZERO_WIDTH = 2;
/** Words.seen: ZERO_WIDTH_RUN zero-width code units in a row (hidden.ts reads such runs). */
export const SEEN_ZERO_WIDTH_RUN = 4;
/** Words.seen: a letter in a circle or in parentheses, or a high surrogate of letters in squares (and of emoji): hidden.ts reads such letters (enclosedTexts). */
export const SEEN_ENCLOSED = 8;
const ENCLOSED_UNITS: readonly (readonly [number, number])[] = [
  [0x249c, 0x24e9],
  [0xd83c, 0xd83c],
];
/** The fewest zero-width code units in a row that can hide bits (hidden.ts: zeroWidthRuns). */
export const ZERO_WIDTH_RUN = 8;
export const SEEN = new Uint8Array(0x10000);
for (const [bit, ranges] of [
  [SEEN_FOLDABLE, FOLDED_UNITS],
  [SEEN_ZERO_WIDTH, ZERO_WIDTH_UNITS],
  [SEEN_ENCLOSED, ENCLOSED_UNITS],
] as const)
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) SEEN[c] = SEEN[c]! | bit;

/** The one code unit a mathematical letter or digit (U+1D400–U+1D7FF, high surrogate D835) reads as (NFKC), or -1. */
export function mathLetter(low: number): number {
  const s = String.fromCharCode(0xd835, low).normalize('NFKC');
  return s.length === 1 ? s.charCodeAt(0) : -1;
}
