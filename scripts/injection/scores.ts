// Every verdict of the detector on the fixtures, to tell whether a change (one for speed) moved
// any: the held-out sample, the hand-written sets, the coding agents' texts, the MCP tool
// descriptions (read as text and as instructive), and the benchmark's 1 MiB and 16 KB pieces of
// mixed tool output, each with its exact score, signals and spans.
//
//   node_modules/.bin/tsx scripts/injection/scores.ts before.jsonl   # on the old code
//   node_modules/.bin/tsx scripts/injection/scores.ts after.jsonl    # on the new one
//   node_modules/.bin/tsx scripts/injection/scores.ts --compare before.jsonl after.jsonl
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { detectInjection } from '../../src/domain/injection/index.js';

const dir = join(process.cwd(), 'test/fixtures/injection');
const jsonl = (name: string) =>
  readFileSync(join(dir, name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { text: string; label?: number });

if (process.argv[2] === '--compare') {
  const [a, b] = [process.argv[3]!, process.argv[4]!].map((f) => readFileSync(f, 'utf8').split('\n'));
  let differ = 0;
  for (let i = 0; i < Math.max(a!.length, b!.length); i++)
    if (a![i] !== b![i]) {
      if (differ++ < 10) console.log(`line ${i + 1}:\n  ${a![i]?.slice(0, 300)}\n  ${b![i]?.slice(0, 300)}`);
    }
  console.log(differ === 0 ? `the same, all ${a!.length - 1} verdicts to the bit` : `${differ} of ${a!.length - 1} verdicts differ`);
  process.exit(differ === 0 ? 0 : 1);
}

const heldout = gunzipSync(readFileSync(join(dir, 'heldout.jsonl.gz')))
  .toString('utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { text: string; label: number });
const texts: Array<{ set: string; text: string; instructive?: boolean }> = [];
for (const r of heldout) texts.push({ set: 'heldout', text: r.text });
for (const f of ['dev.jsonl', 'dev2.jsonl', 'injections.jsonl', 'hard-negatives.jsonl', 'coding-agents.jsonl', 'mcp-tools-benign.jsonl', 'mcp-tools-poisoned.jsonl'])
  for (const r of jsonl(f)) texts.push({ set: f, text: r.text });
for (const f of ['mcp-tools-benign.jsonl', 'mcp-tools-poisoned.jsonl']) for (const r of jsonl(f)) texts.push({ set: `${f} instructive`, text: r.text, instructive: true });
// the benchmark's pieces (scripts/bench/injection.ts)
const mixed = heldout
  .filter((r) => r.label === 0)
  .map((r) => r.text)
  .join('\n');
for (let at = 0; at < mixed.length; at += 1 << 20) texts.push({ set: 'bench 1 MiB', text: mixed.slice(at, at + (1 << 20)) });
for (let i = 0, at = 0; i < 500; i++, at = (at + (16 << 10)) % Math.max(1, mixed.length - (16 << 10))) texts.push({ set: 'bench 16 KB', text: mixed.slice(at, at + (16 << 10)) });

const out: string[] = [];
for (const t of texts) {
  const r = detectInjection(t.text, { spans: true, instructive: t.instructive });
  out.push(JSON.stringify([t.set, r.score, r.signals, r.spans!.map((s) => [s.start, s.end, s.signal])]));
}
writeFileSync(process.argv[2] ?? 'scores.jsonl', `${out.join('\n')}\n`);
console.log(`${out.length} verdicts written to ${process.argv[2] ?? 'scores.jsonl'}`);
