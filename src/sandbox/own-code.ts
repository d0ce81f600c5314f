import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { executableFolder } from '../core/executable.js';

/**
 * iron-cage's own code on this machine, which the sandbox keeps read-only even inside a folder
 * the agent writes (the cage imports and requires from it long after it started): the
 * executable and the folder it unpacked itself into, or the install's bin/, dist/, demo/ and
 * node_modules/ (a clone's, or the npm package's).
 *
 * @example ownCode() // ['/home/ann/iron-cage/bin', '/home/ann/iron-cage/dist', …]
 */
export function ownCode(): string[] {
  const unpacked = executableFolder();
  if (unpacked !== null) return [process.execPath, unpacked];
  const root = installRoot();
  return root === null ? [] : ['bin', 'dist', 'demo', 'node_modules'].map((d) => join(root, d)).filter((d) => existsSync(d));
}

/** The folder of the package this code runs from (package.json named iron-cage, bin/iron-cage.js beside it), or null. */
function installRoot(): string | null {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      if (existsSync(join(dir, 'bin', 'iron-cage.js')) && JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'iron-cage') return dir;
    } catch {
      /* no package.json here */
    }
    if (dirname(dir) === dir) return null;
  }
}
