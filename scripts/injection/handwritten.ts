// The hand-written sets of test/fixtures/injection: hard negatives (legitimate instructions,
// requests and writing about injections, six languages) and injections as they arrive in tool
// output, held out; dev.jsonl, both kinds, for choosing the trainer's settings; and dev2.jsonl,
// both kinds, only measured. None of them is trained on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Hand {
  lang: string;
  text: string;
  /** In dev.jsonl: 1 an injection, 0 a hard negative. */
  label?: 0 | 1;
}

function read(name: string): Hand[] {
  return readFileSync(join(process.cwd(), 'test/fixtures/injection', name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Hand);
}

export const handwritten = () => read('hard-negatives.jsonl');
export const handInjections = () => read('injections.jsonl');
/** A small hand-written set in six languages, other phrasings than the phrase banks', for choosing settings (never trained on). */
export const handDev = () => read('dev.jsonl');
/**
 * A second, larger one (150 attacks, 150 hard benign texts, 25 of each per language), written
 * before kinds.ts and apart from every list the trainer reads: neither trained on nor used to
 * choose a setting. Its figures are the honest measure of phrasings nobody wrote for the trainer.
 */
export const handDev2 = () => read('dev2.jsonl');
