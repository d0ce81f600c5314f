// `npm run release`: what a release ships, built fresh into dist/release/ with SHA256SUMS beside it
// (docs/install.md says how to check them):
// - iron-cage-<os>-<arch>: the single executable for this machine's platform (scripts/exe.mjs;
//   another architecture needs its own Node binary and is built on a machine of it);
// - iron-cage-<version>.tgz: the npm package (`npm pack`: package.json's `files`);
// - iron_cage-<version>-py3-none-any.whl: the Python SDK (scripts/wheel.mjs).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'release');
const node = (script, ...args) => execFileSync(process.execPath, [join(root, 'scripts', script), ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

node('build.mjs');
node('exe.mjs');
mkdirSync(out, { recursive: true });
const exe = `iron-cage-${process.platform}-${process.arch}`;
copyFileSync(join(root, 'dist', 'exe', exe), join(out, exe));
// The build above is what is packed: `npm pack` would run `prepare` (the build) again.
execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: root, stdio: 'pipe' });
node('wheel.mjs', out);

const files = readdirSync(out)
  .filter((f) => f !== 'SHA256SUMS')
  .sort();
const sums = files
  .map(
    (f) =>
      `${createHash('sha256')
        .update(readFileSync(join(out, f)))
        .digest('hex')}  ${f}\n`,
  )
  .join('');
writeFileSync(join(out, 'SHA256SUMS'), sums);
const build = JSON.parse(readFileSync(join(root, 'dist', 'build.json'), 'utf8'));
process.stdout.write(`iron-cage ${build.version} (commit ${build.commit}) in dist/release:\n`);
for (const f of files) process.stdout.write(`  ${f}  ${(statSync(join(out, f)).size / 1024 / 1024).toFixed(1)} MB\n`);
process.stdout.write('  SHA256SUMS  (check with: cd dist/release && sha256sum -c SHA256SUMS)\n');
if (build.commit.endsWith('-dirty')) process.stdout.write('Built from uncommitted changes: commit them and run it again for a release others can rebuild.\n');
