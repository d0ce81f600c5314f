#!/usr/bin/env node
// V8's young generation doubles (up to two 16 MB semi-spaces) while the modules load and would
// hold that for ~30 s of idle before giving it back: ~20 MB of an idle server's RSS. So it may
// not grow while they load, and grows as usual after, when a load of calls needs it (a cap for
// good cost 5-50% CPU per call at c=16: docs/benchmarks.md). The factor is read at each scavenge;
// --max-semi-space-size, read only when the heap is made, cannot be set from here.
// The old generation may grow to 1.5× what the last full GC left live (V8 picks 1.1-4× by its
// own speed measures, and under a load of calls let garbage pile up to ~300 MB): the gateway's
// peak RSS under the gateway benchmark's load 265-324 → 191-196 MB; CPU per call: the ranges overlap,
// a cost up to ~15% unresolved on a loaded 2-core machine (docs/benchmarks.md).
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');
setFlagsFromString('--heap-growing-percent=50');
// The CLI is bundled by `npm run build` (also run by `npm ci` through `prepare`).
await import('../dist/cli.js');
setFlagsFromString('--semi-space-growth-factor=2'); // V8's default
