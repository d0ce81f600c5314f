#!/usr/bin/env node
// While the program loads and, for a command that serves, until its server listens (the CLI's
// `started`, core/startup.ts), V8 works as for code that runs once:
// - The young generation does not grow. It doubles (up to two 16 MB semi-spaces) while modules
//   load and would hold that for ~30 s of idle before giving it back: ~20 MB of an idle server's
//   RSS. It grows as usual after, when a load of calls needs it (a cap for good costs 5-50% CPU
//   per call at c=16: docs/benchmarks.md). The factor is read at each scavenge;
//   --max-semi-space-size, read only when the heap is made, cannot be set from here.
// - Nothing is optimised (neither Sparkplug nor TurboFan): start-up code runs once, and TurboFan
//   compiles on background threads, each with its own malloc arena: −4.5 MB idle while modules
//   load, −2 MB more held until the server listens (docs/benchmarks.md, Third round).
// The old generation may grow to 1.5× what the last full GC left live (V8 picks 1.1-4× by its
// own speed measures, and under a load of calls let garbage pile up to ~300 MB): the gateway's
// peak RSS under the gateway benchmark's load 209 → 186 MB beside Portkey's 198 and 194 (2×:
// 206 beside 200), 292 → 225 MB over the whole benchmark; CPU per call inside the noise (pinned
// A/B, JSON c=16 with 1.75×, 2× or V8's own: ×0.97-1.04 of this; docs/benchmarks.md).
// WebAssembly (undici's HTTP parser, llhttp) stays on Liftoff, V8's baseline wasm compiler:
// once hot, TurboFan recompiled llhttp's one huge parsing function with ~40 MB of zone memory for
// a few milliseconds, ~50 calls into a load: the process's high-water mark, whatever else it held.
// CPU a call with and without, pinned A/B at c=16: JSON ×0.94, stream ×0.98 (noise; the compile
// itself is CPU too).
import { setFlagsFromString } from 'node:v8';

const startUp = ['--semi-space-growth-factor=1', '--no-sparkplug', '--no-turbofan'];
const usual = ['--semi-space-growth-factor=2', '--sparkplug', '--turbofan']; // V8's defaults
for (const flag of startUp) setFlagsFromString(flag);
setFlagsFromString('--heap-growing-percent=50');
setFlagsFromString('--liftoff-only');
// The CLI is bundled by `npm run build` (also run by `npm ci` through `prepare`).
const { started } = await import('../dist/cli.js');
// Not awaited: a command that ends without serving must not be held by it.
started.then(() => {
  for (const flag of usual) setFlagsFromString(flag);
});
