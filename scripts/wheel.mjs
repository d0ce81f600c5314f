// `npm run build:wheel [-- outdir]`: the agent-side Python SDK (src/python) as a wheel, so that an
// agent can `pip install` it and `import iron_cage` outside the cage too (its MockRuntime, for the
// agent's own tests). The wheel carries the CLI's version: the script refuses to build unless
// package.json's "version", src/python/pyproject.toml's and iron_cage.__version__ agree.
//
//   node scripts/wheel.mjs [outdir]     (default dist/release; prints the wheel's path)
//
// The build runs on a copy in a temporary folder, so src/python is left as it was (no build/,
// *.egg-info or __pycache__), through pip's PEP 517 front end: `pip wheel --no-deps` installs the
// build backend named in pyproject.toml (flit_core: one small wheel with no dependencies) into an
// isolated environment from whatever index pip is configured with (`pip config list`), then builds.
// An unreachable index is given up at once (PIP_RETRIES, unless set, is 0) rather than retried for
// seconds. SOURCE_DATE_EPOCH, when set, fixes the timestamps inside the wheel.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parse } from 'smol-toml';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src/python');
const outDir = resolve(process.argv[2] ?? join(root, 'dist/release'));

/** Stops the build with a message for the user (the temporary folder is still removed). */
class Refused extends Error {}
function fail(message) {
  throw new Refused(message);
}

// The three versions, named where they differ.
const cli = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const project = parse(readFileSync(join(src, 'pyproject.toml'), 'utf8')).project?.version;
const sdk = /^__version__\s*=\s*["']([^"']+)["']\s*$/m.exec(readFileSync(join(src, 'iron_cage/__init__.py'), 'utf8'))?.[1];
if (project !== cli || sdk !== cli) {
  console.error(
    'wheel: the three versions differ; make them the same, then build again:\n' +
      `  package.json "version"                        ${cli}\n` +
      `  src/python/pyproject.toml [project] version   ${project ?? '(none)'}\n` +
      `  src/python/iron_cage/__init__.py __version__  ${sdk ?? '(none)'}`,
  );
  process.exit(1);
}

/** Left behind by a build, a test run or a linter: never in the copy that is built. */
const LITTER = new Set(['__pycache__', '.pytest_cache', '.mypy_cache', '.ruff_cache']);
/** What a build run in src/python itself would leave there (only at its top). */
const BUILT = new Set(['build', 'dist']);
const work = mkdtempSync(join(tmpdir(), 'iron-cage-wheel-'));
try {
  console.log(build());
} catch (err) {
  if (!(err instanceof Refused)) throw err;
  console.error(`wheel: ${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Builds the wheel from a copy of src/python in `work`; returns its path in outDir. */
function build() {
  const copy = join(work, 'src');
  cpSync(src, copy, {
    recursive: true,
    filter: (path) => {
      const name = basename(path);
      const top = dirname(path) === src;
      return !LITTER.has(name) && !name.endsWith('.pyc') && !(top && (BUILT.has(name) || name.endsWith('.egg-info')));
    },
  });
  const built = join(work, 'wheel');
  const python = 'python3';
  const pip = spawnSync(python, ['-m', 'pip', 'wheel', '--no-deps', '--quiet', '--disable-pip-version-check', '--wheel-dir', built, copy], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, PIP_RETRIES: process.env.PIP_RETRIES ?? '0' },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (pip.error) fail(`cannot run ${python}: ${pip.error.message}`);
  if (pip.status !== 0) {
    fail(
      `\`${python} -m pip wheel\` failed (exit ${pip.status ?? pip.signal}). It needs pip and the build backend from the index pip is configured with ` +
        `(\`${python} -m pip config list\`; \`pip download flit_core\` shows whether it is reachable):\n${`${pip.stdout}${pip.stderr}`.trim()}`,
    );
  }
  const wheels = readdirSync(built).filter((f) => f.endsWith('.whl'));
  if (wheels.length !== 1) fail(`expected one wheel from pip, got ${wheels.length ? wheels.join(', ') : 'none'}`);
  const [wheel] = wheels;
  if (!wheel.startsWith(`iron_cage-${cli}-`)) fail(`pip built ${wheel}, not version ${cli} of iron_cage`);
  mkdirSync(outDir, { recursive: true });
  const dest = join(outDir, wheel);
  copyFileSync(join(built, wheel), dest);
  return dest;
}
