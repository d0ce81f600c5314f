/**
 * A seeded generator (mulberry32) in [0, 1): small, fast, and the same sequence for the same seed
 * on every machine, for choices that must be reproducible (the simulator's answers, the injection
 * trainer's corpus, a test's interleavings). Not for secrets.
 * @example const r = mulberry32(60); r(); // 0.…, the same every run
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
