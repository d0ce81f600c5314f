// `npm run build:exe` (`node scripts/exe.mjs [outdir]` after `npm run build`): iron-cage as one
// executable file, dist/exe/iron-cage-<os>-<arch>, built with Node's single executable
// applications (the node binary this build runs on, with the blob injected by postject from npm:
// nothing downloaded). It reads dist/ and writes only in its own folder.
//
// What it holds is laid out as an install of the npm package would be (src/exe/unpack.ts writes it
// to a cache folder on first use): bin/iron-cage.js, dist/ as `npm run build` makes it (the code
// and its chunks, the dashboard, the migrations, the Python SDK, the BPE tables), demo/, and a
// node_modules/ of the packages the bundle leaves installed (scripts/build.mjs INSTALLED):
// - The packages the code requires on first use (src/core/on-first-use.ts, the price table, the
//   phone library, the BPE encoder) are each bundled into one file under node_modules/ at the
//   path that `require` resolves (phone-library.ts requires a file beside libphonenumber's core:
//   that package is copied, its JavaScript only).
// - The native addons (better-sqlite3 and its loader, @node-rs/argon2 and this platform's binary).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

// Each package scripts/build.mjs leaves installed (INSTALLED), carried in one of three ways.
/** Packages with native code, with what their loaders require. */
const NATIVE = { 'better-sqlite3': ['bindings', 'file-uri-to-path'], '@node-rs/argon2': [] };
/** What the code requires on first use (createRequire), each bundled as the file `require` resolves. */
const REQUIRED_ON_FIRST_USE = [
  { specifier: 'undici', file: 'undici/index.js' },
  { specifier: 'yaml', file: 'yaml/index.js' },
  { specifier: '@pydantic/genai-prices', file: '@pydantic/genai-prices/index.js' },
  { specifier: 'gpt-tokenizer/cjs/GptEncoding', file: 'gpt-tokenizer/cjs/GptEncoding.js' },
];
/** Copied as they are, the files the code requires (phone-library.ts: core, a file beside it, the metadata). */
const COPIED = { 'libphonenumber-js': (rel) => rel === 'metadata.max.json' || /^core\/[^/]+\.cjs$/.test(rel) || /^build\/.+\.js$/.test(rel) };

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = resolve(process.argv[2] ?? join(dist, 'exe'));
if (!existsSync(join(dist, 'build.json'))) throw new Error('dist/ is not built: run npm run build first');
const buildInfo = JSON.parse(readFileSync(join(dist, 'build.json'), 'utf8'));
const installed = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies);
await buildExe();

