// The labelled data the classifier is trained, tuned and measured on, built deterministically.
//
//   benign   (sources.ts) READMEs and docs of the installed npm packages (their own licences, mostly MIT),
//            the e-mails, tables and code of Microsoft's BIPIA benchmark
//            (MIT; tables from WikiTableQuestions, CC BY-SA 4.0), the translated messages of the
//            system's gettext catalogues (de, fr, es, ru, zh_CN: UI text full of imperatives),
//            synthetic tool answers (JSON records, search results, calendar entries), and the
//            hand-written hard negatives of phrases.ts (recipes, colleagues' e-mails, READMEs,
//            articles that quote attacks) in six languages, and the legitimate twins of the
//            hand-written set (scripts/injection/written)
//   inject   phrases.ts's frames × addressees × overrides × actions and kinds.ts's kinds in six
//            languages, placed in benign carriers; the hand-written attacks in tool output
//            (scripts/injection/written); the injections of deepset/prompt-injections (Apache-2.0,
//            en/de, read from the parquet files of github:sinanw/llm-security-prompt-injection)
//
// Splits: an injection whose frame or action is among the last quarter of its list is held
// out (test), as is a benign template from the last quarter, and a fifth of the files of each
// external source (by a hash of the file name); of the rest 15 % is validation (threshold and
// bonuses are tuned there), 85 % training. deepset's own test split is held out as well.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { KIND_BANKS, kindBenign, kindInjection, partItem } from './kinds.js';
import { bipia, code, type Doc, gettext, git, localDocs, readmes } from './sources.js';
import { BANKS, LANGS, type Lang } from './phrases.js';
import { mulberry32 } from '../../src/core/random.js';

