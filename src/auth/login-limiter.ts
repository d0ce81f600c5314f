/**
 * Failed logins counted per key (a user name, a client address) over a fixed window from the
 * first failure. Memory is bounded: at `maxKeys` the expired entries go, and if none has
 * expired the oldest go (an attacker cycling names can only push out the oldest counts,
 * and the per-address count still holds them back).
 *
 * @example
 *   const l = new LoginLimiter({ maxFailures: 5, windowMs: 15 * 60_000 });
 *   l.blockedFor('name:ann') // 0 → go on; otherwise ms until a try is allowed again
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; since: number; told?: boolean }>();

  constructor(private readonly o: { maxFailures: number; windowMs: number; maxKeys?: number; now?: () => number }) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string): number {
    const f = this.failures.get(key);
    if (!f) return 0;
    const left = f.since + this.o.windowMs - this.now();
    if (left <= 0) {
      this.failures.delete(key);
      return 0;
    }
    return f.count >= this.o.maxFailures ? left : 0;
  }

  /** True the first time a blocked key is refused in its window (so a refusal is recorded once, not per attempt). */
  firstRefusal(key: string): boolean {
    const f = this.failures.get(key);
    if (!f || f.told || this.blockedFor(key) === 0) return false;
    f.told = true;
    return true;
  }

  /** One more failure for `key`; its window's count with this one. */
  fail(key: string): number {
    const now = this.now();
    const f = this.failures.get(key);
    if (f && f.since + this.o.windowMs > now) return ++f.count;
    this.failures.delete(key);
    if (this.failures.size >= (this.o.maxKeys ?? 10_000)) this.evict(now);
    this.failures.set(key, { count: 1, since: now });
    return 1;
  }

  /** Take back one failure counted for `key` (an attempt counted before it was checked, that succeeded). */
  forgive(key: string): void {
    const f = this.failures.get(key);
    if (f && --f.count <= 0) this.failures.delete(key);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  get size(): number {
    return this.failures.size;
  }

  private evict(now: number): void {
    for (const [k, f] of this.failures) if (f.since + this.o.windowMs <= now) this.failures.delete(k);
    const max = this.o.maxKeys ?? 10_000;
    // Map order is insertion order: the first keys are the oldest windows.
    for (const k of this.failures.keys()) {
      if (this.failures.size < max) break;
      this.failures.delete(k);
    }
  }
}
