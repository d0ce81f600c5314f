import { createRequire } from 'node:module';
import { join } from 'node:path';
import { getRawAsset } from 'node:sea';
import { pathToFileURL } from 'node:url';
import { AS_NODE, UNPACKED } from '../core/executable.js';
import { runAsNode } from './as-node.js';
import { type Manifest, unpack } from './unpack.js';

// The single executable's first code (Node's single executable applications run one CommonJS
// script whose `require` knows only Node's built-in modules): the files it holds are unpacked
// and checked (unpack.ts), then bin/iron-cage.js runs from that folder as it does from a clone or
// an npm install; or, for a Node agent iron-cage started from it, the agent's script (as-node.ts).
// A SEA's own script cannot `import()`; a file loaded by a real `require` can: boot.cjs is that file.

try {
  const manifest = JSON.parse(Buffer.from(getRawAsset('manifest.json') as ArrayBuffer).toString('utf8')) as Manifest;
  const dir = unpack(manifest, (path) => new Uint8Array(getRawAsset(path) as ArrayBuffer), { warn: (m) => process.stderr.write(`iron-cage: ${m}\n`) });
  process.env[UNPACKED] = dir;
  const boot = join(dir, 'boot.cjs');
  const load = createRequire(boot)(boot) as (url: string) => Promise<unknown>;
  if (process.env[AS_NODE] === '1') runAsNode(process.argv.slice(2), load).catch(fail);
  else load(pathToFileURL(join(dir, 'bin', 'iron-cage.js')).href).catch(fail);
} catch (e) {
  fail(e);
}

function fail(e: unknown): void {
  const err = e as Error;
  // As Node says what stopped a script; iron-cage's own errors are one line.
  process.stderr.write(process.env[AS_NODE] === '1' ? `${err?.stack ?? String(e)}\n` : `iron-cage: ${err?.message ?? String(e)}\n`);
  process.exit(1);
}
