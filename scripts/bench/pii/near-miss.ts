// Near-miss-heavy records for the PII benchmark: order exports, device inventories, CI
// and access logs, git and package notes, payment and support threads, geo check-ins, about 300
// bytes each, where every real value stands among ~2.5 values that look like PII to a regex and
// are not: timestamps, dates and times in many formats, prices and measurements, SKUs, order,
// invoice, ticket and request ids, version strings and package specs, UUIDs, git SHAs and
// digests, masked cards and SSNs, numbers that fail their checksum (Luhn, mod-97, SSN rules),
// IMEIs, MAC addresses, coordinates, ISBNs, ports, `name@file` and `@mention` handles. Real values
// come from realistic.ts's varied generators (phones libphonenumber accepts, IBANs and cards with
// their check digits) and are labelled; near-misses are labelled by class and are never PII by
// docs/pii.md's rules (test/pii/near-miss.test.ts holds both). Deterministic for a given seed.

import type { PiiType } from '../../../src/domain/pii/index.js';
import { generator, variedValues } from './realistic.js';

export const NEAR_MISS_CLASSES = [
  'timestamp',
  'date',
  'time',
  'price',
  'measurement',
  'sku',
  'id',
  'version',
  'uuid',
  'sha',
  'masked-card',
  'masked-ssn',
  'checksum-fail',
  'imei',
  'mac',
  'coordinates',
  'isbn',
  'port',
  'name-at-file',
  'mention',
] as const;
export type NearMissClass = (typeof NEAR_MISS_CLASSES)[number];

export interface Planted<T> {
  start: number;
  end: number;
  type: T;
}

export interface NearMissCorpus {
  /** The records, one per line. */
  records: string[];
  /** Per record, the real values planted in it (offsets within the record). */
  spans: Planted<PiiType>[][];
  /** Per record, the near-misses planted in it. */
  misses: Planted<NearMissClass>[][];
  /** The records joined by '\n', the real values' and the near-misses' offsets in it. */
  text: string;
  all: Planted<PiiType>[];
  allMisses: Planted<NearMissClass>[];
}

/**
 * `count` records (2,000 make ~0.6 MB), each with its real values and its near-misses.
 * @example
 * const { text, all, allMisses } = nearMissCorpus(2000, 3); // ~0.6 MB, ~2.5 near-misses per value
 */
