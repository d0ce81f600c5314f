import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Run, run as runProgram } from '../helpers/run.js';
import { ROOT, tempDir } from '../helpers/runtime.js';

// The npm package as a user installs it: `npm pack` of this build, installed globally into an
// empty prefix and run from a folder of its own; and run with `npx ./iron-cage-<version>.tgz`.
//
// better-sqlite3 compiles its addon at install when no prebuilt one can be downloaded (this
// machine reaches no GitHub): a minute of CPU that says nothing of our package. Its installer
// (prebuild-install) takes a prebuilt addon from a local folder when told to
// (npm_config_better_sqlite3_local_prebuilds), and this test gives it the one `npm ci` built.

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const BUILD = JSON.parse(readFileSync(join(ROOT, 'dist/build.json'), 'utf8')) as { version: string; commit: string };

// Each step is killed well inside its test's time, so that a step that hangs fails by its name with
// what it printed so far (npm's at `http` level: each fetch; the install scripts' own output, as
// they run), not as the test's bare timeout.
function run(command: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return runProgram(command, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, timeoutMs: o.timeoutMs ?? 100_000 });
}
const said = (what: string, r: Run) =>
  `${what}: ${r.code === null ? 'no exit code (killed after its time, by a signal, or not started)' : `exit ${r.code}`}\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`;

let place: { dir: string; cleanup: () => void };
let tarball: string;
let packed: { size: number; files: Array<{ path: string }> };
let npmEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  place = tempDir('iron-cage-npm-');
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', place.dir], { cwd: ROOT });
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  packed = JSON.parse(pack.stdout)[0];
  tarball = join(place.dir, `iron-cage-${PKG.version}.tgz`);
  const sqlite = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  const prebuilds = join(place.dir, 'prebuilds');
  mkdirSync(prebuilds);
  const tar = await run('tar', [
    '-czf',
    join(prebuilds, `better-sqlite3-v${sqlite}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`),
    '-C',
    join(ROOT, 'node_modules/better-sqlite3'),
    'build/Release/better_sqlite3.node',
  ]);
  if (tar.code !== 0) throw new Error(tar.stderr);
  // npm's own settings only: none of the clone's, nothing of the test run's, but the machine's and
  // the user's npmrc, which a user's `npm install --global` reads too. `--prefix` would move the
  // global one to `<prefix>/etc/npmrc` (absent): on a machine whose egress proxy's certificate is
  // named there (`cafile`), every fetch failed with SELF_SIGNED_CERT_IN_CHAIN. The packages' metadata
  // is fetched from the registry (`npm ci` cached their tarballs, not it), beside the coding agents'
  // installs of hundreds of megabytes on a fresh machine: a fetch that stalls is given up after 30 s
  // and retried (npm waits 5 minutes by default, past this test's time).
  npmEnv = {
    npm_config_better_sqlite3_local_prebuilds: prebuilds,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_prefer_offline: 'true',
    npm_config_fetch_timeout: '30000',
  };
  for (const name of Object.keys(process.env)) if (name.startsWith('npm_') && !(name in npmEnv)) npmEnv[name] = undefined;
  for (const file of ['globalconfig', 'userconfig']) {
    const where = await run('npm', ['config', 'get', file], { cwd: place.dir, env: npmEnv });
    if (where.code === 0 && where.stdout.trim()) npmEnv[`npm_config_${file}`] = where.stdout.trim();
  }
}, 120_000);

afterAll(() => place?.cleanup());

