// Realistic records for the PII benchmark: CRM exports, support tickets, payment instructions,
// HR notes, chat transcripts, .env files and logs, about 300 bytes each with ~6 PII values per
// KB, as varied as real ones: phones in 26 national and international layouts of 20 countries,
// IBANs of 30 countries (grouped and unbroken), API keys of 9 vendors, cards of 6 networks, SSNs,
// e-mail addresses (internationalised ones too), IPv4 and IPv6 addresses, with names, street
// addresses, dates, amounts and ids that are not PII the engine reports. Every value comes from
// a template: phone digits are drawn until libphonenumber's own isValidPhoneNumber accepts
// them, IBAN check digits and card Luhn digits are computed. Deterministic for a given seed.

import { isValidPhoneNumber } from 'libphonenumber-js/max';
import type { PiiType } from '../../../src/domain/pii/index.js';

export interface PlantedSpan {
  start: number;
  end: number;
  type: PiiType;
}

export interface RealisticCorpus {
  /** The records, one per line. */
  records: string[];
  /** Per record, the values planted in it (offsets within the record). */
  spans: PlantedSpan[][];
  /** The records joined by '\n', and the planted values' offsets in it. */
  text: string;
  all: PlantedSpan[];
}

interface PhoneLayout {
  cc: string;
  /** Leading digits of the national significant number and its length. */
  lead: string;
  length: number;
  print: (nsn: string) => string;
}

// `g(nsn, 2, 4, 4)`: the digits in groups of those sizes, joined by `sep`.
const g = (nsn: string, sep: string, ...sizes: number[]) => {
  const out: string[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(nsn.slice(at, at + n));
    at += n;
  }
  return out.join(sep);
};

const PHONES: readonly PhoneLayout[] = [
  { cc: '1', lead: '', length: 10, print: (n) => `(${n.slice(0, 3)}) ${n.slice(3, 6)}-${n.slice(6)}` },
  { cc: '1', lead: '', length: 10, print: (n) => g(n, '-', 3, 3, 4) },
  { cc: '1', lead: '', length: 10, print: (n) => g(n, '.', 3, 3, 4) },
  { cc: '1', lead: '', length: 10, print: (n) => `+1 ${g(n, ' ', 3, 3, 4)}` },
  { cc: '1', lead: '', length: 10, print: (n) => `1-${g(n, '-', 3, 3, 4)}` },
  { cc: '44', lead: '20', length: 10, print: (n) => `+44 ${g(n, ' ', 2, 4, 4)}` },
  { cc: '44', lead: '20', length: 10, print: (n) => `0${g(n, ' ', 2, 4, 4)}` },
  { cc: '44', lead: '7', length: 10, print: (n) => `+44 (0)${g(n, ' ', 4, 6)}` },
  { cc: '44', lead: '20', length: 10, print: (n) => `0044 ${g(n, ' ', 2, 4, 4)}` },
  { cc: '49', lead: '30', length: 10, print: (n) => `+49 ${g(n, ' ', 2, 8)}` },
  { cc: '49', lead: '30', length: 10, print: (n) => `0${n.slice(0, 2)}/${n.slice(2)}` },
  { cc: '49', lead: '15', length: 11, print: (n) => `+49 ${g(n, ' ', 4, 7)}` },
  { cc: '33', lead: '6', length: 9, print: (n) => `+33 ${g(n, ' ', 1, 2, 2, 2, 2)}` },
  { cc: '33', lead: '7', length: 9, print: (n) => `0${g(n, '\u00a0', 1, 2, 2, 2, 2)}` },
  { cc: '34', lead: '6', length: 9, print: (n) => `+34 ${g(n, ' ', 3, 2, 2, 2)}` },
  { cc: '39', lead: '06', length: 10, print: (n) => `+39 ${g(n, ' ', 2, 4, 4)}` },
  { cc: '39', lead: '3', length: 10, print: (n) => `+39 ${g(n, ' ', 3, 3, 4)}` },
  { cc: '31', lead: '6', length: 9, print: (n) => `+31 ${g(n, ' ', 1, 8)}` },
  { cc: '48', lead: '5', length: 9, print: (n) => `+48 ${g(n, ' ', 3, 3, 3)}` },
  { cc: '61', lead: '4', length: 9, print: (n) => `0${g(n, ' ', 3, 3, 3)}` },
  { cc: '81', lead: '90', length: 10, print: (n) => `0${g(n, '-', 2, 4, 4)}` },
  { cc: '81', lead: '3', length: 9, print: (n) => `+81 ${g(n, '-', 1, 4, 4)}` },
  { cc: '55', lead: '119', length: 11, print: (n) => `(${n.slice(0, 2)}) ${n.slice(2, 7)}-${n.slice(7)}` },
  { cc: '91', lead: '9', length: 10, print: (n) => `+91 ${g(n, ' ', 5, 5)}` },
  { cc: '353', lead: '87', length: 9, print: (n) => `+353 ${g(n, ' ', 2, 3, 4)}` },
  { cc: '46', lead: '70', length: 9, print: (n) => `+46 ${g(n, ' ', 2, 3, 2, 2)}` },
  { cc: '41', lead: '44', length: 9, print: (n) => `+41 ${g(n, ' ', 2, 3, 2, 2)}` },
  { cc: '52', lead: '55', length: 10, print: (n) => `+52 ${g(n, ' ', 2, 4, 4)}` },
  { cc: '27', lead: '82', length: 9, print: (n) => `+27 ${g(n, ' ', 2, 3, 4)}` },
  { cc: '65', lead: '9', length: 8, print: (n) => `+65 ${g(n, ' ', 4, 4)}` },
];

