// One build: esbuild bundles src/ (and, once it exists, web/) into dist/.
// Dependencies stay external (they are installed); our own code is one file.
import { build } from 'esbuild';
import { cpSync, existsSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
  jsx: 'automatic',
  jsxImportSource: 'preact',
};

await build({ ...common, entryPoints: [join(root, 'src/cli/main.ts')], outfile: join(dist, 'cli.js') });

// Benchmarks are TypeScript too; bundle each so `npm run bench` runs plain node.
const benchDir = join(root, 'scripts/bench');
const benches = existsSync(benchDir) ? readdirSync(benchDir).filter((f) => f.endsWith('.ts')) : [];
if (benches.length > 0) {
  await build({
    ...common,
    entryPoints: benches.filter((f) => f !== 'lib.ts').map((f) => join(benchDir, f)),
    outdir: join(dist, 'bench'),
  });
}

// The agent-side Python SDK ships beside the bundle; the supervisor puts it on PYTHONPATH.
cpSync(join(root, 'src/python'), join(dist, 'python'), {
  recursive: true,
  filter: (src) => !src.includes('__pycache__'),
});
