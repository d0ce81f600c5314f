import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type * as Yaml from 'yaml';

// Dependencies a `serve` may never need are required when first used, not at start: each one
// loaded is heap, its source text and compiled code for the life of the process (undici ~5 MB;
// yaml, read only for a YAML config file or the demo's scenario). The first caller pays the
// require once (docs/benchmarks-history.md, Memory). A static `import` would load them at start: the
// bundle's imports of installed packages are all hoisted to its top.
const requireCjs = createRequire(import.meta.url);

function onFirstUse<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireCjs(name) as T);
}

/** undici, loaded on the first call. */
export const undici = onFirstUse<typeof Undici>('undici');

/** yaml, loaded when the first YAML text is read or written. */
export const yaml = onFirstUse<typeof Yaml>('yaml');

export type { Undici };
