// One build: esbuild bundles src/ into dist/ and the dashboard (web/) into dist/web/.
// Our own code is one file, with the dependencies named in BUNDLED; the others stay installed.
import { build } from 'esbuild';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// The version and the commit this build is made from, as `iron-cage --version` says them
// (src/core/index.ts): from git when the build runs in a clone (`-dirty` when it has uncommitted
// changes), from IRON_CAGE_COMMIT when a release is built elsewhere.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const commit = process.env.IRON_CAGE_COMMIT ?? gitCommit();
const buildInfo = { version: pkg.version, commit };

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

// The CLI's bundle is whitespace- and syntax-minified (names kept: stack traces still say which
// function; `node --enable-source-maps` maps them back to src/) and pure ASCII: V8 keeps every
// loaded module's source text for the life of the process, and one non-ASCII character (a regex
// of the PII rules holds some; esbuild escapes those in strings, not in regex literals) makes the
// whole 1 MB a two-byte string. Measured: the heap's copy of dist/cli.js 2.3 MB → 0.86 MB.
// Every package is bundled in, so only what we use of it is kept (hono's adapters, drizzle's other
// dialects are not; zod's locales neither, as long as zod is imported as a namespace and nothing
// takes the `z` object as a value: test/unit/bundle.test.ts) and minified like the rest, and an
// install needs no package but the few left out (package.json's `dependencies`; the others are
// devDependencies, for the build). What the code imports on first use (`import()`:
// MCP's SDK, OpenTelemetry, pg, nodemailer, ws, the SMTP sink) is split into chunks
// beside cli.js, loaded when first imported; a bundled CommonJS package is evaluated when first
// required. Left installed: the native addons (NATIVE) and what the code requires on first use
// with createRequire (REQUIRED: src/core/on-first-use.ts, the price table, the phone library,
// the BPE encoder), which a bundler cannot see: packages a run may never need, loaded with
// `require` where ESM has no synchronous lazy import. The single executable carries them in a
// node_modules/ of its own (scripts/exe.mjs).
const NATIVE = ['better-sqlite3', '@node-rs/argon2'];
const REQUIRED = ['undici', 'yaml', '@pydantic/genai-prices', 'gpt-tokenizer/cjs/*', 'libphonenumber-js/*'];
const packageOf = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
const INSTALLED = [...new Set([...NATIVE, ...REQUIRED.map(packageOf)])];
const unlisted = INSTALLED.filter((name) => !(name in pkg.dependencies)).concat(Object.keys(pkg.dependencies).filter((name) => !INSTALLED.includes(name)));
if (unlisted.length > 0) throw new Error(`package.json's dependencies must be exactly the installed packages (scripts/build.mjs NATIVE, REQUIRED): ${unlisted.join(', ')} differ`);
// Optional native bindings other packages try in a `try` (pg's, ws's) are built in as absent: a
// require left to Node would look for them in every node_modules above the bundle (a folder the
// agent may write: ~/node_modules, above an unpacked executable) and load what it found there.
const OPTIONAL = ['pg-native', 'bufferutil', 'utf-8-validate'];
const absent = {
  name: 'absent',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${OPTIONAL.join('|')})$`) }, (a) => ({ path: a.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (a) => ({
      contents: `throw Object.assign(new Error("Cannot find module '${a.path}' (iron-cage is built without it)"), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};
