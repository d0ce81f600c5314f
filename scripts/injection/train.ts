// Trains the injection classifier and writes src/domain/injection/weights.ts, then the
// held-out fixture test/fixtures/injection/heldout.jsonl.gz, and prints the figures.
//
//   node_modules/.bin/tsx scripts/injection/train.ts [--bipia <BIPIA git dir or clone>] [--deepset <dir>] [--cyberseceval <PurpleLlama git dir or clone>] [--spikee <spikee git dir or clone>] [--agentdojo <agentdojo.jsonl>] [--garak <garak.jsonl>]
//
// --bipia: a clone of github:microsoft/BIPIA (or its bare git directory); --deepset: a
// directory with deepset-train.jsonl and deepset-test.jsonl (scripts/injection/deepset.py
// makes them from github:sinanw/llm-security-prompt-injection's parquet files). Without
// them the corpus is smaller and the figures differ. Deterministic for the same inputs.
// --cyberseceval, --spikee, --agentdojo, --garak: third parties' injections (third-party.ts), only measured.
//
// Model: logistic regression on hashed words and word pairs (src/domain/injection/tokens.ts),
// one example per window of WINDOW words: every window of a benign text is a negative, the
// injection's own words (and them with a few words of their carrier around) a positive.
// AdaGrad, L2, a few epochs; one model per corpus pick (PICKS), their weights averaged; then
// int8 weights. The offset (the logit that scores 0.5) is set
// on the validation split above each language's hard negatives' HARD_QUANTILE and benign tool output's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MIN_SPAN, useWeights } from '../../src/domain/injection/classifier.js';
import { detectInjection } from '../../src/domain/injection/index.js';
import { BITS, BUCKETS, FEATS, featuresOf } from '../../src/domain/injection/tokens.js';
import { MODEL } from '../../src/domain/injection/weights.js';
import { mulberry32 } from '../../src/core/random.js';
import { buildCorpus, type Example } from './corpus.js';
import { PICKS, usePickSalt } from './sources.js';
import { benignLookalikes, DISGUISES, disguise } from './disguise.js';
import { evaluate, HARD, markdown, TOOL_OUTPUT } from './evaluate.js';
import { AGENTDOJO, cyberSecEval, cyberSecEvalReport, GARAK, labelled, labelledReport, spikee, spikeeReport } from './third-party.js';
import { handAuthors, handDev, handDev2, handInjections, handwritten } from './handwritten.js';

const WINDOW = 32;
const EPOCHS = Number(process.env.EPOCHS ?? 6);
const L2 = Number(process.env.L2 ?? 1e-5);
const LR = 0.3;
/** How much a synthetic legitimate text (a colleague's request, a manual's step, an AI product's docs, an article quoting an attack) weighs against a window of code or prose. */
const HARD_WEIGHT = Number(process.env.HARD_WEIGHT ?? 3);
const HARD_SOURCES = new Set(['hard-negative', 'article', 'written']);
/** How much a hand-written attack in tool output (scripts/injection/written) weighs against a synthetic one: they are few and varied. */
const WRITTEN_WEIGHT = Number(process.env.WRITTEN_WEIGHT ?? 1);
/**
 * The quantile of each language's hard negatives (validation) the offset is set above: the goal's
 * 3 % in each. 0.98 until 2026-11-29: since the earlier reads joined the training set, the hard
 * negatives of validation hold their twins written to be mistaken (a real bank change beside a fake
 * one, an article quoting the attack word for word), and their 98th percentile in English lay 1.2
 * logits above the 97th, where the held-out authors' twins were 1.2 % flagged at 66.8 % recall.
 */
const HARD_QUANTILE = Number(process.env.HARD_QUANTILE ?? 0.97);

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const root = process.cwd();
const t0 = Date.now();
/*
 * One model per corpus pick (sources.ts: PICKS, which of the installed packages' files and man
 * pages are read), their weights averaged (bagging): each model learns the hand-written and
 * synthetic texts with other benign files around them, and what one learnt by heart of its files
 * the others do not share. The first pick's corpus is the one validated and held out (a file's
 * split does not depend on the pick, so no model trained on another's validation or test file).
 * PICKS=b trains one model on the data the weights were trained on until 2026-11-28 (not to the
 * same weights: the order of its examples is drawn otherwise).
 */