// IBAN layouts after the check digits: a letter (A), a digit (9) or either (X), per position.
const IBANS: Readonly<Record<string, string>> = {
  DE: '999999999999999999',
  GB: 'AAAA99999999999999',
  FR: '9999999999XXXXXXXXXXX99',
  ES: '99999999999999999999',
  IT: 'A9999999999XXXXXXXXXXXX',
  NL: 'AAAA9999999999',
  BE: '999999999999',
  AT: '9999999999999999',
  CH: '99999XXXXXXXXXXXX',
  PL: '999999999999999999999999',
  SE: '99999999999999999999',
  NO: '99999999999',
  DK: '99999999999999',
  FI: '99999999999999',
  IE: 'AAAA99999999999999',
  PT: '999999999999999999999',
  LU: '999XXXXXXXXXXXXX',
  CZ: '99999999999999999999',
  HU: '999999999999999999999999',
  RO: 'AAAAXXXXXXXXXXXXXXXX',
  GR: '99999999999999999999999',
  TR: '99999X9999999999999999',
  SA: '99XXXXXXXXXXXXXXXXXX',
  AE: '9999999999999999999',
  BR: '99999999999999999999999AX',
  HR: '99999999999999999',
  SI: '999999999999999',
  LT: '9999999999999999',
  EE: '9999999999999999',
  MT: 'AAAA99999XXXXXXXXXXXXXXXXXX',
};

type Rnd = () => number;
export type Generator = ReturnType<typeof generator>;

/** Seeded random numbers (a linear congruential generator, as dense.ts uses) and helpers over them. */
export function generator(seed: number) {
  let s = seed >>> 0;
  const rnd: Rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const from = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[int(0, alphabet.length - 1)]).join('');
  const digits = (n: number) => from('0123456789', n);
  return { rnd, int, pick, from, digits };
}

