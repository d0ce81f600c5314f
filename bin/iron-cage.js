#!/usr/bin/env node
// While the program loads and, for a command that serves, until its server listens (the CLI's
// `started`, core/startup.ts), V8 works as for code that runs once:
// - The young generation does not grow. It doubles (up to two 16 MB semi-spaces) while modules
//   load and would hold that for ~30 s of idle before giving it back: ~20 MB of an idle server's
//   RSS. It grows after, when a load of calls needs it, to two 8 MB semi-spaces (below). The
//   factor is read at each scavenge; --max-semi-space-size, read only when the heap is made,
//   cannot be set from here.
// - Nothing is optimised (neither Sparkplug nor TurboFan): start-up code runs once, and TurboFan
//   compiles on background threads, each with its own malloc arena: −4.5 MB idle while modules
//   load, −2 MB more held until the server listens (docs/benchmarks-history.md, Third round).
// The old generation may grow to 1.5× what the last full GC left live (V8 picks 1.1-4× by its
// own speed measures, and under a load of calls let garbage pile up to ~300 MB): the gateway's
// peak RSS under the gateway benchmark's load 209 → 186 MB beside Portkey's 198 and 194 (2×:
// 206 beside 200), 292 → 225 MB over the whole benchmark; CPU per call inside the noise (pinned
// A/B, JSON c=16 with 1.75×, 2× or V8's own: ×0.97-1.04 of this; docs/benchmarks-history.md).
// WebAssembly (undici's HTTP parser, llhttp) stays on Liftoff, V8's baseline wasm compiler:
// once hot, TurboFan recompiled llhttp's one huge parsing function with ~40 MB of zone memory for
// a few milliseconds, ~50 calls into a load: the process's high-water mark, whatever else it held.
// CPU a call with and without, pinned A/B at c=16: JSON ×0.94, stream ×0.98 (noise; the compile
// itself is CPU too).
// After start-up the young generation grows to two 8 MB semi-spaces, not V8's 16: the growth
// factor is set to 1 after each GC that finds it at that size, and back to 2 once V8 has shrunk
// it. Under `npm run bench -- memory` (3,000 short calls at c=16) the 16 MB semi-spaces were 32 MB
// of the peak with 1-13 MB used; capped at 8 MB the peak is 16 MB lower, CPU a call ×1.00 (a cap
// at 1 MB for good costs 5-50% CPU a call at c=16: docs/benchmarks-history.md, second round).
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const startUp = ['--semi-space-growth-factor=1', '--no-sparkplug', '--no-turbofan'];
const usual = ['--sparkplug', '--turbofan']; // V8's defaults
for (const flag of startUp) setFlagsFromString(flag);
setFlagsFromString('--heap-growing-percent=50');
setFlagsFromString('--liftoff-only');
// `scan` reads its input with the PII engine, whose first rounds V8 spends as much compiling as
// scanning: a function is optimised after 4× V8's bytecode budget (its feedback is
// then steadier: fewer compiles thrown away) and inlines half the bytecode. Its first three rounds
// on the near-miss records cost ×0.83-0.85 the CPU (all threads, one core) and ×0.83 the wall
// time (every core); warm rounds ×1.00; the gateway and the other commands keep V8's defaults.
if (process.argv[2] === 'scan') for (const flag of ['--interrupt-budget=270336', '--max-inlined-bytecode-size-cumulative=460']) setFlagsFromString(flag);
// The CLI is bundled by `npm run build` (also run by `npm ci` through `prepare`).
const { started } = await import('../dist/cli.js');
// Not awaited: a command that ends without serving must not be held by it.
started.then(() => {
  for (const flag of usual) setFlagsFromString(flag);
  capYoungGeneration(16 * 1024 * 1024);
});

/**
 * Lets the young generation (both semi-spaces) grow as V8 would, up to `bytes`. V8 grows it at a
 * scavenge, and the GCs are reported only after the task they ran in: one task that allocates a
 * lot that survives (the first call loading a BPE table: ~18 MB) would double it past the cap
 * before a check could run. So growth is allowed (factor 2) only after a report of calm GCs (a
 * task with at most two), and stopped (factor 1) after a burst or at the cap: the semi-spaces
 * stay at 1 MB from start-up through the first call and grow under the load that follows.
 */
function capYoungGeneration(bytes) {
  let factor = 1;
  new PerformanceObserver((list) => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    const want = young === undefined || young.space_size >= bytes || list.getEntries().length > 2 ? 1 : 2;
    if (want !== factor) setFlagsFromString(`--semi-space-growth-factor=${(factor = want)}`);
  }).observe({ entryTypes: ['gc'] });
}
