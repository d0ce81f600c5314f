// Recall and false positives of the detector on labelled examples, by group: benign tool
// output, hard negatives (legitimate instructions and writing about injections), injections by
// language, by disguise, and deepset's held-out split.
import { detectInjection } from '../../src/domain/injection/index.js';

export interface Labelled {
  text: string;
  label: 0 | 1;
  lang: string;
  source: string;
  disguise?: string;
}

/** Benign sources that are tool output as an agent gets it. */
export const TOOL_OUTPUT = new Set(['code', 'json-file', 'bipia-email', 'bipia-table', 'bipia-code', 'gettext', 'tool-answer']);
/** Benign sources that give instructions, or write about injections: the hard negatives. */
export const HARD = new Set(['readme', 'manpage', 'hard-negative', 'article', 'lookalike', 'handwritten', 'written']);

export interface Rate {
  n: number;
  hits: number;
  rate: number;
}
const rate = (hits: number, n: number): Rate => ({ n, hits, rate: n === 0 ? Number.NaN : hits / n });

export interface Report {
  toolOutputFp: Rate;
  hardFp: Rate;
  hardFpByLang: Record<string, Rate>;
  /** Hard negatives by source: READMEs and manual pages, hand-written ones, articles quoting attacks… */
  hardFpBySource: Record<string, Rate>;
  recall: Rate;
  recallByLang: Record<string, Rate>;
  recallByDisguise: Record<string, Rate>;
  /** The hand-written attacks in realistic tool output (scripts/injection/written), its held-out fifth. */
  written: Rate;
  writtenByLang: Record<string, Rate>;
  deepset: { recall: Rate; fp: Rate };
  /** BIPIA's attacks (held out: its test file's categories), in e-mails, tables and code. */
  bipia: Rate;
  misses: string[];
  falsePositives: string[];
}

export function evaluate(examples: readonly Labelled[], flagged: (text: string) => boolean = (t) => detectInjection(t).flagged): Report {
  const count = new Map<string, [number, number]>();
  const add = (k: string, hit: boolean) => {
    const c = count.get(k) ?? [0, 0];
    c[0]++;
    if (hit) c[1]++;
    count.set(k, c);
  };
  const misses: string[] = [];
  const fps: string[] = [];
  for (const e of examples) {
    // a hand-written attack's injected part placed in another carrier: counted once, as written
    if (e.source === 'written-placed') continue;
    const f = flagged(e.text);
    if (e.source === 'deepset') add(e.label === 1 ? 'deepset:1' : 'deepset:0', f);
    else if (e.source === 'bipia-attack') add('bipia', f);
    else if (e.label === 1) {
      if (e.disguise) add(`disguise:${e.disguise}`, f);
      else if (e.source === 'written') {
        add('written', f);
        add(`written:${e.lang}`, f);
      } else {
        add('recall', f);
        add(`recall:${e.lang}`, f);
      }
      if (!f && misses.length < 40) misses.push(`[${e.lang}/${e.disguise ?? e.source}] ${e.text.slice(0, 300)}`);
    } else {
      if (TOOL_OUTPUT.has(e.source)) add('tool', f);
      else if (HARD.has(e.source)) {
        add('hard', f);
        add(`hard:${e.lang}`, f);
        add(`hardsrc:${e.source}`, f);
      }
      if (f && fps.length < 40) fps.push(`[${e.lang}/${e.source}] ${e.text.slice(0, 300)}`);
    }
  }
  const get = (k: string) => {
    const c = count.get(k) ?? [0, 0];
    return rate(c[1], c[0]);
  };
  const by = (prefix: string) => {
    const o: Record<string, Rate> = {};
    for (const k of [...count.keys()].sort()) if (k.startsWith(prefix)) o[k.slice(prefix.length)] = get(k);
    return o;
  };
  return {
    toolOutputFp: get('tool'),
    hardFp: get('hard'),
    hardFpByLang: by('hard:'),
    hardFpBySource: by('hardsrc:'),
    recall: get('recall'),
    recallByLang: by('recall:'),
    recallByDisguise: by('disguise:'),
    written: get('written'),
    writtenByLang: by('written:'),
    deepset: { recall: get('deepset:1'), fp: get('deepset:0') },
    bipia: get('bipia'),
    misses,
    falsePositives: fps,
  };
}

const pct = (r: Rate) => (Number.isNaN(r.rate) ? '–' : `${(r.rate * 100).toFixed(2)} % (${r.hits}/${r.n})`);

/** The report as markdown rows. */
export function markdown(r: Report): string {
  const rows = [
    '| set | measure | value |',
    '|---|---|---|',
    `| benign tool output | false positives | ${pct(r.toolOutputFp)} |`,
    `| hard negatives (all) | false positives | ${pct(r.hardFp)} |`,
    ...Object.entries(r.hardFpByLang).map(([k, v]) => `| hard negatives ${k} | false positives | ${pct(v)} |`),
    ...Object.entries(r.hardFpBySource).map(([k, v]) => `| hard negatives, ${k} | false positives | ${pct(v)} |`),
    `| injections (all) | recall | ${pct(r.recall)} |`,
    ...Object.entries(r.recallByLang).map(([k, v]) => `| injections ${k} | recall | ${pct(v)} |`),
    ...Object.entries(r.recallByDisguise).map(([k, v]) => `| disguise ${k} | recall | ${pct(v)} |`),
    `| hand-written attacks in tool output | recall | ${pct(r.written)} |`,
    ...Object.entries(r.writtenByLang).map(([k, v]) => `| hand-written attacks ${k} | recall | ${pct(v)} |`),
    `| BIPIA attacks (test categories) | recall | ${pct(r.bipia)} |`,
    `| deepset test (direct, en/de) | recall | ${pct(r.deepset.recall)} |`,
    `| deepset test (direct, en/de) | false positives | ${pct(r.deepset.fp)} |`,
  ];
  return rows.join('\n');
}