// string-width (yargs's and its help layout's, two versions) builds its Unicode tables when it is
// imported: an Intl.Segmenter and a /\p{RGI_Emoji}/v regex, ~85 ms of a command's ~290 ms of CPU
// (`iron-cage --version`, profiled), for a width only a help text needs. Each import of it is
// bundled as a function that requires the real module on its first call: esbuild then evaluates
// that module (and its own imports) lazily, at that call.
const lazyWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (a) => {
      if (a.pluginData === 'real') return undefined; // the resolve below: esbuild's own
      const real = await b.resolve(a.path, { resolveDir: a.resolveDir, kind: a.kind, importer: a.importer, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      // Named from the root (the source map lists it), so that no build's own path is shipped.
      return { path: relative(root, real.path), namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (a) => ({
      contents: `let width;\nexport default function stringWidth(text, options) {\n  width ??= require(${JSON.stringify(`./${a.path}`)}).default;\n  return width(text, options);\n}\n`,
      loader: 'js',
      resolveDir: root,
    }));
  },
};
const cli = await build({
  ...common,
  packages: undefined,
  external: [...NATIVE.flatMap((name) => [name, `${name}/*`]), ...REQUIRED],
  plugins: [absent, lazyWidth],
  minifyWhitespace: true,
  minifySyntax: true,
  splitting: true,
  metafile: true,
  // Bundled CommonJS packages require Node's built-in modules: they get a `require`.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  define: { IRON_CAGE_BUILD: JSON.stringify(buildInfo) },
  entryPoints: { cli: join(root, 'src/cli/main.ts') },
  outdir: dist,
  chunkNames: 'cli-[hash]',
});
for (const file of Object.keys(cli.metafile.outputs)) if (file.endsWith('.js')) asciiOnly(join(process.cwd(), file));

// The BPE tables' ranks as JSON beside the bundle (src/domain/budget/tokens.ts reads them there):
// required, a .json file is one JSON.parse, where the package's JavaScript array literal costs V8
// ~13 MB of parser zones that the process keeps (docs/benchmarks-history.md, the memory figures). UTF-8, as
// JSON.stringify writes it (escaped to ASCII the file is a third larger and the peak higher).
const fromRoot = createRequire(join(root, 'package.json'));
mkdirSync(join(dist, 'bpe'));
for (const name of ['o200k_base', 'cl100k_base']) {
  writeFileSync(join(dist, 'bpe', `${name}.json`), JSON.stringify(fromRoot(`gpt-tokenizer/cjs/bpeRanks/${name}`).default));
}

/**
 * Escapes every non-ASCII UTF-16 unit as \uXXXX. Only regex literals hold such characters after
 * esbuild (its charset is ASCII for strings, templates and names), and there an escape means the
 * same character, with or without the `u` flag (a surrogate pair of escapes is one code point).
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  // `\é` (an identity escape) would turn into a backslash and `u00e9`: refuse rather than guess.
  if (/\\[^\0-\x7f]/.test(text)) throw new Error(`${file}: an escaped non-ASCII character; asciiOnly cannot keep its meaning`);
  const out = text.replace(/[^\0-\x7f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (out !== text) writeFileSync(file, out);
}

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

// The database migrations ship beside the bundle too: src/state/runtime/migrate.ts reads the journal
// and its SQL files when a database is opened (drizzle-kit's snapshots are for generating only).
cpSync(join(root, 'src/state/migrations'), join(dist, 'migrations'), {
  recursive: true,
  filter: (src) => !src.endsWith('_snapshot.json'),
});

// The agent-side Python SDK ships beside the bundle; the supervisor puts it on PYTHONPATH.
cpSync(join(root, 'src/python/iron_cage'), join(dist, 'python', 'iron_cage'), {
  recursive: true,
  filter: (src) => !src.includes('__pycache__'),
});

// The dashboard: hashed files the server loads into memory at start (src/server/static.ts) and
// serves under /assets/, cached for a year since a change makes a new name. index.html is
// written here, not kept in web/, so it always names this build's files and never holds an
// inline script or style (the CSP forbids both).
const webDir = join(root, 'web');
const webOut = join(dist, 'web');
const assetsOut = join(webOut, 'assets');
const webCommon = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: assetsOut,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  publicPath: '/assets/',
  // Images and fonts imported from the page become hashed files too: nothing comes from elsewhere.
  loader: { '.svg': 'file', '.png': 'file', '.woff2': 'file' },
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
};
const web = await build({ ...webCommon, entryPoints: { main: join(webDir, 'main.tsx') } });
const outputs = Object.entries(web.metafile.outputs);
const entryJs = outputs.find(([, o]) => o.entryPoint?.endsWith('main.tsx'))?.[0];
let css = outputs.find(([f]) => f === outputs.find(([g]) => g === entryJs)?.[1].cssBundle)?.[0];
// A stylesheet the page does not import is its own entry, under the same "main" name.
if (css === undefined && existsSync(join(webDir, 'styles.css'))) {
  const sheet = await build({ ...webCommon, entryPoints: { main: join(webDir, 'styles.css') } });
  css = Object.keys(sheet.metafile.outputs).find((f) => f.endsWith('.css'));
}
if (entryJs === undefined) throw new Error('web build: no JavaScript output for web/main.tsx');
const js = basename(entryJs);
const cssName = css === undefined ? undefined : basename(css);
writeFileSync(
  join(webOut, 'index.html'),
  [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="dark light">',
    '<title>Iron Cage</title>',
    // An empty icon: otherwise the browser asks for /favicon.ico, a needless 404.
    '<link rel="icon" href="data:,">',
    ...(cssName ? [`<link rel="stylesheet" href="/assets/${cssName}">`] : []),
    `<script type="module" src="/assets/${js}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"></div>',
    '<noscript>The Iron Cage dashboard needs JavaScript.</noscript>',
    '</body>',
    '</html>',
    '',
  ].join('\n'),
);
// The manifest says which file is which, for the server and the bundle-size benchmark.
writeFileSync(join(webOut, 'manifest.json'), `${JSON.stringify({ js, css: cssName ?? null, assets: readdirSync(assetsOut).sort() }, null, 2)}\n`);

// What `iron-cage --version` says, for the single executable's manifest (scripts/exe.mjs).
writeFileSync(join(dist, 'build.json'), `${JSON.stringify(buildInfo)}\n`);

function gitCommit() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short=12', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`;
  } catch {
    return 'unknown';
  }
}
