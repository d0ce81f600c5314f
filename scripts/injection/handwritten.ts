// The hand-written held-out sets of test/fixtures/injection: hard negatives (legitimate
// instructions, requests and writing about injections, six languages) and injections as they
// arrive in tool output. Never trained on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Hand {
  lang: string;
  text: string;
}

function read(name: string): Hand[] {
  return readFileSync(join(process.cwd(), 'test/fixtures/injection', name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Hand);
}

export const handwritten = () => read('hard-negatives.jsonl');
export const handInjections = () => read('injections.jsonl');
