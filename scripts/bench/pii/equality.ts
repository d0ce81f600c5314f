// Findings equality across engine changes: hashes of every finding (type, start, end)
// over the near-miss corpus of seeds 1-12 (whole and per record), the dense and realistic
// corpora of their test seeds, the 910 fixture texts, and fuzzed digit-group texts (national
// and international numbers of every country near libphonenumber's examples, in random
// groupings, beside labels, words and punctuation), read by the default scanner and by scanners
// with other phone regions. A speed-up must leave every hash as it was.
//
//   npx tsx scripts/bench/pii/equality.ts [--fuzz N] [--save FILE | --check FILE]
//
// With --save the hashes (and each fuzzed text's findings, to name the texts that differ) are
// written to FILE; with --check they are compared with FILE's, and the first differing texts
// printed. Not a benchmark (it lives under pii/, so `npm run bench` does not run it).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScanner, type Scanner } from '../../../src/domain/pii/scanner.js';
import { phoneCountries } from '../../../src/domain/pii/detectors/phone-library.js';
import { denseText } from './dense.js';
import { nearMissCorpus } from './near-miss.js';
import { realisticCorpus } from './realistic.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const fuzzCount = Number(opt('--fuzz') ?? 300_000);

type Found = Array<{ type: string; start: number; end: number }>;
const line = (found: Found) => found.map((d) => `${d.type}:${d.start}-${d.end}`).join(',');

const sections: Record<string, { hash: string; texts: number; findings: number }> = {};
const perText: Record<string, string[]> = {};
function section(name: string, texts: readonly string[], scanOf: (texts: readonly string[]) => Found[], keep = false): void {
  const t0 = performance.now();
  const hash = createHash('sha256');
  const found = scanOf(texts);
  let findings = 0;
  const lines: string[] = [];
  for (const f of found) {
    const l = line(f);
    hash.update(l);
    hash.update('\n');
    findings += f.length;
    if (keep) lines.push(l);
  }
  sections[name] = { hash: hash.digest('hex').slice(0, 16), texts: texts.length, findings };
  if (keep) perText[name] = lines;
  console.error(`${name}: ${texts.length} texts, ${findings} findings, ${sections[name]!.hash} (${Math.round(performance.now() - t0)} ms)`);
}
const each = (scanner: Scanner) => (texts: readonly string[]) => texts.map((t) => scanner.scan(t));
const together = (scanner: Scanner) => (texts: readonly string[]) => scanner.scanEach(texts);

const base = createScanner();
for (let seed = 1; seed <= 12; seed++) {
  const c = nearMissCorpus(2000, seed);
  section(`near-miss ${seed} whole`, [c.text], each(base));
  section(`near-miss ${seed} records`, c.records, together(base));
}
for (const seed of [11, 3, 7, 19]) section(`dense ${seed}`, [denseText(1 << 20, seed).text], each(base));
for (const seed of [5, 1, 9, 23]) {
  const c = realisticCorpus(2000, seed);
  section(`realistic ${seed} whole`, [c.text], each(base));
  section(`realistic ${seed} records`, c.records, each(base));
}
const fixtures = ['labelled.jsonl', 'heldout.jsonl', 'disguised.jsonl'].flatMap((f) =>
  readFileSync(join(root, 'test/fixtures/pii', f), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { text: string }).text),
);
section('fixtures', fixtures, each(base), true);

