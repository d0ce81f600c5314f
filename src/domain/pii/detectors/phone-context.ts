import { isDigit } from '../chars.js';
import { wordsBefore } from './shape.js';

// A bare run of digits is a phone number only after a phone word, and the word must lead to
// it: straight ("Phone: "), through a short label ("Phone 2: ", "Tel. (home) ", "phone #1 - ",
// "Telefon privat: ", "call me at ") or through the earlier numbers of a list
// ("phones: 2125550123, "). Any 16 characters with no digit and no identifier's word lead on
// too ("Phone? ", "phone: please use "), as any 16 non-digits did before the label grammar; beyond them, prose ("phone 1 of "),
// an identifier's word ("id", "order"), a time or an amount in between breaks the link. Everything is read from the LOOK_BEHIND
// window the stream redactor keeps, so whole texts and streams decide alike.

// Field names count too (`phone_number=`, `mobilePhone:`, `Telefonnummer`, `phones`), in the
// languages of the default regions (Chinese, Japanese and Korean too); a word is bounded by anything but a letter, so
// `telemetry` is no `tel`. Where a word starts is read after the regex finds one (nextPhoneWord),
// not by a look-behind before it: V8 tried that at every character, which cost a test twice its time.
export const PHONE_WORD_LETTERS = 'a-z\\u00df-\\u024f';
const L = PHONE_WORD_LETTERS;
export const PHONE_WORDS = `(?:phone|telephone|tel|mobile|mob|cell|cellphone|call|callback|fax|whatsapp|sms|dial|ph|tél|téléphone|portable|telefon|rufnummer|handy|mobil|telefono|teléfono|cellulare|móvil|movil|celular|telefone|telefoon|mobiel|komórka|kom|फ़ोन|मोबाइल|电话|電話|手机|手機|携帯|ケータイ|전화|휴대폰)(?:[_ .-]?(?:phone|number|nummer|num|no|nr|#))?(?:(?<=phone|number|mobile|telefon)s)?(?![${L}])`;
const PHONE_WORD = new RegExp(PHONE_WORDS, 'g');
const LETTER_AT = new RegExp(`[${L}]`, 'y');

// Words that may sit between the phone word and the number. Some leave a label as it is:
// number words ("no.", "Nr", "numéro"), pronouns and articles ("call me", "est le") and
// conjunctions ("call or text"); others lead to the number as a colon does, closing the
// label's free words ("call me tomorrow at ", "my number is ", "Telefon privat unter ").
const NEUTRAL = words('number numbers nummer num no nr nº numéro numero número numer me us my our your his her him them the le la les el il lo der die das den dem de du del a text');
const LEADS_ON = words('is are was at on to via under ist lautet unter an est au al ao op pod na é è es');
const CONJUNCTIONS = words('or and oder und ou et y o e');
// Digits after these are identifiers or quantities even in a phone's label ("phone order: ").
// Words that say whose phone it is (customer, client, account, case) are not among them.
const NOT_PHONE = words('order invoice tracking shipment ticket ref reference sku serial isbn po id transaction txn batch build bill calls count total minutes duration');

const TOKEN = /[\p{L}\p{M}]+|\d+|[^\p{L}\p{M}\d]+/gu;
// Punctuation a label or a list is written with; anything else ('$', '%', '@', '?') is prose.
const LABEL_PUNCTUATION = /^[\s"'`«»„“”‘’:=\-–—.,;/|#()[\]{}<>*+°&_\\!]+$/;
// What closes a label's free words: "privat:", "(home)", "key=", " - ", "call now!".
const CLOSES_LABEL = /[:=)\]}>!]|\s[-–—]/;
const SEPARATES_ITEMS = /[,;/|&]/;
// An earlier number of a list: digit groups joined the way phones are written.
const ITEM = /\d+(?:(?:[ ./-]|\) ?| ?\()\d+)*/y;
// Dates as the numeric scanner reads them: a space-free segment of three groups with one
// joiner twice, laid out 4-2-2, 2-2-4 or 2-2-2; or, spaced, the whole item laid out 2-2-4 or 4-2-2.
const DATE_IN_ITEM = /(?:^| )(?:\d{4}([./-])\d\d\1\d\d|\d\d([./-])\d\d\2\d\d(?:\d\d)?)(?= |$)|^(?:\d\d \d\d \d{4}|\d{4} \d\d \d\d)$/;
const SPACES = /^\s+$/;
const ABBREVIATION_DOT = /^\.\s*$/;
const MAX_ABBREVIATION = 4;
const MAX_FREE_WORDS = 2;
// Unpunctuated free words reach the number only over this many characters ("call me anytime ").
const MAX_PLAIN_GAP = 16;
const MAX_WORD = 16;

/**
 * Is there a phone word before the run starting at `start` that leads to it (directly, through
 * a short label or through a list of earlier numbers)?
 * @example
 * // for `2125550123` in `Phone 2: 2125550123`
 * phoneWordBefore(text, 9); // true
 */
export function phoneWordBefore(text: string, start: number): boolean {
  const before = wordsBefore(text, start);
  // A run's shapes share their start, so the last answer is usually the one asked for.
  if (before !== lastBefore) {
    lastBefore = before;
    lastAnswer = phoneWordLeadsToEnd(before);
  }
  return lastAnswer;
}
let lastBefore: string | null = null;
let lastAnswer = false;

