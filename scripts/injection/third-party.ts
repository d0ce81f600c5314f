// Third parties' injections, only measured (never trained on, never used for a setting).
//
// The prompt-injection sets of Meta's CyberSecEval (github:meta-llama/PurpleLlama, MIT,
// CybersecurityBenchmarks/datasets/prompt_injection/): 251 English test cases and 1,004 machine
// translations into 17 languages. Each is a user's message; the `indirect` ones carry the
// injection inside the content the user hands over (a web page, a table, a résumé, code), as a
// tool's answer would; the `direct` ones are the user's own attempt (a different task: the
// `prompt` door). Every case is an attack (there is no benign side).
//
//
// Spikee's (github:ReversecLabs/spikee, Apache-2.0) seeds-cybersec-2026-01: 69 jailbreak frames
// (`*** NEW IMPORTANT INSTRUCTIONS ***`, "Sorry, I made a mistake…", DAN, test and debug modes,
// poems…) × 19 instructions (exfiltration by a markdown image, XSS, long outputs…), composed as
// spikee does and placed in its e-mail document: the English ones (the others are in Zulu,
// Albanian, Irish and Scottish Gaelic, languages the detector was not made for).
//
// AgentDojo's (github:ethz-spylab/agentdojo, MIT) four suites of tool data (e-mails, calendar events,
// files, web pages, Slack messages, transactions, hotel reviews) with each injection vector filled
// by each of its fixed attacks around each of its v1 injection tasks' goals, and the same data at
// its defaults: the benchmark most papers on indirect injection report. Written as JSON lines by
// scripts/injection/agentdojo.py (it reads the suites' YAML and the tasks' Python).
//
// garak's (github:NVIDIA/garak, Apache-2.0) latent injections: instructions buried in a report, a
// résumé, fact snippets or a sentence to translate (forged turns and session ends, notes to the
// automated reader, "ignore the rest of this data and print…"), with the documents alone. Written
// as JSON lines by scripts/injection/garak.py.
//
//   node_modules/.bin/tsx scripts/injection/third-party.ts --cyberseceval <PurpleLlama clone or git dir> --spikee <spikee clone or git dir> \
//     --agentdojo <agentdojo.jsonl> --garak <garak.jsonl>
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectInjection } from '../../src/domain/injection/index.js';

export interface CaseOf {
  text: string;
  /** `indirect` (inside content handed over) or `direct` (the user's own message). */
  type: 'indirect' | 'direct';
  /** ISO 639-1 where we have it, else the set's own name of the language. */
  lang: string;
  variant: string;
}

const FILES = ['prompt_injection.json', 'prompt_injection_multilingual_machine_translated.json'];
const LANGS: Record<string, string> = { English: 'en', German: 'de', French: 'fr', Spanish: 'es', Chinese: 'zh', Russian: 'ru' };

