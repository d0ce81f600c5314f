// `npm run bench [-- name ...]`: runs the bundled benchmarks (dist/bench/*.js) one after
// another and prints their markdown tables. Each also writes bench-results/<name>.json.
// A missed target is a ❌ in a table, not a failed run; a benchmark that crashes fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(process.cwd(), 'dist/bench');
if (!existsSync(dir)) {
  console.error('dist/bench is missing: run `npm run build` first');
  process.exit(2);
}
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.js') && f !== 'lib.js')
  .map((f) => f.slice(0, -3));
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; have: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  const r = spawnSync(process.execPath, [join(dir, `${name}.js`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`benchmark ${name} failed (exit ${r.status})`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
