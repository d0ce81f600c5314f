// How well the weights in place rank attacks above legitimate texts, whatever the threshold: AUC,
// and recall at 1, 3, 5 and 10 % of the negatives flagged, with the figures at the threshold, on
// the validation part's hand-written texts (what chooses a training's settings: PICKS' first pick,
// as train.ts validates on), dev.jsonl (chose settings too), and the hand-written sets never
// trained on nor used for a setting (held-out authors: attacks against their legitimate twins;
// dev2; unaddressed and own-voice-heldout, the data's own voice; the second, third and fourth
// reads' sets, which chose signals only; the tenth round, trained on since 2026-11-29's late evening
// as a measure of what a training learnt by heart). For comparing trainings.
//
//   node_modules/.bin/tsx scripts/injection/rank.ts [--bipia <BIPIA>] [--deepset <dir>]   (as train.ts was given)
import { detectInjection } from '../../src/domain/injection/index.js';
import { buildCorpus } from './corpus.js';
import {
  fourthReadAttacks,
  fourthReadBenign,
  handAuthors,
  handDev,
  handDev2,
  ownVoiceHeldOut,
  secondReadAttacks,
  secondReadBenign,
  tenthRound,
  thirdReadAttacks,
  thirdReadBenign,
  unaddressed,
} from './handwritten.js';

function rank(name: string, xs: { text: string; label?: 0 | 1 }[]): string {
  const pos = xs.filter((x) => x.label === 1).map((x) => detectInjection(x.text).score);
  const neg = xs.filter((x) => x.label === 0).map((x) => detectInjection(x.text).score);
  neg.sort((a, b) => b - a);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  const at = (fp: number) => {
    const cut = neg[Math.floor(fp * neg.length)] ?? 0; // flag above the negative at this rank
    return pos.filter((p) => p > cut).length / pos.length;
  };
  const flagged = pos.filter((p) => p >= 0.5).length / pos.length;
  const fp = neg.filter((n) => n >= 0.5).length / neg.length;
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `${name}: AUC ${(wins / (pos.length * neg.length)).toFixed(4)}, recall at 1 / 3 / 5 / 10 % of the negatives flagged ${[0.01, 0.03, 0.05, 0.1].map((f) => pct(at(f))).join(' / ')}; at the threshold ${pct(flagged)} / ${pct(fp)}`;
}
const bipia = process.argv.indexOf('--bipia');
const deepset = process.argv.indexOf('--deepset');
const val = buildCorpus({ root: process.cwd(), bipia: bipia > 0 ? process.argv[bipia + 1] : undefined, deepset: deepset > 0 ? process.argv[deepset + 1] : undefined }).filter(
  (e) => e.split === 'val' && (e.source === 'written' || e.source === 'written-placed'),
);
console.log(
  rank(
    'validation, hand-written (chooses settings)',
    val.map((e) => ({ text: e.text, label: e.label as 0 | 1 })),
  ),
);
console.log(rank('dev (chooses settings)', handDev()));
console.log(rank('held-out authors', handAuthors()));
console.log(rank('dev2', handDev2()));
console.log(rank('unaddressed', unaddressed()));
console.log(rank('own-voice-heldout', ownVoiceHeldOut()));
// The reads' sets chose signals, never a training setting: how the weights carry over to other authors' phrasings
// (the tenth round's is trained on since 2026-11-29's late evening: what a training learnt by heart).
const labelled = (pos: { text: string }[], neg: { text: string }[]) => [...pos.map((x) => ({ text: x.text, label: 1 as const })), ...neg.map((x) => ({ text: x.text, label: 0 as const }))];
console.log(rank('second read', labelled(secondReadAttacks(), secondReadBenign())));
console.log(rank('third read', labelled(thirdReadAttacks(), thirdReadBenign())));
console.log(rank('fourth read', labelled(fourthReadAttacks(), fourthReadBenign())));
console.log(rank('tenth round', tenthRound()));