export function nearMissCorpus(count = 2000, seed = 3): NearMissCorpus {
  const gen = generator(seed);
  const { rnd, int, pick, from, digits } = gen;
  const varied = variedValues(gen);
  const HEX = '0123456789abcdef';
  const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const hex = (n: number) => from(HEX, n);

  let planted: Array<[PiiType | NearMissClass, string, boolean]> = [];
  const P = (type: PiiType, v: string) => (planted.push([type, v, true]), v);
  const N = (type: NearMissClass, v: string) => (planted.push([type, v, false]), v);

  // ---- real values ----
  const firsts = ['anna', 'bob', 'carlos', 'dana', 'erik', 'fatima', 'kenji', 'lena', 'marco', 'priya', 'olu', 'mei', 'ines', 'tomasz'];
  const lasts = ['smith', 'garcia', 'mueller', 'nowak', 'rossi', 'tanaka', 'kumar', 'dubois', 'silva', 'okafor', 'nguyen'];
  const domains = ['acme.com', 'example.org', 'globex.co.uk', 'initech.io', 'shop.example.de', 'mail.hooli.com', 'fabrikam.fr', 'contoso.com.au'];
  const Name = () => `${pick(firsts)[0]!.toUpperCase()}${pick(firsts).slice(1)} ${pick(lasts)[0]!.toUpperCase()}${pick(lasts).slice(1)}`;
  const email = () => P('EMAIL', `${pick(firsts)}${pick(['.', '_', ''])}${pick(lasts)}${rnd() < 0.3 ? int(1, 99) : ''}@${pick(domains)}`);
  const phone = () => P('PHONE', varied.phone());
  const card = () => P('CREDIT_CARD', varied.card());
  const iban = () => P('IBAN', varied.iban());
  const key = () => P('API_KEY', varied.key());
  const ssn = () => {
    let area = int(1, 899);
    if (area === 666) area = 667;
    return P('SSN', `${pad(area, 3)}-${pad(int(1, 99))}-${pad(int(1, 9999), 4)}`);
  };
  const ipv4 = () => P('IP_ADDRESS', `${int(11, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`);
  const ipv6 = () => P('IP_ADDRESS', `2001:db8:${hex(4)}:${int(1, 9999)}::${from('123456789abcdef', 1)}${hex(3)}`);

  // ---- near-misses ----
  const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const DAY = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const Y = () => int(2019, 2026);
  const hms = () => `${pad(int(0, 23))}:${pad(int(0, 59))}:${pad(int(0, 59))}`;
  const timestamp = () =>
    N(
      'timestamp',
      pick([
        () => `${Y()}-${pad(int(1, 12))}-${pad(int(1, 28))}T${hms()}.${digits(3)}Z`,
        () => `${Y()}-${pad(int(1, 12))}-${pad(int(1, 28))}T${hms()}+0${int(1, 9)}:00`,
        () => `${pick(DAY)}, ${pad(int(1, 28))} ${pick(MON)} ${Y()} ${hms()} +0000`,
        () => `${int(1_600_000_000, 1_800_000_000)}${digits(3)}`,
        () => `${int(1_600_000_000, 1_800_000_000)}`,
        () => `${pick(MON)} ${pad(int(1, 28))} ${hms()}`,
        () => `${Y()}-${pad(int(1, 12))}-${pad(int(1, 28))} ${hms()},${digits(3)}`,
        () => `${Y()}${pad(int(1, 12))}${pad(int(1, 28))}T${hms().replaceAll(':', '')}Z`,
        () => `${pad(int(1, 28))}/${pick(MON)}/${Y()}:${hms()} +0000`,
      ])(),
    );
  const date = () =>
    N(
      'date',
      pick([
        () => `${Y()}-${pad(int(1, 12))}-${pad(int(1, 28))}`,
        () => `${pad(int(1, 28))}.${pad(int(1, 12))}.${Y()}`,
        () => `${pad(int(1, 12))}/${pad(int(1, 28))}/${Y()}`,
        () => `${pad(int(1, 28))}/${pad(int(1, 12))}/${String(Y()).slice(2)}`,
        () => `${Y()}/${pad(int(1, 12))}/${pad(int(1, 28))}`,
        () => `${int(1, 28)} ${pick(MON)} ${Y()}`,
        () => `${pick(MON)} ${int(1, 28)}, ${Y()}`,
        () => `${pad(int(1, 12))}-${pad(int(1, 28))}-${Y()}`,
        () => `${Y()}${pad(int(1, 12))}${pad(int(1, 28))}`,
      ])(),
    );
  const time = () =>
    N(
      'time',
      pick([
        () => hms(),
        () => `${int(1, 12)}:${pad(int(0, 59))} ${pick(['AM', 'PM', 'am', 'pm'])}`,
        () => `${hms()}.${digits(3)}`,
        () => `${pad(int(0, 23))}h${pad(int(0, 59))}`,
        () => `${pad(int(0, 23))}:${pad(int(0, 59))}`,
      ])(),
    );
  const price = () =>
    N(
      'price',
      pick([
        () => `$${int(1, 9)},${digits(3)}.${digits(2)}`,
        () => `€ ${int(1, 9)}.${digits(3)},${digits(2)}`,
        () => `${int(10, 999)},${digits(2)} zł`,
        () => `USD ${int(1, 999)}.${digits(2)}`,
        () => `£${int(1, 99)}.${digits(2)}`,
        () => `¥${int(1, 99)},${digits(3)}`,
        () => `${int(1, 99)}.${digits(2)} EUR`,
      ])(),
    );
  const measurement = () =>
    N(
      'measurement',
      pick([
        () => `${int(1, 99)}.${digits(1)} kg`,
        () => `${int(1, 9)},${digits(3)} ml`,
        () => `${pick(['1920x1080', '2560x1440', '3840x2160', '1280x720'])}`,
        () => `${int(100, 240)}-${int(241, 260)} V`,
        () => `${int(1, 99)}.${digits(3)} km`,
        () => `${int(1, 64)}.${digits(1)} GB`,
        () => `${int(95, 104)}.${digits(1)}°F`,
        () => `${int(90, 160)}/${int(50, 100)} mmHg`,
        () => `${int(1, 40)} x ${int(1, 40)}.${digits(1)} cm`,
      ])(),
    );
  const sku = () =>
    N(
      'sku',
      pick([
        () => `SKU-${digits(4)}-${pick(['XS', 'S', 'M', 'L', 'XL'])}-${from(UPPER, 3)}`,
        () => `SKU ${digits(3)}-${digits(4)}-${digits(3)}`,
        () => `B0${from(`${UPPER}0123456789`, 8)}`,
        () => `${from(UPPER, 2)}-${digits(5)}-${digits(2)}`,
        () => `item ${from(UPPER, 3)}${digits(6)}`,
      ])(),
    );
  const id = () =>
    N(
      'id',
      pick([
        () => `ORD-${Y()}-${digits(7)}`,
        () => `INV-${digits(9)}`,
        () => `TKT-${digits(6)}`,
        () => `REQ-${hex(8)}`,
        () => `req_${hex(16)}`,
        () => `ticket #${digits(7)}`,
        () => `order ${int(1, 9)}${digits(9)}`,
        () => `PO# ${int(1, 9)}${digits(9)}`,
        () => `invoice ${digits(10)}`,
        () => `request_id=${hex(8)}-${hex(4)}`,
        () => `trace_id=${hex(32)}`,
        () => `01H${from('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 23)}`,
      ])(),
    );
  const version = () =>
    N(
      'version',
      pick([
        () => `v${int(0, 20)}.${int(0, 30)}.${int(0, 99)}`,
        () => `${int(1, 9)}.${int(0, 20)}.${int(0, 9)}-beta.${int(1, 9)}+build.${digits(3)}`,
        () => `${pick(['lodash', 'express', 'react', 'zod', 'pino'])}@${int(1, 20)}.${int(0, 30)}.${int(0, 30)}`,
        () => `@${pick(['types/node', 'babel/core', 'nestjs/common'])}@${int(1, 22)}.${int(0, 20)}.${int(0, 30)}`,
        () => `${pick(['numpy', 'requests', 'django'])}==${int(1, 5)}.${int(0, 30)}.${int(0, 9)}`,
        () => `node:${int(16, 22)}.${int(0, 20)}.${int(0, 9)}-alpine3.${int(14, 20)}`,
        () => `${int(1, 20)}.${int(0, 9)}.${int(0, 9)}.${int(256, 9999)}`,
        () => `Chrome/${int(100, 130)}.0.${int(1000, 6999)}.${int(10, 250)}`,
      ])(),
    );
  const uuid = () => N('uuid', `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`);
  const sha = () => N('sha', pick([() => hex(40), () => hex(7), () => `sha256:${hex(64)}`, () => `sha1-${hex(12)}`, () => `commit ${hex(12)}`])());
  const maskedCard = () =>
    N(
      'masked-card',
      pick([
        () => `**** **** **** ${digits(4)}`,
        () => `${pick(['4111', '5500', '3782'])} XXXX XXXX ${digits(4)}`,
        () => `************${digits(4)}`,
        () => `xxxx-xxxx-xxxx-${digits(4)}`,
        () => `•••• ${digits(4)}`,
        () => `${digits(6)}******${digits(4)}`,
      ])(),
    );
  const maskedSsn = () => N('masked-ssn', pick([() => `XXX-XX-${digits(4)}`, () => `***-**-${digits(4)}`, () => `xxx-xx-${digits(4)}`, () => `###-##-${digits(4)}`])());
  const luhnFail = (n: string) => {
    // The check digit moved off by 1-9: Luhn fails.
    const body = n.slice(0, -1);
    return body + String((Number(luhnDigit(body)) + int(1, 9)) % 10);
  };
  const checksumFail = () =>
    N(
      'checksum-fail',
      pick([
        () => luhnFail(`4${digits(15)}`),
        () => {
          const n = luhnFail(`5${int(1, 5)}${digits(14)}`);
          return `${n.slice(0, 4)} ${n.slice(4, 8)} ${n.slice(8, 12)} ${n.slice(12)}`;
        },
        () => {
          // A German IBAN with its check digits off: mod-97 fails.
          const bban = digits(18);
          const good = 98 - mod97(`${bban}DE00`);
          let check = good;
          while ((check - good) % 97 === 0) check = int(2, 98);
          return `DE${pad(check)}${bban}`;
        },
        () => `${pick(['000', '666', `9${digits(2)}`])}-${pad(int(1, 99))}-${pad(int(1, 9999), 4)}`,
        () => `${pad(int(1, 665), 3)}-00-${pad(int(1, 9999), 4)}`,
        () => `${pad(int(1, 665), 3)}-${pad(int(1, 99))}-0000`,
      ])(),
    );
  const imei = () => {
    const body = `${pick(['35', '86', '01'])}${digits(12)}`;
    const v = body + luhnDigit(body);
    return N('imei', rnd() < 0.7 ? v : `${v.slice(0, 2)}-${v.slice(2, 8)}-${v.slice(8, 14)}-${v.slice(14)}`);
  };
  const mac = () => {
    // A Cisco-dotted MAC of decimal digits only (one in ~300) reads as a dotted phone number: a
    // MAC with a hex letter, as nearly all are.
    let parts: string[];
    do parts = Array.from({ length: 6 }, () => hex(2));
    while (!/[a-f]/.test(parts.join('')));
    return N('mac', pick([() => parts.join(':').toUpperCase(), () => parts.join('-'), () => `${parts[0]}${parts[1]}.${parts[2]}${parts[3]}.${parts[4]}${parts[5]}`])());
  };
  const coordinates = () =>
    N(
      'coordinates',
      pick([
        () => `${int(-80, 80)}.${digits(6)}, ${int(-179, 179)}.${digits(6)}`,
        () => `${int(0, 89)}.${digits(4)}° ${pick(['N', 'S'])}, ${int(0, 179)}.${digits(4)}° ${pick(['E', 'W'])}`,
        () => `geo:${int(-80, 80)}.${digits(6)},${int(-179, 179)}.${digits(6)}`,
        () => `${int(0, 89)}°${pad(int(0, 59))}'${pad(int(0, 59))}"${pick(['N', 'S'])} ${int(0, 179)}°${pad(int(0, 59))}'${pad(int(0, 59))}"${pick(['E', 'W'])}`,
      ])(),
    );
  const isbn = () => {
    const body = `978${digits(9)}`;
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += (body.charCodeAt(i) - 48) * (i % 2 === 0 ? 1 : 3);
    const v = body + String((10 - (sum % 10)) % 10);
    return N('isbn', rnd() < 0.5 ? `ISBN ${v}` : `ISBN ${v.slice(0, 3)}-${v[3]}-${v.slice(4, 7)}-${v.slice(7, 12)}-${v[12]}`);
  };
  const port = () =>
    N('port', pick([() => `localhost:${int(1024, 65535)}`, () => `:${int(1024, 9999)}`, () => `port ${int(1, 65535)}`, () => `db.internal:${int(1024, 65535)}`, () => `${int(1, 65535)}/tcp`])());
  const nameAtFile = () =>
    N('name-at-file', `${pick(firsts)}@${pick(['notes', 'config', 'main', 'draft', 'utils', 'schema', 'release'])}.${pick(['txt', 'yaml', 'ts', 'json', 'png', 'mjs', 'css', 'pdf', 'svg', 'yml'])}`);
  const mention = () => N('mention', `@${pick(firsts)}${pick(['', '.', '_', '-'])}${pick([...lasts, 'dev', 'ops', 'team'])}`);

  const words = 'the customer asked about the delivery and the refund; support checked the logs and the build, then followed up with the team after the review of the shipment and the device'.split(
    ' ',
  );
  const prose = (lo: number, hi: number) => Array.from({ length: int(lo, hi) }, () => pick(words)).join(' ');

  // 28 real values and 70 near-misses over the 12 shapes: ~2.5 near-misses per value.
  const records: Array<() => string> = [
    () =>
      `{"order":"${id()}","placed":"${timestamp()}","customer":"${Name()}","email":"${email()}","phone":"${phone()}","items":[{"sku":"${sku()}","price":"${price()}"},{"sku":"${sku()}","qty":${int(1, 9)}}],"card":"${maskedCard()}","ship_by":"${date()}","note":"${prose(3, 8)}"}`,
    () => `${timestamp()} INFO [${uuid()}] POST /api/orders from ${ipv4()} -> 201 in ${int(3, 900)}ms (${version()}, ${port()}, ${id()}); user ${email()} ${prose(6, 14)}`,
    () => `Device ${sku()} registered ${date()}: IMEI ${imei()}, MAC ${mac()}, firmware ${version()}, owner ${Name()} <${email()}>, mobile ${phone()}, last fix ${coordinates()}. ${prose(2, 6)}.`,
    () => `commit ${sha()} (${timestamp()}) by ${Name()} <${email()}>: bump ${version()} and ${version()}; see ${nameAtFile()}, cc ${mention()}. ${prose(6, 12)}`,
    () =>
      `Support ${id()} (${date()} ${time()}): ${Name()} (${email()}, ${phone()}) says the card ${maskedCard()} was declined; we tried ${checksumFail()} from the form. Refund ${price()} to IBAN ${iban()}. ${prose(3, 8)}.`,
    () =>
      `HR ${id()}: ${Name()}, SSN on file ${maskedSsn()}, verified SSN ${ssn()}, badge ${sku()}, started ${date()}, mobile ${phone()}, personal mail ${email()}, updated ${timestamp()}. ${prose(6, 12)}.`,
    () => `Check-in ${timestamp()} at ${coordinates()} (accuracy ${measurement()}), MAC ${mac()}, session ${uuid()}, client ${ipv4()}; reported by ${mention()} for ${email()}. ${prose(3, 8)}`,
    () => `Payment ${id()} on ${date()}: ${price()} charged to ${card()} at ${time()}; mistyped ${checksumFail()} rejected; receipt to ${email()}, questions ${phone()}. ${prose(6, 12)}.`,
    () => `Library order ${id()}: ${isbn()}, ${isbn()}, ${price()} each, ship to ${Name()} by ${date()}; contact ${phone()} or ${email()}. ${prose(6, 12)}.`,
    () => `deploy ${version()} image ${sha()} to ${port()} at ${timestamp()}; OPENAI_API_KEY=${key()} set by ${mention()} from ${ipv4()}; config ${nameAtFile()}. ${prose(2, 6)}.`,
    () => `Ticket ${id()} from ${email()} (${date()}): unit IMEI ${imei()} at ${coordinates()} stopped syncing after ${version()}; logs from ${ipv6()} at ${time()}; call ${phone()}. ${prose(3, 8)}.`,
    () => `Supplier ${Name()} ${id()}: IBAN ${iban()}, old one ${checksumFail()} bounced; invoice ${price()} due ${date()}, SSN/TIN ${maskedSsn()}, AP ${email()}, ${phone()}. ${prose(3, 8)}.`,
  ];

  const out: string[] = [];
  const spans: Planted<PiiType>[][] = [];
  const misses: Planted<NearMissClass>[][] = [];
  while (out.length < count) {
    planted = [];
    const record = `${pick(records)()} ${prose(4, 12)}.`;
    // Template expressions run left to right, so the values sit in the record in planting order.
    let at = 0;
    const real: Planted<PiiType>[] = [];
    const near: Planted<NearMissClass>[] = [];
    for (const [type, value, isReal] of planted) {
      const start = record.indexOf(value, at);
      if (start < 0) throw new Error(`planted value not found in its record: ${value}`);
      at = start + value.length;
      if (isReal) real.push({ start, end: at, type: type as PiiType });
      else near.push({ start, end: at, type: type as NearMissClass });
    }
    spans.push(real);
    misses.push(near);
    out.push(record);
  }
  const all: Planted<PiiType>[] = [];
  const allMisses: Planted<NearMissClass>[] = [];
  let offset = 0;
  for (let i = 0; i < out.length; i++) {
    for (const sp of spans[i]!) all.push({ ...sp, start: sp.start + offset, end: sp.end + offset });
    for (const sp of misses[i]!) allMisses.push({ ...sp, start: sp.start + offset, end: sp.end + offset });
    offset += out[i]!.length + 1;
  }
  return { records: out, spans, misses, text: out.join('\n'), all, allMisses };
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
