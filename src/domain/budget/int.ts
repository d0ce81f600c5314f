// Integer arithmetic for money. Products of token counts, prices and progress counts can pass
// 2^53 (10M tokens at $1,000/M is 1e16), where float multiplication silently drops units, so
// each helper switches to BigInt whenever an intermediate is not a safe integer.

const SAFE = Number.MAX_SAFE_INTEGER;

/** floor(p / c) for safe non-negative integers; float division alone can land one off near 2^53. */
function floorDiv(p: number, c: number): number {
  let q = Math.floor(p / c);
  if (q * c > p) q -= 1;
  else if ((q + 1) * c <= p) q += 1;
  return q;
}

function toSafe(n: bigint): number {
  const v = Number(n);
  if (!Number.isSafeInteger(v)) throw new RangeError(`amount ${n} is beyond exact integer range`);
  return v;
}

/** ceil(Σ aᵢ·bᵢ / c) for non-negative integers, exact at any magnitude. */
export function dotCeilDiv(pairs: ReadonlyArray<readonly [number, number]>, c: number): number {
  let sum = 0;
  let safe = true;
  for (const [a, b] of pairs) {
    const p = a * b;
    sum += p;
    if (p > SAFE || sum > SAFE) safe = false;
  }
  if (safe) {
    const q = floorDiv(sum, c);
    return q * c === sum ? q : q + 1;
  }
  let big = 0n;
  for (const [a, b] of pairs) big += BigInt(a) * BigInt(b);
  const bc = BigInt(c);
  const q = big / bc;
  return toSafe(q * bc === big ? q : q + 1n);
}

/** ceil(a·b / c) for non-negative integers. */
export function mulDivCeil(a: number, b: number, c: number): number {
  return dotCeilDiv([[a, b]], c);
}

/** round-half-up(a·b / c) for non-negative integers. */
export function mulDivRound(a: number, b: number, c: number): number {
  const p = a * b;
  if (p <= SAFE && 2 * p + c <= SAFE) return floorDiv(2 * p + c, 2 * c);
  const bc = BigInt(c);
  return toSafe((2n * BigInt(a) * BigInt(b) + bc) / (2n * bc));
}

/** A count from the wire (provider usage, request fields) as a non-negative integer. */
export function toCount(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return 0;
  return Math.min(Math.ceil(v), SAFE);
}