const corpusOf = (salt: string) => {
  usePickSalt(salt);
  return buildCorpus({ root, bipia: arg('--bipia'), deepset: arg('--deepset') });
};
const corpus = corpusOf(PICKS[0]!);
console.error(`corpus: ${corpus.length} examples (${corpus.filter((e) => e.label === 1).length} injections) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// ---------- training windows ----------
interface Win {
  f: Int32Array;
  y: number;
  w: number;
}
function windows(feats: Int32Array, stride: number, max: number): Int32Array[] {
  const words = feats.length / FEATS;
  if (words <= WINDOW) return [feats];
  const out: Int32Array[] = [];
  for (let s = 0; s + WINDOW <= words && out.length < max; s += stride) out.push(feats.subarray(FEATS * s, FEATS * (s + WINDOW)));
  return out;
}
/**
 * The validation and held-out texts: a training text the same as one of them is not trained on, in
 * any pick (man pages' translation credits and other boilerplate repeat across files, whose split
 * is by file: 1,272 of the held-out split's 3,628 man-page chunks had a twin in training).
 */
const held = new Set(corpus.filter((e) => e.split !== 'train').map((e) => e.text));
/** Each benign training text's features are mined for its best span up to this many words. */
const MAX_MINED = 1500;
/** A corpus's training windows, and its benign texts' features (their first MAX_MINED words) for mining. */
function trainingSet(corpus: Example[], r: () => number) {
  const train: Win[] = [];
  const benignFeats: { f: Int32Array; w: number }[] = [];
  let pos = 0;
  let neg = 0;
  let dropped = 0;
  for (const e of corpus) {
    if (e.split !== 'train') continue;
    if (held.has(e.text)) {
      dropped++;
      continue;
    }
    if (e.label === 0) {
      const all = featuresOf(e.text);
      const weight = HARD_SOURCES.has(e.source) ? HARD_WEIGHT : 1;
      benignFeats.push({ f: all.subarray(0, FEATS * MAX_MINED), w: weight });
      for (const f of windows(all, WINDOW / 2, 80)) {
        train.push({ f, y: 0, w: weight });
        neg++;
      }
      // short pieces too: a JSON answer's strings are read one by one, many of a few words
      const words = all.length / FEATS;
      for (let k = 0; k < 1 && words > 4; k++) {
        const len = 3 + Math.floor(r() * Math.min(20, words - 3));
        const s = Math.floor(r() * (words - len + 1));
        train.push({ f: all.subarray(FEATS * s, FEATS * (s + len)), y: 0, w: 0.3 });
        neg++;
      }
    } else {
      const [a, b] = e.span ?? [0, e.text.length];
      const core = e.text.slice(a, b);
      const pw = e.source === 'written' || e.source === 'written-placed' ? WRITTEN_WEIGHT : 1;
      for (const f of windows(featuresOf(core), WINDOW / 2, 4)) {
        train.push({ f, y: 1, w: pw });
        pos++;
      }
      // the injection with some of its carrier: the window may start before it or end after it
      // (a few words of it on either side, never a window of carrier alone)
      const left = featuresOf(e.text.slice(Math.max(0, a - 200), a));
      const right = featuresOf(e.text.slice(b, b + 200));
      const l = Math.floor(r() * 6);
      const rr = Math.floor(r() * 6);
      const ctx = Int32Array.from([...left.subarray(Math.max(0, left.length - FEATS * l)), ...featuresOf(core), ...right.subarray(0, FEATS * rr)]);
      train.push({ f: ctx.length / FEATS > WINDOW ? ctx.subarray(0, FEATS * WINDOW) : ctx, y: 1, w: 0.5 * pw });
      pos++;
    }
  }
  const posWeight = neg / pos / 3;
  console.error(`windows: ${neg} benign, ${pos} injected (positive weight ${posWeight.toFixed(2)}); ${dropped} training texts left out, the same as a validation or held-out one`);
  return { train, benignFeats, posWeight };
}

// ---------- AdaGrad logistic regression ----------
/** The span the classifier would judge a text on (classifier.ts: classify), under the weights `w`. */
function bestSpan(f: Int32Array, w: Float32Array): Int32Array {
  const n = f.length / FEATS;
  if (n < MIN_SPAN) return f;
  const pre = new Float64Array(n + 1);
  for (let k = 0; k < n; k++) {
    let c = 0;
    for (let q = 0; q < FEATS; q++) c += w[f[FEATS * k + q]!]!;
    pre[k + 1] = pre[k]! + c;
  }
  let best = Number.NEGATIVE_INFINITY;
  let bi = 0;
  let bj = n;
  for (let j = MIN_SPAN; j <= n; j++)
    for (let i = Math.max(0, j - WINDOW); i <= j - MIN_SPAN; i++)
      if (pre[j]! - pre[i]! > best) {
        best = pre[j]! - pre[i]!;
        bi = i;
        bj = j;
      }
  return f.subarray(FEATS * bi, FEATS * bj);
}

/** One model on one pick's windows, in an order of its own. */
function trainOne(seed: number, set: ReturnType<typeof trainingSet>): { w: Float32Array; bias: number } {
  const { train, benignFeats, posWeight } = set;
  const r = mulberry32(seed);
  const w = new Float32Array(BUCKETS);
  const g2 = new Float32Array(BUCKETS).fill(1e-8);
  let bias = 0;
  let bg2 = 1e-8;
  const examples = [...train];
  const base = examples.length;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    // hard negatives: each benign text's best span under the weights so far (from the second epoch)
    examples.length = base;
    if (epoch > 0) for (const b of benignFeats) examples.push({ f: bestSpan(b.f, w), y: 0, w: b.w });
    const order = Array.from(examples.keys());
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let loss = 0;
    for (const k of order) {
      const x = examples[k]!;
      let z = bias;
      for (let q = 0; q < x.f.length; q++) z += w[x.f[q]!]!;
      const p = 1 / (1 + Math.exp(-z));
      const weight = x.w * (x.y === 1 ? posWeight : 1);
      loss += weight * -Math.log(x.y === 1 ? Math.max(p, 1e-9) : Math.max(1 - p, 1e-9));
      const g = weight * (p - x.y);
      for (let q = 0; q < x.f.length; q++) {
        const h = x.f[q]!;
        if (h === 0) continue; // the first word's missing pair (tokens.ts)
        const gh = g + L2 * w[h]!;
        g2[h] = g2[h]! + gh * gh;
        w[h] = w[h]! - (LR * gh) / Math.sqrt(g2[h]!);
      }
      bg2 += g * g;
      bias -= (LR * g) / Math.sqrt(bg2);
    }
    console.error(`model ${seed}, epoch ${epoch + 1}: loss ${(loss / order.length).toFixed(4)}`);
  }
  return { w, bias };
}

// Each pick's windows built when its model is trained, and let go after it (~150 MB of features a
// pick). (Pick 0's order is drawn from the same seed as its windows were: harmless, and how the
// shipped weights were trained.)
const models = PICKS.map((salt, k) => trainOne(7 + k * 1009, trainingSet(k === 0 ? corpus : corpusOf(salt), mulberry32(7 + k))));
usePickSalt(PICKS[0]!); // what reads the sources after this reads the first pick's
const w = new Float32Array(BUCKETS);
for (const m of models) for (let i = 0; i < BUCKETS; i++) w[i] = w[i]! + m.w[i]! / models.length;
const bias = models.reduce((a, m) => a + m.bias / models.length, 0);

// ---------- int8 ----------
let maxAbs = 0;
for (let i = 0; i < BUCKETS; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]!));
const clip = Math.min(maxAbs, 6);
const scale = clip / 127;
const q = new Int8Array(BUCKETS);
const dq = new Float32Array(BUCKETS);
for (let i = 0; i < BUCKETS; i++) {
  q[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / scale)));
  dq[i] = q[i]! * scale;
}
useWeights(dq);
MODEL.window = WINDOW;
MODEL.bias = bias;
MODEL.scale = scale;

// ---------- the offset, on validation ----------
const val = corpus.filter((e) => e.split === 'val');
const logitOf = (t: string) => {
  const s = detectInjection(t).score;
  return Math.log(Math.max(s, 1e-12) / Math.max(1 - s, 1e-12)) + MODEL.offset;
};
function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
}
// What the detector adds to the classifier (a floor, a cap, a conclusive signal's lift) is placed
// relative to the offset, so the offset is found by rounds to a fixed point, from 0 rather than from
// the weights.ts a training happens to find (which made the same inputs give another offset).
MODEL.offset = 0;
for (let round = 0; round < 8; round++) {
  const before = MODEL.offset;
  const tool = val.filter((e) => e.label === 0 && TOOL_OUTPUT.has(e.source)).map((e) => logitOf(e.text));
  // hard negatives: all of them at their 98th percentile, and each language at HARD_QUANTILE (the goal is ≤ 3 % in every one)
  const hardByLang = new Map<string, number[]>();
  for (const e of val) if (e.label === 0 && HARD.has(e.source)) hardByLang.set(e.lang, [...(hardByLang.get(e.lang) ?? []), logitOf(e.text)]);
  const off = Math.max(quantile(tool, 0.996), quantile([...hardByLang.values()].flat(), 0.98), ...[...hardByLang.values()].filter((xs) => xs.length >= 50).map((xs) => quantile(xs, HARD_QUANTILE)));
  MODEL.offset = Math.round(off * 1000) / 1000 + 0.05;
  const per = [...hardByLang].map(([l, xs]) => `${l} ${quantile(xs, HARD_QUANTILE).toFixed(2)} (${xs.length})`).join(', ');
  console.error(`offset round ${round + 1}: ${MODEL.offset.toFixed(3)} (tool ${quantile(tool, 0.996).toFixed(2)}; hard ${per})`);
  if (MODEL.offset === before) break;
}

// ---------- held-out set: test split, disguised injections, hand-written negatives ----------
const test = corpus.filter((e) => e.split === 'test');
const testInj = test.filter((e) => e.label === 1 && e.source === 'synthetic');
const carriers = test.filter((e) => e.label === 0 && TOOL_OUTPUT.has(e.source) && e.text.length < 1500).map((e) => e.text);
const disguised: Example[] = [];
DISGUISES.forEach((d, di) => {
  for (let k = 0; k < 40; k++) {
    const e = testInj[(di * 97 + k * 31) % testInj.length]!;
    const [a, b] = e.span ?? [0, e.text.length];
    const inj = e.text.slice(a, b);
    disguised.push({ text: disguise(d, inj, carriers[(di * 13 + k * 7) % carriers.length]!, di * 1000 + k), label: 1, lang: e.lang, source: 'disguised', split: 'test', disguise: d });
  }
});
const lookalikes: Example[] = benignLookalikes().map((b) => ({ text: b.text, label: 0, lang: 'mixed', source: 'lookalike', split: 'test' }));
const hand: Example[] = handwritten().map((h) => ({ text: h.text, label: 0, lang: h.lang as Example['lang'], source: 'handwritten', split: 'test' }));

// the fixture: every held-out injection, a sample of the held-out benign text
const sample = (xs: Example[], n: number) => {
  const rr = mulberry32(11);
  const c = [...xs];
  for (let i = c.length - 1; i > 0; i--) {
    const j = Math.floor(rr() * (i + 1));
    [c[i], c[j]] = [c[j]!, c[i]!];
  }
  return c.slice(0, n);
};
const heldout: Example[] = [
  ...testInj,
  ...disguised,
  ...test.filter((e) => e.source === 'bipia-attack'),
  ...test.filter((e) => e.source === 'deepset'),
  ...test.filter((e) => e.source === 'written' && e.label === 1),
  ...sample(
    test.filter((e) => e.label === 0 && TOOL_OUTPUT.has(e.source)),
    4000,
  ),
  ...sample(
    test.filter((e) => e.label === 0 && HARD.has(e.source)),
    3000,
  ),
  ...lookalikes,
];
const fixtures = join(root, 'test/fixtures/injection');
mkdirSync(fixtures, { recursive: true });
const lines = heldout.map((e) => JSON.stringify({ text: e.text.slice(0, 4000), label: e.label, lang: e.lang, source: e.source, ...(e.disguise ? { disguise: e.disguise } : {}) }));
writeFileSync(join(fixtures, 'heldout.jsonl.gz'), gzipSync(`${lines.join('\n')}\n`, { level: 9 }));

// ---------- weights.ts ----------
const b64 = Buffer.from(q.buffer).toString('base64');
writeFileSync(
  join(root, 'src/domain/injection/weights.ts'),
  `// Generated by scripts/injection/train.ts (${new Date().toISOString().slice(0, 10)}): do not edit.\n` +
    `// Logistic regression over 2^${BITS} hashed word, word-pair and stem buckets (${models.length} models averaged), int8 × scale, base64.\n` +
    `export const MODEL = {\n  bits: ${BITS},\n  window: ${WINDOW},\n  bias: ${Number(bias.toFixed(5))},\n  scale: ${Number(scale.toPrecision(8))},\n  offset: ${Number(MODEL.offset.toFixed(3))},\n  weights:\n    '${b64}',\n};\n`,
);