/** Drops the remembered answer (and the text it may hold on to) at the end of a scan. */
export function forgetPhoneWord(): void {
  lastBefore = null;
}

const WHOLE_PHONE_WORD = new RegExp(`^(?:${PHONE_WORDS})$`);

/** `word` (lower-cased letters) may end a phone label: a phone word or a number word (`tel`, `no`). */
export function mayEndPhoneLabel(word: string): boolean {
  return NEUTRAL.has(word) || WHOLE_PHONE_WORD.test(word);
}

/**
 * Does a phone word in `before` (lower-cased) lead to its end?
 * @example
 * phoneWordLeadsToEnd('phones: 2125550123, '); // true
 * phoneWordLeadsToEnd('phone: see invoice '); // false (an identifier's word)
 */
export function phoneWordLeadsToEnd(before: string): boolean {
  for (let m = nextPhoneWord(before, 0); m !== null; m = nextPhoneWord(before, m.index + m[0].length)) {
    const from = m.index + m[0].length;
    if (shortGap(before.slice(from)) || labelGap(before, from, m[0].length <= MAX_ABBREVIATION)) return true;
  }
  return false;
}

/** The next phone word of `before` (lower-cased) at or after `from`, or null. */
export function nextPhoneWord(before: string, from: number): RegExpExecArray | null {
  PHONE_WORD.lastIndex = from;
  for (let m = PHONE_WORD.exec(before); m !== null; m = PHONE_WORD.exec(before)) {
    if (m.index === 0) return m;
    LETTER_AT.lastIndex = m.index - 1;
    if (!LETTER_AT.test(before)) return m;
    // `telemetry`'s `tel`: no word starts there; one may start at the next character.
    PHONE_WORD.lastIndex = m.index + 1;
  }
  return null;
}

/**
 * Is `text` from `from` to its end a label's tail: a few label words, an index, a list of numbers?
 * `abbreviated`: the phone word is short enough to take a dot ("Tel. privat").
 */
function labelGap(text: string, from: number, abbreviated: boolean): boolean {
  let freeWords = 0;
  let open = false; // a free word waits for what closes the label
  // Only words and spaces so far ("call toll free ", "Tel. privat "): free words may then run
  // up to the number, as they may after any phone word.
  let plain = true;
  let index = false;
  let items = 0;
  let needSeparator = false; // after a list item, before the next number
  TOKEN.lastIndex = from;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    const t = m[0];
    if (isDigit(t.charCodeAt(0))) {
      if (needSeparator) return false;
      if (items === 0 && !index && t.length <= 2) {
        index = true; // "Phone 2:", "phone #1 -", "Tel. privat 2:"
        plain = false;
        continue;
      }
      if (open) return false;
      ITEM.lastIndex = m.index;
      const item = ITEM.exec(text)![0];
      if (!listItem(item)) return false;
      items++;
      needSeparator = true;
      TOKEN.lastIndex = m.index + item.length;
    } else if (isLetterStart(t)) {
      if (idWord(t)) return false;
      if (items > 0) {
        if (!CONJUNCTIONS.has(t)) return false;
        needSeparator = false;
      } else if (LEADS_ON.has(t) && !index) {
        // After an index the digits are a count or a time more often than a phone: "call 2 at 1732000000".
        open = false;
      } else if (!NEUTRAL.has(t) && !CONJUNCTIONS.has(t)) {
        if (++freeWords > MAX_FREE_WORDS || t.length > MAX_WORD) return false;
        open = true;
      }
    } else {
      if (!LABEL_PUNCTUATION.test(t)) return false;
      plain &&= SPACES.test(t) || (abbreviated && m.index === from && ABBREVIATION_DOT.test(t));
      if (open && CLOSES_LABEL.test(t)) open = false;
      if (needSeparator && SEPARATES_ITEMS.test(t)) needSeparator = false;
    }
  }
  return !needSeparator && (!open || (plain && text.length - from <= MAX_PLAIN_GAP));
}

/**
 * A few characters with no digit and no identifier's word ("Phone? ", "my phone, if needed, ",
 * "phone: please use "): they lead on, as any 16 non-digits did before. A leak costs more than
 * redacting a reference said in passing ("phone: see row 2125550123").
 */
function shortGap(gap: string): boolean {
  if (gap.length > MAX_PLAIN_GAP || /\d/.test(gap)) return false;
  for (const w of gap.match(/[\p{L}\p{M}]+/gu) ?? []) if (idWord(w)) return false;
  return true;
}

function idWord(w: string): boolean {
  return NOT_PHONE.has(w) || (w.endsWith('s') && NOT_PHONE.has(w.slice(0, -1)));
}

function words(list: string): ReadonlySet<string> {
  return new Set(list.split(' '));
}

function isLetterStart(t: string): boolean {
  return /^[\p{L}\p{M}]/u.test(t);
}

/** 8 to 15 digits that hold no date (`15.01.2024`, `2024-01-15 10`, `15 01 2024`). */
function listItem(item: string): boolean {
  let digits = 0;
  for (let i = 0; i < item.length; i++) if (isDigit(item.charCodeAt(i))) digits++;
  return digits >= 8 && digits <= 15 && !DATE_IN_ITEM.test(item);
}