/** Phones, IBANs, cards and API keys as varied as real records', drawn with `gen`'s random numbers. */
export function variedValues(gen: Generator) {
  const { rnd, int, pick, from, digits } = gen;
  const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const ALNUM = `${UPPER}abcdefghijklmnopqrstuvwxyz0123456789`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const phone = () => {
    const layout = pick(PHONES);
    for (let tries = 0; ; tries++) {
      const nsn = layout.lead + (layout.cc === '1' ? `${int(2, 9)}${digits(2)}${int(2, 9)}${digits(6)}` : digits(layout.length - layout.lead.length));
      if (tries > 200) throw new Error(`no valid number for +${layout.cc} ${layout.lead}`);
      if (layout.cc === '1' || isValidPhoneNumber(`+${layout.cc}${nsn}`)) return layout.print(nsn);
    }
  };

  const iban = () => {
    const country = pick(Object.keys(IBANS));
    const bban = [...IBANS[country]!].map((c) => (c === '9' ? digits(1) : c === 'A' ? from(UPPER, 1) : from(`${UPPER}0123456789`, 1))).join('');
    const check = 98 - mod97(`${bban}${country}00`);
    const value = `${country}${pad(check)}${bban}`;
    return rnd() < 0.6 ? value.replace(/(.{4})(?=.)/g, '$1 ') : value;
  };

  const card = () => {
    const [prefix, length, groups] = pick<[string, number, number[]]>([
      ['4', 16, [4, 4, 4, 4]],
      [`5${int(1, 5)}`, 16, [4, 4, 4, 4]],
      [`2${int(221, 720)}`, 16, [4, 4, 4, 4]],
      [pick(['34', '37']), 15, [4, 6, 5]],
      ['6011', 16, [4, 4, 4, 4]],
      [`35${int(28, 89)}`, 16, [4, 4, 4, 4]],
      ['36', 14, [4, 6, 4]],
    ]);
    const body = prefix + digits(length - prefix.length - 1);
    const number = body + luhnDigit(body);
    const style = rnd();
    return style < 0.5 ? g(number, ' ', ...groups) : style < 0.75 ? g(number, '-', ...groups) : number;
  };

  // A random body without a digit (one in 70 of 24 characters) is read as a placeholder, by design.
  const mixed = (f: () => string) => {
    for (;;) {
      const v = f();
      if (/[0-9]/.test(v.slice(v.length - 16)) && /[A-Za-z]/.test(v.slice(v.length - 16))) return v;
    }
  };
  const key = () =>
    mixed(
      pick([
        () => `sk-proj-${from(ALNUM, 48)}`,
        () => `sk-ant-api03-${from(ALNUM, 40)}`,
        () => `sk_live_${from(ALNUM, 24)}`,
        () => `rk_test_${from(ALNUM, 24)}`,
        () => `ghp_${from(ALNUM, 36)}`,
        () => `github_pat_11${from(`${UPPER}0123456789`, 20)}_${from(ALNUM, 59)}`,
        () => `xoxb-${digits(12)}-${digits(13)}-${from(ALNUM, 24)}`,
        () => `AIza${from(`${ALNUM}-_`, 34)}${from(ALNUM, 1)}`,
        () => `glpat-${from(ALNUM, 20)}`,
        () => `AKIA${from('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
      ]),
    );
  const awsSecret = () => mixed(() => from(`${ALNUM}/+`, 40));

  return { phone, iban, card, key, awsSecret };
}

/**
 * `count` records (2,000 make ~0.6 MB), each with the values planted in it.
 * @example
 * const { text, all } = realisticCorpus(2000, 5); // ~0.6 MB, ~3,700 values
 */
export function realisticCorpus(count = 2000, seed = 5): RealisticCorpus {
  const gen = generator(seed);
  const { int, pick, from, digits } = gen;
  const varied = variedValues(gen);
  const phone = () => P('PHONE', varied.phone());
  const iban = () => P('IBAN', varied.iban());
  const card = () => P('CREDIT_CARD', varied.card());
  const key = () => P('API_KEY', varied.key());
  const awsSecret = () => P('API_KEY', varied.awsSecret());
  const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const pad = (n: number) => String(n).padStart(2, '0');

  let planted: Array<[PiiType, string]> = [];
  const P = (type: PiiType, v: string) => (planted.push([type, v]), v);

  const firsts = ['Anna', 'Bob', 'Carlos', 'Dana', 'Erik', 'Fatima', 'Jürgen', 'Zoë', 'Kenji', 'Lena', 'Marco', 'Priya', 'Søren', 'Łukasz', 'Aoife', 'Mei', 'Olu', 'Inés', 'Hiroshi', 'Ana'];
  const lasts = ['Smith', 'García', 'Müller', 'Nowak', 'Rossi', 'Tanaka', 'Kumar', 'Dubois', 'Silva', "O'Brien", 'Johansson', 'van Dijk', 'Kowalski', 'Nguyen', 'Okafor'];
  const streets = [
    () => `${int(1, 999)} ${pick(['Main St', 'Oak Avenue', 'Elm Street', 'Market St, Suite 400'])}, ${pick(['Springfield, IL', 'Austin, TX', 'Seattle, WA'])} ${digits(5)}`,
    () => `${pick(['Hauptstraße', 'Bahnhofstr.', 'Lindenweg'])} ${int(1, 120)}, ${digits(5)} ${pick(['Berlin', 'München', 'Köln'])}`,
    () => `${int(1, 80)} rue ${pick(['de Rivoli', 'Victor Hugo', 'des Lilas'])}, ${digits(5)} ${pick(['Paris', 'Lyon'])}`,
    () => `Flat ${int(1, 40)}, ${int(1, 200)} ${pick(['Baker Street', 'High Road'])}, London ${pick(['NW1 6XE', 'SE1 9SG', 'E14 5AB'])}`,
    () => `ul. ${pick(['Marszałkowska', 'Długa'])} ${int(1, 150)}/${int(1, 40)}, ${digits(2)}-${digits(3)} Warszawa`,
  ];
  const name = () => `${pick(firsts)} ${pick(lasts)}`;
  const ascii = (x: string) =>
    x
      .normalize('NFD')
      .replace(/[^A-Za-z]/g, '')
      .toLowerCase();
  const domains = ['acme.com', 'example.org', 'globex.co.uk', 'initech.io', 'müller-bau.de', 'mail.hooli.com', 'uni-heidelberg.de', 'company.com.au', 'kunde.example.ch', 'outlook.fr'];

  const email = () => {
    const f = pick(firsts);
    const l = pick(lasts);
    const local = pick([
      () => `${ascii(f)}.${ascii(l)}`,
      () => `${ascii(f)[0]}${ascii(l)}${int(1, 99)}`,
      () => `${ascii(f)}+${pick(['billing', 'crm', 'news'])}`,
      () => `${f.toLowerCase()}`,
      () => `${ascii(l)}_${ascii(f)}`,
    ])();
    return P('EMAIL', `${local}@${pick(domains)}`);
  };

  const ssn = () => {
    let area = int(1, 899);
    if (area === 666) area = 667;
    return P('SSN', `${String(area).padStart(3, '0')}-${pad(int(1, 99))}-${String(int(1, 9999)).padStart(4, '0')}`);
  };

  const ipv4 = () => P('IP_ADDRESS', `${int(11, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`);
  const ipv6 = () => P('IP_ADDRESS', `2001:db8:${from('0123456789abcdef', 4)}:${int(1, 9999)}::${from('123456789abcdef', 1)}${from('0123456789abcdef', 3)}`);

  const date = () => pick([() => `2025-${pad(int(1, 12))}-${pad(int(1, 28))}`, () => `${pad(int(1, 28))}.${pad(int(1, 12))}.2025`, () => `${pad(int(1, 12))}/${pad(int(1, 28))}/2025`])();
  const time = () => `${pad(int(0, 23))}:${pad(int(0, 59))}`;
  const amount = () => pick([() => `$${int(1, 9)},${digits(3)}.${digits(2)}`, () => `${int(10, 999)},${digits(2)} €`, () => `£${int(10, 999)}.${digits(2)}`, () => `CHF ${int(100, 9999)}.-`])();
  const ref = () => pick([() => `ORD-${digits(8)}`, () => `#${digits(6)}`, () => `INV-2025-${digits(5)}`, () => `CASE-${digits(7)}`, () => `${from(UPPER, 3)}-${digits(4)}`])();
  const uuid = () => `${from('0123456789abcdef', 8)}-${from('0123456789abcdef', 4)}-4${from('0123456789abcdef', 3)}-a${from('0123456789abcdef', 3)}-${from('0123456789abcdef', 12)}`;
  const words =
    'customer asked about the renewal and agreed to a call next week; the account manager will follow up after legal review, pending the signed order form and updated billing details for the new fiscal year'.split(
      ' ',
    );
  const prose = (lo: number, hi: number) => Array.from({ length: int(lo, hi) }, () => pick(words)).join(' ');
  const json = (s: string) => JSON.stringify(s).slice(1, -1);

  const records: Array<() => string> = [
    () =>
      `{"type":"contact","id":"${uuid()}","name":"${json(name())}","email":"${email()}","phone":"${phone()}","address":"${json(pick(streets)())}","updated":"${date()}T${time()}:00Z","notes":"${prose(6, 14)}"}`,
    () => `Ticket ${ref()} (${date()} ${time()}) from ${name()} <${email()}>: ${prose(10, 20)}. Call back on ${phone()}. Priority ${int(1, 4)}, SLA ${int(4, 48)}h.`,
    () => `Payment instruction ${ref()}: pay ${amount()} to ${name()}, IBAN ${iban()}, reference ${ref()}, value date ${date()}. Approved by ${name()}. ${prose(4, 10)}.`,
    () => `HR record ${ref()}: ${name()}, born ${date()}, SSN ${ssn()}, home ${pick(streets)()}, mobile ${phone()}. Start ${date()}, salary ${amount()}/month. ${prose(4, 10)}.`,
    () =>
      `[${date()} ${time()}] user: my card ${card()} was charged ${amount()} twice for order ${ref()}. agent: sorry ${pick(firsts)}, I refunded ${amount()}; confirmation sent to ${email()}. ${prose(4, 8)}.`,
    () =>
      `# .env for ${pick(['billing', 'search', 'crm-sync'])} (${date()})\nOPENAI_API_KEY=${key()}\nSERVICE_TOKEN=${key()}\nAWS_SECRET_ACCESS_KEY=${awsSecret()}\nLOG_LEVEL=info\nPORT=${int(3000, 9000)}\nOWNER=${email()}`,
    () => `${date()}T${time()}:${pad(int(0, 59))}.${digits(3)}Z WARN auth failed for ${email()} from ${ipv4()} (attempt ${int(2, 9)}/5, trace ${uuid()}); previous login ${ipv6()} ${prose(3, 8)}`,
    () =>
      `Supplier ${pick(['GmbH', 'Ltd', 'S.A.', 'B.V.'])} onboarding: contact ${name()}, tel. ${phone()}, IBAN ${iban()}, VAT ${from(UPPER, 2)}${digits(9)}, ${pick(streets)()}. Terms net ${int(14, 60)}, first order ${ref()} for ${amount()}.`,
    () => `Chat ${date()}: ${pick(firsts)}: reach me at ${phone()} after ${time()}, or mail ${email()}. ${pick(firsts)}: noted, ${prose(6, 14)}; case ${ref()} stays open until ${date()}.`,
    () => `Status ${date()}: ${prose(20, 36)}; open items ${ref()}, ${ref()}; forecast ${amount()} (v${int(1, 9)}.${int(0, 20)}.${int(0, 9)}, build ${digits(5)}).`,
    () =>
      `Meeting ${date()} ${time()}-${time()} with ${name()} and ${name()} (${pick(['Zoom', 'Room 4.12', 'Teams'])}): ${prose(20, 40)}. Actions: ${ref()} by ${date()}, budget ${amount()}, ${prose(6, 12)}.`,
    () =>
      `Incident ${ref()}: a ${pick(['Stripe', 'GitHub', 'Slack', 'Google', 'GitLab'])} key ${key()} was pasted in #${pick(['general', 'dev', 'ops'])} by ${name()} at ${time()}; rotated by ${email()}. ${prose(6, 12)}.`,
  ];

  const out: string[] = [];
  const spans: PlantedSpan[][] = [];
  while (out.length < count) {
    planted = [];
    const record = `${pick(records)()} ${prose(4, 16)}.`;
    // Template expressions run left to right, so the values sit in the record in planting order.
    let at = 0;
    spans.push(
      planted.map(([type, value]) => {
        const start = record.indexOf(value, at);
        if (start < 0) throw new Error(`planted value not found in its record: ${value}`);
        at = start + value.length;
        return { start, end: at, type };
      }),
    );
    out.push(record);
  }
  const all: PlantedSpan[] = [];
  let offset = 0;
  for (let i = 0; i < out.length; i++) {
    for (const sp of spans[i]!) all.push({ start: sp.start + offset, end: sp.end + offset, type: sp.type });
    offset += out[i]!.length + 1;
  }
  return { records: out, spans, text: out.join('\n'), all };
}

function mod97(s: string): number {
  let r = 0;
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    r = c >= 48 && c <= 57 ? (r * 10 + (c - 48)) % 97 : (r * 100 + (c - 55)) % 97;
  }
  return r;
}

function luhnDigit(body: string): string {
  let sum = 0;
  for (let i = body.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = body.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}