async function buildExe() {
  const carried = [...Object.keys(NATIVE), ...REQUIRED_ON_FIRST_USE.map((r) => packageName(r.specifier)), ...Object.keys(COPIED)];
  const missing = installed.filter((name) => !carried.includes(name));
  if (missing.length > 0) throw new Error(`scripts/exe.mjs does not say how to carry ${missing.join(', ')} (an installed package of scripts/build.mjs)`);
  const stage = join(out, 'stage');
  // Only what this script makes is replaced: `out` may be any folder (never emptied).
  for (const made of ['stage', 'assets', 'sea.blob', 'sea-config.json', 'main.cjs', 'manifest.json', `iron-cage-${process.platform}-${process.arch}`])
    rmSync(join(out, made), { recursive: true, force: true });
  mkdirSync(join(stage, 'dist'), { recursive: true });
  const fromRoot = createRequire(join(root, 'package.json'));

  // The code as built for the clone and the npm package: cli.js and its chunks.
  for (const file of readdirSync(dist)) if (/^cli(-[\w]+)?\.js$/.test(file)) copyFileSync(join(dist, file), join(stage, 'dist', file));
  for (const folder of ['web', 'migrations', 'python', 'bpe']) {
    cpSync(join(dist, folder), join(stage, 'dist', folder), { recursive: true, filter: (src) => !src.endsWith('.map') });
  }
  // The demo's agent, leads, config and scenario, beside dist/ as in the repository (src/demo/files.ts).
  cpSync(join(root, 'demo'), join(stage, 'demo'), { recursive: true, filter: (src) => !src.includes('__pycache__') });
  mkdirSync(join(stage, 'bin'));
  copyFileSync(join(root, 'bin', 'iron-cage.js'), join(stage, 'bin', 'iron-cage.js'));
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify({ name: 'iron-cage', version: buildInfo.version, type: 'module', private: true }, null, 2)}\n`);
  // The executable's own script cannot import(); a file required from disk can (src/exe/main.ts).
  writeFileSync(join(stage, 'boot.cjs'), 'module.exports = (url) => import(url);\n');

  const modules = join(stage, 'node_modules');
  for (const { specifier, file } of REQUIRED_ON_FIRST_USE) {
    await build({
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'warning',
      entryPoints: [fromRoot.resolve(specifier)],
      outfile: join(modules, file),
    });
    const name = packageName(specifier);
    const main = relative(join(modules, name), join(modules, file)).split(sep).join('/');
    writeFileSync(join(modules, name, 'package.json'), `${JSON.stringify({ name, version: packageOf(fromRoot, name).version, main })}\n`);
  }
  for (const [name, keep] of Object.entries(COPIED)) copyPackage(fromRoot, name, join(modules, name), (rel) => keep(rel.split(sep).join('/')));
  for (const [name, loaders] of Object.entries(NATIVE)) copyNative(fromRoot, name, loaders, modules);

  // Every file gzipped as an asset, listed with its hash.
  const files = walk(stage)
    .map((path) => relative(stage, path).split(sep).join('/'))
    .sort()
    .map((path) => {
      const data = readFileSync(join(stage, path));
      return { path, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
    });
  const id = createHash('sha256')
    .update(files.map((f) => `${f.path}\0${f.sha256}\n`).join(''))
    .digest('hex');
  const assets = join(out, 'assets');
  const assetMap = {};
  for (const f of files) {
    const gz = join(assets, f.path);
    mkdirSync(dirname(gz), { recursive: true });
    writeFileSync(gz, gzipSync(readFileSync(join(stage, f.path)), { level: 9 }));
    assetMap[f.path] = gz;
  }
  writeFileSync(join(out, 'manifest.json'), JSON.stringify({ version: buildInfo.version, commit: buildInfo.commit, id, files }));
  assetMap['manifest.json'] = join(out, 'manifest.json');

  // The executable's script: src/exe/main.ts, as one CommonJS file with nothing but Node in it.
  await build({ bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, logLevel: 'warning', entryPoints: [join(root, 'src/exe/main.ts')], outfile: join(out, 'main.cjs') });
  const config = join(out, 'sea-config.json');
  const blob = join(out, 'sea.blob');
  writeFileSync(config, JSON.stringify({ main: join(out, 'main.cjs'), output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets: assetMap }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });

  // Node's own binary without its debug symbols (~12 MB of the ~99), then the blob injected.
  const exe = join(out, `iron-cage-${process.platform}-${process.arch}`);
  try {
    execFileSync('strip', ['-o', exe, process.execPath], { stdio: 'ignore' });
  } catch {
    copyFileSync(process.execPath, exe);
  }
  chmodSync(exe, 0o755);
  const postject = join(packageDir(fromRoot, 'postject'), 'dist', 'cli.js');
  execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'ignore' });
  for (const temp of [stage, assets, blob, config, join(out, 'main.cjs')]) rmSync(temp, { recursive: true, force: true });
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ version: buildInfo.version, commit: buildInfo.commit, id, files }, null, 2)}\n`);
  const mb = (statSync(exe).size / 1024 / 1024).toFixed(1);
  process.stdout.write(`${relative(process.cwd(), exe)}: ${mb} MB, ${files.length} files (${buildInfo.version}, commit ${buildInfo.commit})\n`);
}

function packageName(specifier) {
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

/** An installed package's folder (npm hoists every one iron-cage uses to the top). */
function packageDir(fromRoot, name) {
  const dir = join(dirname(fromRoot.resolve('./package.json')), 'node_modules', name);
  if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is not installed in ${dir}: run npm ci`);
  return dir;
}

function packageOf(fromRoot, name) {
  return JSON.parse(readFileSync(join(packageDir(fromRoot, name), 'package.json'), 'utf8'));
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** A package's folder copied with the files `keep` passes (and its package.json files). */
function copyPackage(fromRoot, name, to, keep) {
  const from = packageDir(fromRoot, name);
  for (const file of walk(from)) {
    const rel = relative(from, file);
    // Every package.json: one in a subfolder may say how Node reads the files there (libphonenumber's build/ is CommonJS in a package of ES modules).
    if (!rel.startsWith(`node_modules${sep}`) && (rel.split(sep).at(-1) === 'package.json' || keep(rel))) {
      mkdirSync(dirname(join(to, rel)), { recursive: true });
      copyFileSync(file, join(to, rel));
    }
  }
}

/**
 * A native package as installed, without what it was built from: its JavaScript, its compiled
 * addon (this platform's, stripped of debug symbols) and the packages its loader requires.
 */
function copyNative(fromRoot, name, loaders, modules) {
  const from = packageDir(fromRoot, name);
  const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
  const addon = (rel) => rel.endsWith('.node') && !rel.includes('test_extension') && !rel.includes(`${sep}obj.target${sep}`);
  copyPackage(fromRoot, name, join(modules, name), (rel) => (/\.c?js$/.test(rel) && !/^(src|deps|test|benchmark)\b/.test(rel)) || addon(rel));
  for (const rel of walk(join(modules, name))
    .map((f) => relative(join(modules, name), f))
    .filter(addon)) {
    try {
      execFileSync('strip', ['--strip-unneeded', join(modules, name, rel)], { stdio: 'ignore' });
    } catch {
      /* kept as built */
    }
  }
  for (const dep of loaders) copyPackage(fromRoot, dep, join(modules, dep), (rel) => /\.c?js$/.test(rel));
  // @node-rs packages load this platform's binary from a package of its own (an optional dependency).
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
    // Another platform's is not installed.
    if (existsSync(join(dirname(fromRoot.resolve('./package.json')), 'node_modules', dep))) copyPackage(fromRoot, dep, join(modules, dep), (rel) => rel.endsWith('.node') || /\.c?js$/.test(rel));
  }
}
