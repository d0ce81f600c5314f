import { createRequire } from 'node:module';
import type * as Undici from 'undici';

// undici (~5 MB of heap once loaded) is required when first used, not at start: a `serve` that
// has not yet called a provider, a panel, a webhook or a tool holds none of it. The first caller
// pays the require once (docs/benchmarks.md, Memory).
const requireCjs = createRequire(import.meta.url);
let loaded: typeof Undici | null = null;

/** undici, loaded on the first call. */
export function undici(): typeof Undici {
  loaded ??= requireCjs('undici') as typeof Undici;
  return loaded;
}

export type { Undici };
