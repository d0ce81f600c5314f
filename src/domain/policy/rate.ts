// A policy rule's `rate` (`30/min`): at most `count` calls per agent in any `perMs` window. A
// window of the last calls' times per rule and agent, at most `count` long: memory is bounded by
// the rules' counts and the agents, and a refused call does not count.

export class RateWindows {
  private readonly windows = new Map<string, number[]>();

  /**
   * Counts the call and answers null when it is within the rate, else how long until it would
   * be (ms; the call is not counted).
   */
  take(key: string, count: number, perMs: number, now: number): number | null {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = []));
    while (w.length > 0 && w[0]! <= now - perMs) w.shift();
    if (w.length >= count) return w[0]! + perMs - now;
    w.push(now);
    return null;
  }
}