// ---------- figures ----------
console.log('## validation\n');
console.log(markdown(evaluate(val)));
console.log('\n## held out (all of the test split)\n');
const rep = evaluate([...test, ...disguised, ...lookalikes, ...hand]);
console.log(markdown(rep));
console.log(`\nhand-written negatives: ${hand.filter((h) => detectInjection(h.text).flagged).length}/${hand.length} flagged`);
const handInj = handInjections();
console.log(`hand-written injections: ${handInj.filter((h) => detectInjection(h.text).flagged).length}/${handInj.length} flagged`);
const dev = handDev();
const devMiss = dev.filter((h) => h.label === 1 && !detectInjection(h.text).flagged);
const devFp = dev.filter((h) => h.label === 0 && detectInjection(h.text).flagged);
console.log(
  `dev (hand-written, for settings): recall ${dev.filter((h) => h.label === 1).length - devMiss.length}/${dev.filter((h) => h.label === 1).length}, false positives ${devFp.length}/${dev.filter((h) => h.label === 0).length}`,
);
for (const h of [...devMiss, ...devFp]) console.log(`  dev ${h.label === 1 ? 'miss' : 'fp'} [${h.lang}] ${h.text.slice(0, 120)}`);
// dev2: only measured, never looked at for a setting (its misses are not printed)
const dev2 = handDev2();
const by = (label: 0 | 1, set = dev2) => {
  const xs = set.filter((h) => h.label === label);
  const hit = xs.filter((h) => detectInjection(h.text).flagged);
  const langs = [...new Set(xs.map((h) => h.lang))].map((l) => `${l} ${hit.filter((h) => h.lang === l).length}/${xs.filter((h) => h.lang === l).length}`);
  return `${hit.length}/${xs.length} (${langs.join(', ')})`;
};
console.log(`dev2 (hand-written, only measured): recall ${by(1)}, false positives ${by(0)}`);
const authors = handAuthors();
console.log(`held-out authors (hand-written, only measured): recall ${by(1, authors)}, false positives ${by(0, authors)}`);
const cse = arg('--cyberseceval');
if (cse) console.log(`${cyberSecEvalReport(cyberSecEval(cse))}\n(a third party's set, only measured)`);
const spk = arg('--spikee');
if (spk) console.log(`${spikeeReport(spikee(spk))}\n(a third party's set, only measured)`);
for (const [flag, name] of [
  ['--agentdojo', AGENTDOJO],
  ['--garak', GARAK],
] as const) {
  const file = arg(flag);
  if (file) console.log(`${labelledReport(name, labelled(file))}\n(a third party's set, only measured)`);
}
console.log(`\nmisses:\n${rep.misses.slice(0, 25).join('\n')}`);
console.log(`\nfalse positives:\n${rep.falsePositives.slice(0, 25).join('\n')}`);
console.error(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
