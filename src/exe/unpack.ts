import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cacheRoots } from '../core/executable.js';

export { cacheRoots };

// The single executable (scripts/exe.mjs) holds iron-cage as an installed package would lay it out
// (bin/iron-cage.js, dist/: the code, the dashboard, the migrations, the Python SDK; node_modules/:
// the native addons and the packages required on first use), each file gzipped as one of Node's
// SEA assets and listed in a manifest with its SHA-256. On first use it is written to a folder of
// its own per version and build, under the user's cache folder; every start checks the folder
// against the manifest before any of it runs (the folder sits where the agent, run unsandboxed,
// could write: a file changed, added or made a link there means the folder is written again,
// never trusted). Its files are read-only; the sandbox mounts the folder read-only for the agent.

/** What the executable holds, as scripts/exe.mjs writes it. */
export interface Manifest {
  version: string;
  commit: string;
  /** SHA-256 over the files' paths and hashes: the folder's name, so two builds never share one. */
  id: string;
  files: Array<{ path: string; sha256: string; size: number }>;
}

export interface UnpackOptions {
  env?: NodeJS.ProcessEnv;
  /** One line for the user (a folder changed since it was unpacked, a cache folder passed over). */
  warn?: (message: string) => void;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * What in the folder is not as the manifest says: a file missing, of another size or hash, and
 * anything it does not list (a file added, a link, a folder where none should be), which a
 * `require` or `import` could find. None when the folder is intact.
 */
export function changedFiles(dir: string, manifest: Manifest): string[] {
  const changed: string[] = [];
  const listed = new Set(manifest.files.map((f) => f.path));
  const folders = new Set(
    manifest.files.flatMap((f) =>
      f.path
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    try {
      const st = lstatSync(path);
      if (!st.isFile() || st.size !== f.size || sha256(readFileSync(path)) !== f.sha256) changed.push(f.path);
    } catch {
      changed.push(f.path);
    }
  }
  const walk = (folder: string): void => {
    for (const e of readdirSync(folder, { withFileTypes: true })) {
      const rel = relative(dir, join(folder, e.name)).split(sep).join('/');
      if (e.isDirectory() && folders.has(rel)) walk(join(folder, e.name));
      else if (!(e.isFile() && listed.has(rel))) changed.push(rel);
    }
  };
  try {
    walk(dir);
  } catch {
    changed.push('.');
  }
  return [...new Set(changed)];
}

/**
 * The folder iron-cage runs from: this build's folder in the first cache root that is usable,
 * checked file by file and (re)written from the executable's assets when it is missing or changed.
 * `read(path)` gives a file's gzipped bytes.
 *
 * @example const dir = unpack(manifest, (p) => new Uint8Array(getRawAsset(p))); // ~/.cache/iron-cage/0.1.0-3f2a…
 */
export function unpack(manifest: Manifest, read: (path: string) => Uint8Array, options: UnpackOptions = {}): string {
  const warn = options.warn ?? (() => {});
  for (const f of manifest.files) safePath(f.path);
  const name = `${manifest.version}-${manifest.id.slice(0, 16)}`;
  const passed: string[] = [];
  for (const root of cacheRoots(options.env)) {
    try {
      ownRoot(root);
      const dir = join(root, name);
      if (existsSync(dir)) {
        const changed = changedFiles(dir, manifest);
        if (changed.length === 0) return dir;
        warn(`${join(dir, changed[0]!)}${changed.length > 1 ? ` and ${changed.length - 1} more files` : ''} changed since iron-cage unpacked them: unpacking again`);
      }
      return write(root, dir, manifest, read);
    } catch (e) {
      passed.push(`${root}: ${(e as Error).message}`);
      warn(`passing over the cache folder ${root} (${(e as Error).message})`);
    }
  }
  throw new Error(`cannot unpack iron-cage into a cache folder (${passed.join('; ')}); set IRON_CAGE_CACHE_DIR to a folder of yours`);
}

/** A manifest path is relative and stays inside the folder. */
function safePath(path: string): void {
  const n = normalize(path);
  if (isAbsolute(n) || n === '..' || n.startsWith(`..${sep}`) || n.includes('\0')) throw new Error(`the executable's manifest names a file outside its folder: ${path}`);
}

/** The cache root exists, is a folder of this user, and nobody else may write in it. */
function ownRoot(root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const st = lstatSync(root);
  if (!st.isDirectory()) throw new Error('not a folder');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not by this user (${uid})`);
  if ((st.mode & 0o022) !== 0) throw new Error(`writable by others (mode ${(st.mode & 0o777).toString(8)})`);
}

/** Writes the build's files into a new folder beside `dir` and puts it in its place whole. */
function write(root: string, dir: string, manifest: Manifest, read: (path: string) => Uint8Array): string {
  const unique = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const fresh = join(root, `.unpacking-${unique}`);
  try {
    for (const f of manifest.files) {
      const data = gunzipSync(read(f.path));
      if (data.length !== f.size || sha256(data) !== f.sha256) throw new Error(`the executable's copy of ${f.path} does not match its manifest: the file is damaged, download it again`);
      const path = join(fresh, f.path);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      const fd = openSync(path, 'wx', 0o444);
      try {
        writeSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    // Another iron-cage may have unpacked (or repaired) the same build meanwhile: a folder that is
    // intact now is kept, and ours dropped; only one that is not is set aside for ours.
    if (existsSync(dir) && changedFiles(dir, manifest).length === 0) return dir;
    const old = join(root, `.old-${unique}`);
    if (existsSync(dir)) renameSync(dir, old);
    try {
      renameSync(fresh, dir);
    } catch (e) {
      if (existsSync(dir) && changedFiles(dir, manifest).length === 0) return dir;
      throw e;
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
    return dir;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}