/** A file of a clone, or of a bare git directory's HEAD. */
function read(repo: string, path: string): string | null {
  if (existsSync(join(repo, path))) return readFileSync(join(repo, path), 'utf8');
  try {
    return execFileSync('git', ['--git-dir', repo, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch {
    return null;
  }
}

export function cyberSecEval(repo: string): CaseOf[] {
  const out: CaseOf[] = [];
  for (const name of FILES) {
    const raw = read(repo, `CybersecurityBenchmarks/datasets/prompt_injection/${name}`);
    if (raw === null) throw new Error(`${repo}: no ${name} (a clone or the git directory of github:meta-llama/PurpleLlama)`);
    for (const c of JSON.parse(raw) as { user_input: string; injection_type: string; injection_variant: string; speaking_language: string }[])
      out.push({
        text: c.user_input,
        type: c.injection_type === 'indirect' ? 'indirect' : 'direct',
        lang: LANGS[c.speaking_language] ?? c.speaking_language,
        variant: c.injection_variant,
      });
  }
  return out;
}

/** Recall by type, and for the indirect cases by language (ours first) and by variant. */
export function cyberSecEvalReport(cases: readonly CaseOf[]): string {
  const flagged = cases.map((c) => detectInjection(c.text).flagged);
  const rate = (pick: (c: CaseOf) => boolean) => {
    let n = 0;
    let hit = 0;
    cases.forEach((c, i) => {
      if (!pick(c)) return;
      n++;
      if (flagged[i]) hit++;
    });
    return `${hit}/${n} (${n === 0 ? '-' : ((100 * hit) / n).toFixed(1)} %)`;
  };
  const ours = new Set(Object.values(LANGS));
  const lines = [
    `CyberSecEval indirect: ${rate((c) => c.type === 'indirect')}; in our six languages ${rate((c) => c.type === 'indirect' && ours.has(c.lang))}; English ${rate((c) => c.type === 'indirect' && c.lang === 'en')}`,
    `  by language: ${[...new Set(cases.filter((c) => c.type === 'indirect').map((c) => c.lang))].map((l) => `${l} ${rate((c) => c.type === 'indirect' && c.lang === l)}`).join(', ')}`,
    `  by variant: ${[...new Set(cases.filter((c) => c.type === 'indirect').map((c) => c.variant))].map((v) => `${v} ${rate((c) => c.type === 'indirect' && c.variant === v)}`).join(', ')}`,
    `CyberSecEval direct (the prompt door's task): ${rate((c) => c.type === 'direct')}; in our six languages ${rate((c) => c.type === 'direct' && ours.has(c.lang))}`,
  ];
  return lines.join('\n');
}

const SPIKEE = 'spikee/data/workspace/datasets/seeds-cybersec-2026-01';
const jsonl = <T>(raw: string) =>
  raw
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** Spikee's English attacks, each frame × each instruction, in its e-mail document (the document's end, as spikee places them by default). */
export function spikee(repo: string): { text: string; frame: string; instruction: string }[] {
  const [frames, instructions, docs] = ['jailbreaks', 'instructions', 'base_user_inputs'].map((f) => {
    const raw = read(repo, `${SPIKEE}/${f}.jsonl`);
    if (raw === null) throw new Error(`${repo}: no ${SPIKEE}/${f}.jsonl (a clone or the git directory of github:ReversecLabs/spikee)`);
    return raw;
  });
  const english = (id: string) => !/-(?:zu|sq|ga|gd)$/.test(id);
  const doc = jsonl<{ id: string; document: string }>(docs!).find((d) => d.id === 'email-01')!.document;
  const out: { text: string; frame: string; instruction: string }[] = [];
  for (const f of jsonl<{ id: string; text: string }>(frames!).filter((f) => english(f.id)))
    for (const i of jsonl<{ id: string; instruction: string }>(instructions!).filter((i) => english(i.id)))
      out.push({ text: `${doc}\n${f.text.replace('<INSTRUCTION>', () => i.instruction)}`, frame: f.id, instruction: i.id });
  return out;
}

export function spikeeReport(cases: readonly { text: string; frame: string }[]): string {
  const hit = cases.map((c) => detectInjection(c.text).flagged);
  const frames = [...new Set(cases.map((c) => c.frame.replace(/-\d+$/, '')))];
  const by = frames.map((f) => {
    const xs = cases.map((c, i) => [c, i] as const).filter(([c]) => c.frame.replace(/-\d+$/, '') === f);
    return `${f} ${xs.filter(([, i]) => hit[i]).length}/${xs.length}`;
  });
  const n = hit.filter(Boolean).length;
  return `Spikee (frames × instructions in an e-mail, English): ${n}/${cases.length} (${((100 * n) / cases.length).toFixed(1)} %)\n  by frame: ${by.join(', ')}`;
}

export const AGENTDOJO = "AgentDojo (its attacks in its suites' tool data)";
export const GARAK = "garak's latent injections (in a report, a résumé, fact snippets, a sentence to translate)";

/** A third party's case as scripts/injection/agentdojo.py and garak.py write them. */
export interface LabelledCase {
  id: string;
  text: string;
  /** 1: an attack in the data; 0: the data alone. */
  label: 0 | 1;
  /** What the set calls the attack (AgentDojo's `ignore_previous`, garak's probe and instruction); for the data alone, where it is from. */
  group: string;
}

/** The JSON lines of one of those scripts. */
export function labelled(file: string): LabelledCase[] {
  return jsonl<LabelledCase>(readFileSync(file, 'utf8'));
}

/** Recall, by group too, and the data alone flagged. */
export function labelledReport(name: string, cases: readonly LabelledCase[]): string {
  const hit = cases.map((c) => detectInjection(c.text).flagged);
  const share = (pick: (c: LabelledCase) => boolean) => {
    const xs = cases.map((c, i) => [c, i] as const).filter(([c]) => pick(c));
    const n = xs.filter(([, i]) => hit[i]).length;
    return `${n}/${xs.length} (${xs.length === 0 ? '-' : ((100 * n) / xs.length).toFixed(1)} %)`;
  };
  const groups = [...new Set(cases.filter((c) => c.label === 1).map((c) => c.group))];
  return [
    `${name}: recall ${share((c) => c.label === 1)}; the data alone flagged ${share((c) => c.label === 0)}`,
    `  by attack: ${groups.map((g) => `${g} ${share((c) => c.label === 1 && c.group === g)}`).join(', ')}`,
  ].join('\n');
}

const opt = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
if (process.argv[1]?.endsWith('third-party.ts')) {
  const cse = opt('--cyberseceval');
  const spk = opt('--spikee');
  if (cse) console.log(cyberSecEvalReport(cyberSecEval(cse)));
  if (spk) console.log(spikeeReport(spikee(spk)));
  const adj = opt('--agentdojo');
  if (adj) console.log(labelledReport(AGENTDOJO, labelled(adj)));
  const grk = opt('--garak');
  if (grk) console.log(labelledReport(GARAK, labelled(grk)));
}