describe('the npm package', () => {
  it('holds what a user needs and nothing else, within its size goal', () => {
    const paths = packed.files.map((f) => f.path);
    expect(packed.size).toBeLessThan(15 * 1024 * 1024);
    for (const needed of [
      'bin/iron-cage.js',
      'dist/cli.js',
      'dist/web/index.html',
      'dist/web/manifest.json',
      'dist/migrations/sqlite/meta/_journal.json',
      'dist/migrations/pg/meta/_journal.json',
      'dist/python/iron_cage/__init__.py',
      'dist/bpe/o200k_base.json',
      'demo/lead_gen_agent.py',
      'demo/scenario.yaml',
      'README.md',
      'package.json',
    ]) {
      expect(paths, needed).toContain(needed);
    }
    const stray = paths.filter((p) => /^(test|scripts|src|web|examples|node_modules|test-artifacts|dist\/bench|dist\/exe|dist\/release)\//.test(p) || /__pycache__|\.db$|\.png$/.test(p));
    expect(stray).toEqual([]);
    // Every chunk cli.js imports is in it.
    for (const m of readFileSync(join(ROOT, 'dist/cli.js'), 'utf8').matchAll(/from"\.\/(cli-\w+\.js)"/g)) expect(paths).toContain(`dist/${m[1]}`);
  });

  it('says what it needs: a bin, an engine, a license, and only the packages the bundle leaves installed', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ 'iron-cage': 'bin/iron-cage.js' });
    expect(manifest.engines.node).toMatch(/^>=20/);
    expect(manifest.license).toBeTruthy();
    expect(Object.keys(PKG.dependencies).sort()).toEqual(['@node-rs/argon2', '@pydantic/genai-prices', 'better-sqlite3', 'gpt-tokenizer', 'libphonenumber-js', 'undici', 'yaml']);
    // Peers for benches and SDKs for compatibility tests are for the clone alone.
    for (const dev of ['@portkey-ai/gateway', 'openai', '@anthropic-ai/sdk', 'vitest', 'hono', '@modelcontextprotocol/sdk']) expect(PKG.devDependencies).toHaveProperty(dev);
  });

  it('installs globally into an empty prefix and plays the demo from a folder of its own', async () => {
    const prefix = join(place.dir, 'prefix');
    const install = await run('npm', ['install', '--global', '--loglevel', 'http', '--foreground-scripts', '--prefix', prefix, tarball], { cwd: place.dir, env: npmEnv });
    expect(install.code, said('npm install --global', install)).toBe(0);
    const installed = join(prefix, 'lib', 'node_modules', 'iron-cage');
    const modules = readdirSync(join(installed, 'node_modules'));
    for (const dev of ['openai', 'vitest', 'hono', '@portkey-ai', 'esbuild', 'typescript', 'playwright-core']) expect(modules, dev).not.toContain(dev);
    expect(existsSync(join(installed, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    const bin = join(prefix, 'bin', 'iron-cage');
    const version = await run(bin, ['--version']);
    expect(version.stdout.trim()).toBe(`${BUILD.version} (commit ${BUILD.commit})`);
    const work = join(place.dir, 'work');
    mkdirSync(work);
    const demo = await run(bin, ['demo', '--pace', 'fast', '--port', '0'], { cwd: work });
    expect(demo.code, said('iron-cage demo', demo)).toBe(0);
    expect(demo.stdout).toMatch(/Leads processed\s+100 \/ 100/);
  }, 240_000);

  it('runs with npx from the tarball', async () => {
    try {
      // As the README says it: from the tarball's folder, by its relative path.
      const r = await run('npx', ['--yes', `./iron-cage-${PKG.version}.tgz`, 'demo', '--pace', 'fast', '--port', '0', '--db', join(place.dir, 'npx-demo.db')], { cwd: place.dir, env: npmEnv });
      expect(r.code, said('npx', r)).toBe(0);
      expect(r.stdout).toMatch(/Leads processed\s+100 \/ 100/);
    } finally {
      // npx installed it under npm's cache (~/.npm/_npx/<hash>): that install goes with the tarball.
      const npx = join((await run('npm', ['config', 'get', 'cache'], { env: npmEnv })).stdout.trim(), '_npx');
      for (const hash of existsSync(npx) ? readdirSync(npx) : []) {
        const manifest = join(npx, hash, 'package.json');
        if (existsSync(manifest) && readFileSync(manifest, 'utf8').includes(place.dir)) rmSync(join(npx, hash), { recursive: true, force: true });
      }
    }
  }, 240_000);
});
