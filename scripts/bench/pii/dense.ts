// PII-dense synthetic text for the PII benchmark: CRM notes, agent transcripts, support tickets
// and log lines with about 6 PII values and 15 number-like non-PII tokens per KB (dates, times,
// versions, ZIP+4, order and invoice numbers, UUIDs, prices, Luhn-invalid card-length numbers).
// Values come from templates, never from a detector; half the phones and all IBANs, cards and
// API keys are drawn as varied as real records' (realistic.ts: 30 phone layouts of 20 countries,
// IBANs of 30 countries, keys of 10 vendors). Deterministic for a given seed.

import type { PiiType } from '../../../src/domain/pii/index.js';
import { generator, variedValues } from './realistic.js';

export interface DenseLine {
  text: string;
  spans: Array<{ start: number; end: number; type: PiiType }>;
}

/**
 * Builds about `bytes` bytes of dense text, line by line with the PII each line holds.
 * @example
 * const { text, lines } = denseText(1 << 20, 11); // 1 MB, ~6k PII values
 */
export function denseText(bytes: number, seed = 11): { text: string; lines: DenseLine[]; pii: number; numberLike: number } {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => int(0, 9)).join('');
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(0, 15)]).join('');
  const pad = (n: number) => String(n).padStart(2, '0');
  let pii = 0;
  let numberLike = 0;
  let inserted: Array<[PiiType, string]> = [];
  const P = (type: PiiType, v: string) => (pii++, inserted.push([type, v]), v);
  const N = (v: string) => (numberLike++, v);

  const first = ['anna', 'bob', 'carlos', 'dana', 'erik', 'fatima', 'jürgen', 'zoë', 'kenji', 'lena', 'marco', 'priya', 'søren', 'łukasz'];
  const last = ['smith', 'garcia', 'mueller', 'nowak', 'rossi', 'tanaka', 'kumar', 'dubois', 'silva', 'obrien'];
  const domains = ['acme.com', 'example.org', 'globex.co.uk', 'initech.io', 'müller-bau.de', 'société.fr', 'mail.hooli.com', 'uni-heidelberg.de', 'bücher.example', 'company.com.au'];
  const varied = variedValues(generator(seed ^ 0x5eed));
  const email = () => P('EMAIL', `${pick(first)}${pick(['.', '_', ''])}${pick(last)}${rnd() < 0.3 ? int(1, 99) : ''}@${pick(domains)}`);
  const phone = () =>
    P(
      'PHONE',
      rnd() < 0.5
        ? varied.phone()
        : pick([
            () => `(${int(2, 9)}${digits(2)}) ${int(2, 9)}${digits(2)}-${digits(4)}`,
            () => `+1 ${int(2, 9)}${digits(2)} ${int(2, 9)}${digits(2)} ${digits(4)}`,
            () => `+44 20 7946 0${digits(3)}`,
            () => `+49 30 ${int(2, 9)}${digits(7)}`,
            () => `030/${int(2, 9)}${digits(6)}`,
            () => `06 ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`,
            () => `+48 ${int(5, 8)}${digits(2)} ${digits(3)} ${digits(3)}`,
            () => `+91 ${int(7, 9)}${digits(4)} ${digits(5)}`,
            () => `0${int(6, 7)}\u00a0${digits(2)}\u00a0${digits(2)}\u00a0${digits(2)}\u00a0${digits(2)}`,
            () => `${pick(['50', '51', '53', '57', '60', '66', '69', '72', '73', '78', '79', '88'])}${digits(1)} ${digits(3)} ${digits(3)}`,
            () => `${int(2, 9)}${digits(2)}${int(2, 9)}${digits(6)}`,
          ])(),
    );
  const ssn = () => P('SSN', `${int(100, 665)}-${int(10, 99)}-${int(1000, 9999)}`);
  const ip = () => P('IP_ADDRESS', `${int(11, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`);
  const card = () => P('CREDIT_CARD', varied.card());
  const iban = () => P('IBAN', varied.iban());
  const akid = () => P('API_KEY', rnd() < 0.5 ? `AKIA${Array.from({ length: 16 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[int(0, 31)]).join('')}` : varied.key());

  const awsSecret = () => P('API_KEY', Array.from({ length: 40 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+'[int(0, 63)]).join(''));
  const date = () => N(pick([() => `2024-${pad(int(1, 12))}-${pad(int(1, 28))}`, () => `${pad(int(1, 28))}.${pad(int(1, 12))}.2025`, () => `${pad(int(1, 12))}/${pad(int(1, 28))}/2024`])());
  const time = () => N(`${pad(int(0, 23))}:${pad(int(0, 59))}:${pad(int(0, 59))}`);
  const version = () => N(pick([() => `v${int(1, 20)}.${int(0, 30)}.${int(0, 99)}`, () => `${int(1, 20)}.${int(0, 9)}.${int(0, 9)}.${int(1, 999)}`])());
  const zip = () => N(`${digits(5)}-${digits(4)}`);
  const order = () => N(pick([() => `ORD-${digits(8)}`, () => `#${digits(7)}`, () => `INV-2024-${digits(5)}`, () => `${digits(10)}`])());
  const uuid = () => N(`${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`);
  const price = () => N(pick([() => `$${int(1, 9)},${digits(3)}.${digits(2)}`, () => `${int(10, 999)}.${digits(2)} EUR`, () => `€${int(1, 99)}.${digits(2)}`])());
  const badCard = () => {
    // Luhn-invalid on purpose: change the check digit of a valid test number.
    const v = '4111111111111111';
    return N(`${v.slice(0, 15)}${(Number(v[15]) + int(1, 9)) % 10}`);
  };
  const count = () => N(pick([() => `${int(1, 999)},${digits(3)},${digits(3)}`, () => `${int(100, 99999)}ms`, () => `${int(1, 100)}%`])());

  const records: Array<() => string> = [
    () => `CRM note ${date()} ${time()}: spoke with ${pick(first)} (${email()}), cell ${phone()}; renewal ${order()} for ${price()} due ${date()}, ZIP ${zip()}. Ref ${uuid()}.`,
    () => `[${date()}T${time()}Z] INFO agent=${uuid()} build ${version()} request from ${ip()} took ${count()}; order ${order()} total ${price()}`,
    () => `Ticket ${order()} opened ${date()} by ${email()}: card ${card()} declined twice at ${time()}; tried ${badCard()} too. Amount ${price()}, invoice ${order()}.`,
    () => `User: my SSN is ${ssn()} and my phone is ${phone()}. Assistant: thanks, I updated the record on ${date()} (v${version().replace(/^v/, '')}), case ${order()}, ${count()} processed.`,
    () => `Payout ${date()}: IBAN ${iban()} for ${price()}, batch ${uuid()}, ${count()} rows; next run ${date()}, mail ${email()}.`,
    () =>
      `deploy ${version()} to eu-west-1 at ${time()} with AWS_ACCESS_KEY_ID=${akid()} AWS_SECRET_ACCESS_KEY=${awsSecret()} by ${email()}; ZIP+4 ${zip()}, ${count()} cpu, tag ${version()}, id ${order()}.`,
  ];

  const words = 'the customer asked about renewal and pricing, agreed to follow up next week with the team; status is pending review by the account manager while support checks the logs'.split(' ');
  const prose = () => Array.from({ length: int(14, 30) }, () => pick(words)).join(' ');
  const lines: DenseLine[] = [];
  let size = 0;
  while (size < bytes) {
    inserted = [];
    const line = `${pick(records)()} ${prose()}.`;
    // Template expressions run left to right, so the values sit in the line in insertion order.
    let at = 0;
    const spans = inserted.map(([type, value]) => {
      const start = line.indexOf(value, at);
      at = start + value.length;
      return { start, end: at, type };
    });
    lines.push({ text: line, spans });
    size += Buffer.byteLength(line) + 1;
  }
  return { text: lines.map((l) => l.text).join('\n'), lines, pii, numberLike };
}