// ---- fuzzed digit-group texts ----
let s = 20261125;
const rnd = () => {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  return s / 2 ** 32;
};
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const requireCjs = createRequire(import.meta.url);
const examples = requireCjs('libphonenumber-js/examples.mobile.json') as Record<string, string>;
const metadata = requireCjs('libphonenumber-js/metadata.max.json') as { countries: Record<string, [string, ...unknown[]]> };
const exampleList = Object.entries(examples).map(([country, national]) => ({ code: metadata.countries[country]![0], national }));
const digits = (n: number) => Array.from({ length: n }, () => int(0, 9)).join('');
function mutate(d: string): string {
  let out = d;
  for (let k = int(0, 2); k > 0; k--) {
    const i = int(0, out.length - 1);
    out = out.slice(0, i) + int(0, 9) + out.slice(i + 1);
  }
  if (rnd() < 0.1) out = out.slice(0, -1);
  if (rnd() < 0.1) out += int(0, 9);
  return out;
}
function numberDigits(): { prefix: string; body: string } {
  const r = rnd();
  const ex = pick(exampleList);
  if (r < 0.25) return { prefix: '+', body: ex.code + mutate(ex.national) };
  if (r < 0.45) return { prefix: '', body: `0${mutate(ex.national)}` };
  if (r < 0.6) return { prefix: '', body: mutate(ex.national) };
  if (r < 0.65) return { prefix: '', body: `00${ex.code}${mutate(ex.national)}` };
  if (r < 0.7) return { prefix: '', body: ex.code + mutate(ex.national) };
  if (r < 0.8) return { prefix: rnd() < 0.2 ? '+' : '', body: `1${pick(['2', '4', '6', '8'])}${digits(9)}`.slice(0, int(10, 11)) };
  return { prefix: rnd() < 0.1 ? '+' : '', body: digits(int(3, 19)) };
}
const JOINS = [' ', ' ', ' ', '-', '-', '.', '/', '', '\u00a0', '  ', ' - ', '_'];
function grouped(body: string): string {
  let out = '';
  let i = 0;
  const join = rnd() < 0.6 ? pick(JOINS) : null;
  let bracket = rnd() < 0.15 ? int(0, 2) : -1;
  for (let g = 0; i < body.length; g++) {
    const len = rnd() < 0.3 ? body.length - i : int(1, 5);
    const group = body.slice(i, i + len);
    i += len;
    if (g > 0) out += join ?? pick(JOINS);
    out += g === bracket ? `(${group})` : group;
    if (g === bracket && rnd() < 0.5) bracket = -1;
  }
  return out;
}
const BEFORE = [
  '',
  '',
  '',
  ' ',
  'phone: ',
  'Phone ',
  'tel ',
  'Tel.',
  'Tel:',
  'call ',
  'mobile ',
  'SSN ',
  'ssn: ',
  'SSN-',
  'order ',
  'Order #',
  'invoice ',
  'ID-',
  'id ',
  'no. ',
  'x',
  'v',
  '_',
  '__',
  'at 10:',
  '10:',
  '(',
  '-',
  '.',
  '—',
  '电话：',
  'fax: ',
  'ref ',
  'card ',
  'ip ',
  'ZIP+',
  'Phone No.',
  'case no. ',
  'tel (home)',
  'Kontakt: ',
  'Tél. : ',
  'a-',
  'a.',
  '1.',
  '9-',
  'ss# ',
];
const AFTER = ['', '', '', ' ', '.', ',', ')', '-', '_', '__', 'ms', ' EUR', ':', '/', ' ext. 12', '\n', '5', 'a', ' x', '.5', ' (work)', ';'];
function fuzzText(): string {
  let out = '';
  for (let k = int(1, 3); k > 0; k--) {
    const { prefix, body } = numberDigits();
    out += pick(BEFORE) + prefix + grouped(body) + pick(AFTER);
    if (rnd() < 0.5) out += pick([' ', ' and ', '\n', ', ', ' or ', '; ']);
  }
  return out;
}
const fuzzed = Array.from({ length: fuzzCount }, fuzzText);
section('fuzz default', fuzzed, each(base), true);
// Other phone regions: the prefilters must hold for any region set, not only the default one.
const regionSets: string[][] = [['CH', 'AT', 'BE', 'SE', 'NO', 'DK', 'FI', 'IE', 'PT', 'CZ'], ['CN', 'RU', 'MX', 'AR', 'ZA', 'NG', 'KR', 'TR', 'ID', 'PH', 'VN', 'EG'], phoneCountries()];
for (const regions of regionSets) {
  const scanner = createScanner({ phoneRegions: regions });
  const texts = fuzzed.slice(0, regions.length > 100 ? 40_000 : 100_000);
  section(`fuzz regions ${regions.length > 100 ? 'all' : regions.join(',')}`, texts, each(scanner), true);
}
section('fuzz scanEach', fuzzed.slice(0, 100_000), together(base));

const save = opt('--save');
const check = opt('--check');
if (save !== undefined) writeFileSync(save, JSON.stringify({ sections, perText }));
if (check !== undefined) {
  const before = JSON.parse(readFileSync(check, 'utf8')) as { sections: typeof sections; perText: typeof perText };
  let differ = 0;
  for (const [name, now] of Object.entries(sections)) {
    const was = before.sections[name];
    if (was?.hash === now.hash) continue;
    differ++;
    console.log(`DIFFERS ${name}: ${was?.hash} (${was?.findings}) → ${now.hash} (${now.findings})`);
    const a = before.perText[name];
    const b = perText[name];
    if (a === undefined || b === undefined) continue;
    const texts = name === 'fixtures' ? fixtures : fuzzed;
    let shown = 0;
    for (let i = 0; i < b.length && shown < 8; i++) {
      if (a[i] === b[i]) continue;
      shown++;
      console.log(`  ${JSON.stringify(texts[i])}\n    before ${a[i]}\n    after  ${b[i]}`);
    }
  }
  console.log(differ === 0 ? `equal: ${Object.keys(sections).length} sections` : `${differ} sections differ`);
  process.exitCode = differ === 0 ? 0 : 1;
}
