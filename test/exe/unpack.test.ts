import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheRoots, changedFiles, type Manifest, unpack } from '../../src/exe/unpack.js';
import { tempDir } from '../helpers/runtime.js';

// The single executable's first step (src/exe/unpack.ts), in-process: what it holds is written to
// a per-build folder under the user's cache, checked file by file at every start. The executable
// itself is tested whole in test/distribution/exe.test.ts.

const FILES: Record<string, string> = {
  'bin/iron-cage.js': 'console.log("hello");\n',
  'dist/cli.js': 'export const started = Promise.resolve();\n',
  'dist/web/index.html': '<!doctype html>\n',
};

function build(files: Record<string, string> = FILES): { manifest: Manifest; read: (path: string) => Uint8Array; reads: string[] } {
  const list = Object.entries(files).map(([path, text]) => ({ path, sha256: createHash('sha256').update(text).digest('hex'), size: Buffer.byteLength(text) }));
  const id = createHash('sha256')
    .update(list.map((f) => `${f.path}\0${f.sha256}\n`).join(''))
    .digest('hex');
  const reads: string[] = [];
  return {
    manifest: { version: '9.8.7', commit: 'abc123', id, files: list },
    read: (path) => {
      reads.push(path);
      return gzipSync(files[path]!);
    },
    reads,
  };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function home(): string {
  const t = tempDir('iron-cage-unpack-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('unpacking the single executable', () => {
  it('writes each file once into a folder of this version and build, and afterwards only checks it', () => {
    const h = home();
    const { manifest, read, reads } = build();
    const dir = unpack(manifest, read, { env: { HOME: h } });
    expect(dir).toBe(join(h, '.cache', 'iron-cage', `9.8.7-${manifest.id.slice(0, 16)}`));
    for (const [path, text] of Object.entries(FILES)) expect(readFileSync(join(dir, path), 'utf8')).toBe(text);
    expect(statSync(join(h, '.cache', 'iron-cage')).mode & 0o777).toBe(0o700);
    expect(reads).toHaveLength(3);
    expect(unpack(manifest, read, { env: { HOME: h } })).toBe(dir);
    expect(reads).toHaveLength(3);
    // Nothing of the writing is left beside it.
    expect(readdirSync(join(h, '.cache', 'iron-cage'))).toEqual([`9.8.7-${manifest.id.slice(0, 16)}`]);
  });

  it('writes again, and says so, what was changed, removed or replaced since: a file there is never trusted', () => {
    const h = home();
    const { manifest, read } = build();
    const dir = unpack(manifest, read, { env: { HOME: h } });
    // Read-only as unpacked; whoever runs as the same user (an unsandboxed agent) can change that.
    chmodSync(join(dir, 'dist/cli.js'), 0o644);
    appendFileSync(join(dir, 'dist/cli.js'), 'process.exit(0);\n');
    const said: string[] = [];
    expect(unpack(manifest, read, { env: { HOME: h }, warn: (m) => said.push(m) })).toBe(dir);
    expect(readFileSync(join(dir, 'dist/cli.js'), 'utf8')).toBe(FILES['dist/cli.js']);
    expect(said).toEqual([`${join(dir, 'dist/cli.js')} changed since iron-cage unpacked them: unpacking again`]);
    // The same length, other bytes: the hash finds it.
    chmodSync(join(dir, 'bin/iron-cage.js'), 0o644);
    writeFileSync(join(dir, 'bin/iron-cage.js'), FILES['bin/iron-cage.js']!.replace('hello', 'HELLO'));
    expect(changedFiles(dir, manifest)).toEqual(['bin/iron-cage.js']);
    unpack(manifest, read, { env: { HOME: h } });
    expect(changedFiles(dir, manifest)).toEqual([]);
    // Anything it does not list is found too: a module planted where `require` looks first, a link, a file made a folder.
    mkdirSync(join(dir, 'dist/node_modules/yaml'), { recursive: true });
    writeFileSync(join(dir, 'dist/node_modules/yaml/index.js'), 'planted');
    symlinkSync('/etc', join(dir, 'dist/web/etc'));
    expect(changedFiles(dir, manifest).sort()).toEqual(['dist/node_modules', 'dist/web/etc']);
    unpack(manifest, read, { env: { HOME: h } });
    expect(changedFiles(dir, manifest)).toEqual([]);
    expect(existsSync(join(dir, 'dist/node_modules'))).toBe(false);
    rmSync(join(dir, 'dist/cli.js'), { force: true });
    symlinkSync(join(h, 'elsewhere.js'), join(dir, 'dist/cli.js'));
    expect(changedFiles(dir, manifest)).toEqual(['dist/cli.js']);
    // Its files are read-only.
    expect(statSync(join(unpack(manifest, read, { env: { HOME: h } }), 'dist/cli.js')).mode & 0o777).toBe(0o444);
  });

  it('passes over a cache folder that others may write in or that is not a folder, for the next one', () => {
    const h = home();
    const shared = join(h, 'shared');
    mkdirSync(join(shared, 'iron-cage'), { recursive: true });
    chmodSync(join(shared, 'iron-cage'), 0o777);
    const { manifest, read } = build();
    const said: string[] = [];
    const dir = unpack(manifest, read, { env: { HOME: h, XDG_CACHE_HOME: shared }, warn: (m) => said.push(m) });
    expect(dir.startsWith(join(h, '.cache', 'iron-cage'))).toBe(true);
    expect(said).toEqual([`passing over the cache folder ${join(shared, 'iron-cage')} (writable by others (mode 777))`]);
    expect(readdirSync(join(shared, 'iron-cage'))).toEqual([]);
    // IRON_CAGE_CACHE_DIR alone, when set: a file there is refused with the reason and the fix.
    writeFileSync(join(h, 'file'), '');
    expect(() => unpack(manifest, read, { env: { HOME: h, IRON_CAGE_CACHE_DIR: join(h, 'file') } })).toThrow(
      /cannot unpack iron-cage into a cache folder \(.*file: .*\); set IRON_CAGE_CACHE_DIR to a folder of yours/,
    );
  });

  it('refuses a damaged executable (a file unlike its manifest) and a manifest naming a file outside its folder, writing nothing', () => {
    const h = home();
    const { manifest, read } = build();
    const damaged = (path: string) => (path === 'dist/cli.js' ? gzipSync('export const started = 1;\n') : read(path));
    expect(() => unpack(manifest, damaged, { env: { IRON_CAGE_CACHE_DIR: join(h, 'c') } })).toThrow(/the executable's copy of dist\/cli\.js does not match its manifest/);
    expect(readdirSync(join(h, 'c'))).toEqual([]);
    const escaping = { ...manifest, files: [...manifest.files, { path: '../../outside.js', sha256: '0'.repeat(64), size: 1 }] };
    expect(() => unpack(escaping, read, { env: { IRON_CAGE_CACHE_DIR: join(h, 'd') } })).toThrow(/names a file outside its folder: \.\.\/\.\.\/outside\.js/);
    expect(existsSync(join(h, 'd'))).toBe(false);
  });

  it('looks in IRON_CAGE_CACHE_DIR alone, else XDG_CACHE_HOME, ~/.cache, then a folder of this user in the temp folder', () => {
    expect(cacheRoots({ IRON_CAGE_CACHE_DIR: '/x', HOME: '/home/ann' })).toEqual(['/x']);
    expect(cacheRoots({ IRON_CAGE_CACHE_DIR: 'rel/cache' })).toEqual([join(process.cwd(), 'rel/cache')]);
    const roots = cacheRoots({ XDG_CACHE_HOME: '/xdg', HOME: '/home/ann' });
    expect(roots.slice(0, 2)).toEqual(['/xdg/iron-cage', '/home/ann/.cache/iron-cage']);
    expect(roots[2]).toMatch(/iron-cage-\d+$/);
    // A relative XDG_CACHE_HOME is ignored, as the XDG specification says.
    expect(cacheRoots({ XDG_CACHE_HOME: 'rel', HOME: '/home/ann' })[0]).toBe('/home/ann/.cache/iron-cage');
  });
});