export type Split = 'train' | 'val' | 'test';
export interface Example {
  text: string;
  label: 0 | 1;
  lang: Lang | 'mixed';
  /** Where the example comes from: `readme`, `bipia-email`, `gettext`, `hard-negative`, `article`, `synthetic`, `deepset`, … */
  source: string;
  split: Split;
  /** For an injection placed in a carrier: where the injection is. */
  span?: [number, number];
  /** For a disguised injection: which disguise. */
  disguise?: string;
  /** For BIPIA's attacks: their category. */
  category?: string;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const hashUnit = (s: string) => createHash('sha1').update(s).digest().readUInt32BE(0) / 4294967296;
/** A synthetic text's split by its furthest part (kinds.ts: partItem): trained on, calibrating, held out. */
const SPLITS: readonly Split[] = ['train', 'val', 'test'];

function fileSplit(key: string): Split {
  const u = hashUnit(key);
  return u < 0.2 ? 'test' : u < 0.32 ? 'val' : 'train';
}

// ---------- fill-ins ----------
const EMAILS = ['attacker@evil-mail.test', 'billing-update@paypa1-secure.test', 'j.doe.backup@protonmail.test', 'it-helpdesk@corp-support.test', 'exfil@drop.test'];
const URLS = ['https://evil.test/collect', 'http://198.51.100.7/upload', 'https://pastebin.test/raw/x9', 'https://c2.attacker.test/s', 'https://webhook.site.test/4f2a'];
const AMOUNTS = ['$4,900', '2.500 EUR', '€15,000', '3000 USD', '¥50,000', '95 000 ₽'];
const ACCOUNTS = ['DE44 5001 0517 5407 3249 31', 'GB29 NWBK 6016 1331 9268 19', '4432-8891-0012', 'FR14 2004 1010 0505 0001 3M02 606', '40817810099910004312'];
function fill(s: string, r: () => number): string {
  return s
    .replace(/\{email\}/g, () => pick(r, EMAILS))
    .replace(/\{url\}/g, () => pick(r, URLS))
    .replace(/\{amount\}/g, () => pick(r, AMOUNTS))
    .replace(/\{account\}/g, () => pick(r, ACCOUNTS));
}
const cap = (s: string) => (s.length > 0 ? s[0]!.toUpperCase() + s.slice(1) : s);

/** The synthetic injections' number, as a share of the 27,000 the phrase banks and kinds gave before the hand-written set. */
const SYNTHETIC_SHARE = Number(process.env.SYNTHETIC_SHARE ?? 1);
/** How many copies of each hand-written training text, with words left out (dropWords), are trained on besides it. */
const WRITTEN_DROPS = Number(process.env.WRITTEN_DROPS ?? 0);
/** The share of words a copy leaves out. */
const DROP_SHARE = Number(process.env.DROP_SHARE ?? 0.2);
/** The text with each word (each ideograph) left out at DROP_SHARE, the spaces between kept. */
function dropWords(text: string, r: () => number): string {
  const parts = text.match(/[\u3400-\u9fff]|[^\s\u3400-\u9fff]+|\s+/g) ?? [];
  return parts
    .filter((w) => /^\s/.test(w) || r() >= DROP_SHARE)
    .join('')
    .replace(/[ \t]{2,}/g, ' ');
}

/** In how many other carriers each hand-written attack's injected part is placed besides its own. */
const WRITTEN_PLACES = Number(process.env.WRITTEN_PLACES ?? 1);

/** The share of injections built by kind (kinds.ts) rather than from phrases.ts's frames. */
const KIND_SHARE = Number(process.env.KIND_SHARE ?? 0.5);

/** One injection of `lang`, and where it goes (partItem: 2 held out, 1 calibration, 0 training). */
export function injection(lang: Lang, r: () => number): { text: string; part: number } {
  if (r() < KIND_SHARE) {
    const k = kindInjection(lang, r);
    return { text: cased(fill(k.text, r).replace(/\s+/g, ' ').trim(), r), part: k.part };
  }
  const b = BANKS[lang];
  const fi = Math.floor(r() * b.frames.length);
  const ai = Math.floor(r() * b.action.length);
  const oi = Math.floor(r() * b.override.length);
  const di = Math.floor(r() * b.addressee.length);
  const part = Math.max(partItem(fi, b.frames.length), partItem(ai, b.action.length), partItem(oi, b.override.length), partItem(di, b.addressee.length));
  const t = b.frames[fi]!.replace('{addr}', b.addressee[di]!).replace('{override}', b.override[oi]!).replace('{action}', b.action[ai]!).replace('{stealth}', pick(r, b.stealth));
  return { text: cased(fill(t, r).replace(/\s+/g, ' ').trim(), r), part };
}

/** Sentences start upper-case; now and then all of the text is (shouting), or none of it. */
function cased(text: string, r: () => number): string {
  let t = text.replace(/(^|[.!?:]\s+)(\p{Ll})/gu, (_m, a: string, c: string) => a + c.toUpperCase());
  const u = r();
  if (u < 0.05) t = t.toUpperCase();
  else if (u < 0.1) t = t.toLowerCase();
  return cap(t);
}

// ---------- synthetic tool answers ----------
const NAMES = ['Ana Souza', 'Jonas Becker', 'Claire Martin', 'Diego López', '王芳', 'Иван Петров', 'Priya Nair', 'Tom Walsh'];
const CITIES = ['Berlin', 'Lyon', 'Sevilla', '上海', 'Москва', 'Austin', 'Toronto', 'Osaka'];
const LANG_NOTES: Record<Lang, string[]> = {
  en: [
    'Customer asked to be called back after 3 pm.',
    'Please bring the signed form to the meeting.',
    'Shipment delayed due to weather; new ETA Monday.',
    'Remember to update the status once the ticket is closed.',
  ],
  de: [
    'Kunde bittet um Rückruf nach 15 Uhr.',
    'Bitte das unterschriebene Formular zum Termin mitbringen.',
    'Lieferung wegen Wetter verspätet; neuer Termin Montag.',
    'Status bitte aktualisieren, sobald das Ticket geschlossen ist.',
  ],
  fr: [
    'Le client demande à être rappelé après 15 h.',
    'Merci d’apporter le formulaire signé à la réunion.',
    'Livraison retardée à cause de la météo ; nouvelle date lundi.',
    'Pensez à mettre à jour le statut une fois le ticket fermé.',
  ],
  es: [
    'El cliente pidió que lo llamen después de las 15 h.',
    'Por favor traiga el formulario firmado a la reunión.',
    'Envío retrasado por el clima; nueva fecha el lunes.',
    'Recuerda actualizar el estado cuando se cierre el ticket.',
  ],
  zh: ['客户希望下午三点以后回电。', '请把签好的表格带到会议上。', '因天气原因发货延迟，预计周一到达。', '工单关闭后请记得更新状态。'],
  ru: [
    'Клиент просил перезвонить после 15:00.',
    'Пожалуйста, принесите подписанную форму на встречу.',
    'Доставка задерживается из-за погоды; новая дата — понедельник.',
    'Не забудьте обновить статус после закрытия заявки.',
  ],
};

function toolAnswer(r: () => number, note: string): string {
  const kind = Math.floor(r() * 5);
  const name = pick(r, NAMES);
  if (kind === 0)
    return JSON.stringify({ id: Math.floor(r() * 1e6), name, city: pick(r, CITIES), email: `${name.split(' ')[0]!.toLowerCase()}@example.com`, notes: note, updated_at: '2025-03-14T09:26:53Z' });
  if (kind === 1)
    return JSON.stringify({
      results: [
        { title: `${pick(r, CITIES)} — travel guide`, url: 'https://example.org/guide', snippet: note },
        { title: 'Weather forecast', url: 'https://weather.example/api', snippet: `${Math.floor(r() * 30)}°C, wind ${Math.floor(r() * 40)} km/h` },
      ],
    });
  if (kind === 2) return `From: ${name} <${name.split(' ')[0]!.toLowerCase()}@example.com>\nSubject: ${note.slice(0, 30)}\nDate: Tue, 4 Mar 2025 10:12:00 +0100\n\n${note}\n\n-- \n${name}`;
  if (kind === 3) return JSON.stringify({ event: { summary: note.slice(0, 40), start: '2025-04-02T14:00:00', location: pick(r, CITIES), description: note, attendees: [name] } });
  return `<html><body><h1>${pick(r, CITIES)}</h1><p>${note}</p><footer>© 2025 Example Ltd · <a href="/privacy">Privacy</a></footer></body></html>`;
}

/** Puts `inj` into `carrier` at a paragraph or sentence boundary, or in one of its JSON strings. */
export function place(carrier: string, inj: string, r: () => number): { text: string; span: [number, number] } {
  const trimmed = carrier.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    // inside a JSON string value
    const m = [...carrier.matchAll(/":\s*"((?:[^"\\]|\\.){0,400})"/g)];
    if (m.length > 0) {
      const x = pick(r, m);
      const at = x.index! + x[0].length - 1;
      const enc = JSON.stringify(` ${inj}`).slice(1, -1);
      return { text: carrier.slice(0, at) + enc + carrier.slice(at), span: [at, at + enc.length] };
    }
  }
  const cuts = [0, carrier.length];
  for (const m of carrier.matchAll(/(?:[.!?。！？]\s+|\n\n)/g)) cuts.push(m.index! + m[0].length);
  const at = pick(r, cuts);
  const sep = at === 0 ? '' : ' ';
  const text = `${carrier.slice(0, at)}${sep}${inj} ${carrier.slice(at)}`;
  return { text, span: [at + sep.length, at + sep.length + inj.length] };
}

// ---------- BIPIA's attacks ----------
/**
 * The attack instructions of github:microsoft/BIPIA (`benchmark/{text,code}_attack_{train,test}.json`,
 * MIT): its train file's attacks are trained on, its test file's (other categories) held out,
 * each placed in a carrier of the matching split.
 */
function bipiaAttacks(dir: string | undefined, carriers: Record<Split, string[]>, r: () => number): Example[] {
  if (!dir) return [];
  const out: Example[] = [];
  for (const kind of ['text', 'code']) {
    for (const part of ['train', 'test'] as const) {
      const rel = `benchmark/${kind}_attack_${part}.json`;
      const body = existsSync(join(dir, 'benchmark')) ? readFileSync(join(dir, rel), 'utf8') : git(dir, rel);
      if (!body) continue;
      const byCategory = JSON.parse(body) as Record<string, string[]>;
      for (const [category, attacks] of Object.entries(byCategory)) {
        for (const a of attacks) {
          const split: Split = part === 'test' ? 'test' : hashUnit(`bipia:${a}`) < 0.15 ? 'val' : 'train';
          const pool = carriers[split];
          const p = pool.length > 0 && r() < 0.8 ? place(pick(r, pool), a, r) : { text: a, span: [0, a.length] as [number, number] };
          out.push({ text: p.text, label: 1, lang: 'en', source: `bipia-attack`, split, span: p.span, category });
        }
      }
    }
  }
  return out;
}

// ---------- deepset/prompt-injections ----------
/** The parquet files of github:sinanw/llm-security-prompt-injection read as JSONL by `scripts/injection/deepset.py`. */
function deepset(dir: string | undefined): Example[] {
  if (!dir) return [];
  const out: Example[] = [];
  for (const [part, split] of [
    ['train', 'train'],
    ['test', 'test'],
  ] as const) {
    const p = join(dir, `deepset-${part}.jsonl`);
    if (!existsSync(p)) continue;
    for (const line of readFileSync(p, 'utf8').split('\n').filter(Boolean)) {
      const o = JSON.parse(line) as { text: string; label: number };
      const s: Split = split === 'train' ? (hashUnit(o.text) < 0.15 ? 'val' : 'train') : 'test';
      out.push({ text: o.text, label: o.label === 1 ? 1 : 0, lang: 'mixed', source: 'deepset', split: s });
    }
  }
  return out;
}

/**
 * The hand-written training set (scripts/injection/written/*.jsonl): realistic tool output in six
 * languages, attacks with the injected part named (`inj`) and legitimate texts of the same kinds
 * (requests, steps, notices, AI products' docs, articles quoting attacks), written for this
 * repository by several authors, each with a brief for variety (who is addressed, the frame, the
 * goal, the carrier, where it sits). Split by a hash of each record's id.
 */
interface Written {
  id: string;
  label: 0 | 1;
  lang: Lang;
  text: string;
  inj?: string;
}
/**
 * Reads of earlier days trained on since 2026-11-29 (late evening), beside written/'s rounds (they chose rules
 * then, and are texts of the same shape: `{id, label, lang, text, inj}`): the ninth read, the tenth
 * round and the second read of the roles; since that night the fifth read too (606 legitimate texts a
 * coding agent reads: docs, notebooks, agents' logs; a retrain without it flagged 58 of them, ReAct
 * traces among them). Their figures in test/injection/hand-written.test.ts are now a training set's
 * (each still has a fifth held out by the split, as written/'s texts do).
 */
export const TRAINED_FIXTURES = ['ninth-read.jsonl.gz', 'tenth-round.jsonl.gz', 'called-by-role.jsonl.gz', 'agent-reads-benign.jsonl.gz'];
/**
 * A written text's split (a fixture's ids are its own: `scope` names its file). An attack and the
 * legitimate text that shares its number (`de5-a-007`, `de5-b-007`; `en-a-att-3`, `en-a-ben-3`) are held
 * out together: in most rounds that is its twin. Not in all: some rounds numbered twins apart (ru-8,
 * zh-7, the ninth read), so a near-copy can still straddle the split (a second read, 2026-11-29 at
 * night: 51 held-out attacks with a legitimate text of 4-gram Jaccard ≥ 0.4 trained on or in
 * validation, 282 before; grouping by content is the fix, with the next retrain). Validation still
 * draws text by text, twins apart: a legitimate text whose attack twin was trained on is as hard as a
 * fresh author's, and the offset is set on it (with twins drawn together validation's written texts
 * were 3.9 % flagged at an offset where fresh authors' were 5.7 %: tried that night, not kept). The
 * two draws are one hash for an id with no twin part (the fifth read's `react-log-1`): such a text is
 * held out or trained on, never validation (to salt the second draw, with the next retrain).
 */
function writtenSplit(scope: string, id: string): Split {
  if (hashUnit(scope + id.replace(/-(?:att|ben|a|b)-(?=\d+$)/, '-')) < 0.2) return 'test';
  return hashUnit(scope + id) < 0.15 ? 'val' : 'train';
}
function written(root: string): Example[] {
  const dir = join(root, 'scripts/injection/written');
  if (!existsSync(dir)) return [];
  const out: Example[] = [];
  const files: [string, string][] = readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
  for (const f of TRAINED_FIXTURES) {
    const at = join(root, 'test/fixtures/injection', f);
    if (existsSync(at)) files.push([f, gunzipSync(readFileSync(at)).toString('utf8')]);
  }
  for (const [f, body] of files) {
    for (const line of body.split('\n')) {
      if (line.trim() === '') continue;
      const w = JSON.parse(line) as Written;
      if (!LANGS.includes(w.lang)) {
        // a fixture's text in a language the model is not trained on (the fifth read's Thai, Hindi…) is left out
        if (f.endsWith('.gz')) continue;
        throw new Error(`${f}: ${w.id}: unknown language ${w.lang}`);
      }
      const split = writtenSplit(`written:${f.endsWith('.gz') ? `${f}:` : ''}`, w.id);
      if (w.label === 0) {
        out.push({ text: w.text, label: 0, lang: w.lang, source: 'written', split });
        continue;
      }
      const at = w.inj === undefined ? -1 : w.text.indexOf(w.inj);
      if (at < 0) throw new Error(`${f}: ${w.id}: its inj is not in its text`);
      out.push({ text: w.text, label: 1, lang: w.lang, source: 'written', split, span: [at, at + w.inj!.length] });
    }
  }
  return out;
}

export interface CorpusOptions {
  root: string;
  bipia?: string;
  deepset?: string;
  seed?: number;
}

/** Every example, benign and injected, with its split. */
export function buildCorpus(o: CorpusOptions): Example[] {
  const r = mulberry32(o.seed ?? 60);
  const out: Example[] = [];
  const docs: Doc[] = [...readmes(o.root), ...code(o.root), ...bipia(o.bipia), ...gettext(r), ...localDocs()];
  for (const d of docs) out.push({ text: d.text, label: 0, lang: d.lang, source: d.source, split: fileSplit(`${d.source}:${d.key}`) });
  const hand = written(o.root);
  for (const e of hand) {
    out.push(e);
    // the legitimate ones also as a tool answer's field, the attacks' injected part also in another carrier (below)
    if (e.label === 0) out.push({ ...e, text: toolAnswer(r, e.text) });
    // and, for training only, copies with words left out (of the injected part, for an attack): a
    // few hundred texts are learnt by heart otherwise, each by the words only it has
    if (e.split === 'train')
      for (let k = 0; k < WRITTEN_DROPS; k++) {
        if (e.label === 0) {
          out.push({ ...e, text: dropWords(e.text, r) });
          continue;
        }
        const [a, b] = e.span!;
        const inj = dropWords(e.text.slice(a, b), r);
        out.push({ ...e, text: e.text.slice(0, a) + inj + e.text.slice(b), span: [a, a + inj.length], source: 'written-placed' });
      }
  }

  // hand-written hard negatives and articles quoting attacks, each many times in carriers
  for (const lang of LANGS) {
    const b = BANKS[lang];
    b.benign.forEach((t, i) => {
      const split = SPLITS[partItem(i, b.benign.length)]!;
      out.push({ text: t, label: 0, lang, source: 'hard-negative', split });
      for (let k = 0; k < 6; k++) out.push({ text: toolAnswer(r, t), label: 0, lang, source: 'hard-negative', split });
    });
    // the same vocabulary as the injections built by kind, where it is legitimate
    const kb = KIND_BANKS[lang].benign;
    kb.forEach((t0, i) => {
      const t = fill(t0, r).replace(/\{name\}/g, () => pick(r, NAMES).split(' ')[0]!);
      const split = SPLITS[partItem(i, kb.length)]!;
      out.push({ text: t, label: 0, lang, source: 'hard-negative', split });
      for (let k = 0; k < 6; k++) out.push({ text: toolAnswer(r, t), label: 0, lang, source: 'hard-negative', split });
    });
    // and composed by kind: requests between people, steps for a reader, docs of AI products, notices
    for (let k = 0; k < 250; k++) {
      const g = kindBenign(lang, r);
      const t = fill(g.text, r).replace(/\{name\}/g, () => pick(r, NAMES).split(' ')[0]!);
      const split = SPLITS[g.part]!;
      out.push({ text: r() < 0.4 ? t : toolAnswer(r, t), label: 0, lang, source: 'hard-negative', split });
    }
    b.article.forEach((t, i) => {
      for (let k = 0; k < 24; k++) {
        const inj = injection(lang, r);
        const quote = inj.text.split(/(?<=[.!?。！？])\s*/)[0]!.replace(/[.。]$/, '');
        const split = SPLITS[Math.max(partItem(i, b.article.length), inj.part)]!;
        out.push({ text: t.replace('{quote}', quote), label: 0, lang, source: 'article', split });
      }
    });
    for (let k = 0; k < 150; k++) {
      const note = pick(r, LANG_NOTES[lang]);
      out.push({ text: toolAnswer(r, note), label: 0, lang, source: 'tool-answer', split: pick(r, ['train', 'train', 'train', 'val', 'test']) as Split });
    }
  }

  // injections: alone, in a synthetic tool answer, or in a benign document of the same split
  const carriers: Record<Split, string[]> = { train: [], val: [], test: [] };
  for (const e of out) if (e.label === 0 && e.source !== 'article' && e.text.length < 4000) carriers[e.split].push(e.text);
  const per: Record<Lang, number> = { en: 7000, de: 4000, fr: 4000, es: 4000, zh: 4000, ru: 4000 };
  for (const l of LANGS) per[l] = Math.round(per[l] * SYNTHETIC_SHARE);
  const seen = new Set<string>();
  for (const lang of LANGS) {
    for (let k = 0; k < per[lang]; k++) {
      const inj = injection(lang, r);
      if (seen.has(inj.text)) continue;
      seen.add(inj.text);
      const split = SPLITS[inj.part]!;
      const u = r();
      if (u < 0.3) out.push({ text: inj.text, label: 1, lang, source: 'synthetic', split, span: [0, inj.text.length] });
      else if (u < 0.55) {
        const p = place(toolAnswer(r, pick(r, LANG_NOTES[lang])), inj.text, r);
        out.push({ text: p.text, label: 1, lang, source: 'synthetic', split, span: p.span });
      } else {
        const p = place(pick(r, carriers[split]), inj.text, r);
        out.push({ text: p.text, label: 1, lang, source: 'synthetic', split, span: p.span });
      }
    }
  }
  for (const e of hand)
    if (e.label === 1)
      for (let k = 0; k < WRITTEN_PLACES; k++) {
        const p = place(pick(r, carriers[e.split]), e.text.slice(e.span![0], e.span![1]), r);
        out.push({ ...e, text: p.text, span: p.span, source: 'written-placed' });
      }
  out.push(...bipiaAttacks(o.bipia, carriers, r));
  out.push(...deepset(o.deepset));
  return out.map((e) => realDomains(e, r));
}

/** Top-level domains an address is given in place of `.test`. */
const TLDS = ['.com', '.net', '.org', '.io', '.co', '.info', '.biz', '.xyz', '.de', '.fr', '.es', '.ru', '.cn', '.com.cn', '.co.uk', '.eu', '.app', '.dev', '.online', '.site'];
/**
 * The attackers' addresses are written with the reserved `.test` domain (and the legitimate
 * texts' mostly with real-looking ones): read as it is, `test` would be a word of attacks. Each
 * such domain is given a top-level domain drawn from common ones, spans moved to match.
 */
function realDomains(e: Example, r: () => number): Example {
  if (!e.text.includes('.test')) return e;
  const shift: [number, number][] = []; // [at, delta]
  // (an address: not a file's `.test.ts`, nor code's `re.test(s)`)
  const text = e.text.replace(/(?<=[a-z0-9-])\.test\b(?![.\w(])/gi, (m, at: number) => {
    const t = pick(r, TLDS);
    shift.push([at, t.length - m.length]);
    return t;
  });
  if (!e.span) return { ...e, text };
  const moved = (x: number) => x + shift.filter(([at]) => at < x).reduce((s, [, d]) => s + d, 0);
  return { ...e, text, span: [moved(e.span[0]), moved(e.span[1])] };
}
