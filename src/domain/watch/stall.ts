import type { Loop } from './loops.js';
import type { SpendLog } from './spend.js';

// Stalls and what a loop cost.

/** Idle for `afterMs` or more since the last sign of life: a stall (once per idle stretch: the caller re-arms it on activity). */
export function stalled(lastActivityMs: number, nowMs: number, afterMs: number): boolean {
  return nowMs - lastActivityMs >= afterMs;
}

/**
 * What a loop cost, in micro-dollars. `spent`: the agent's LLM spend settled since the loop's
 * first sighting; `wasted`: the part after the first sighting: for a prompt loop exactly its
 * repeats (the rows of sightings 2..N), for a tool or function loop every call that started after
 * the first sighting (the model's turns the repetition took).
 */
export function loopMoney(loop: Loop, log: SpendLog | undefined): { spent: number; wasted: number } {
  const first = loop.sightings[0];
  if (!log || !first) return { spent: 0, wasted: 0 };
  const spent = log.settledSince(first.ms);
  if (loop.kind === 'prompt') {
    const repeats = new Set<number>();
    for (const s of loop.sightings.slice(1)) if (s.requestId !== null) repeats.add(s.requestId);
    return { spent, wasted: log.ofRows(repeats) };
  }
  return { spent, wasted: log.startedAfter(first.ms) };
}
