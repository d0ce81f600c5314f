// Loops: the same thing (a tool call, a function call, a prompt) seen `count` times within a
// window. Pure: the caller says what it saw and when; the tracker says when that is a loop.

export type LoopKind = 'tool' | 'function' | 'prompt';

/** One sighting of a repeated thing: when, and the ledger row or tool-call row it was. */
export interface Sighting {
  ms: number;
  requestId: number | null;
  toolCallId: number | null;
}

/** One thing seen repeatedly (within the window). */
export interface Loop {
  kind: LoopKind;
  key: string;
  label: string;
  sightings: Sighting[];
  /** The count at which it was last reported (0: never, or not since it fell under the count). */
  reported: number;
  /** The seq of the last event that reported it (set by the caller). */
  seq: number | null;
  /** When it was last reported (epoch ms). */
  reportedMs: number | null;
}

export interface LoopRules {
  windowMs: number;
  /** How many sightings make a loop, per kind. */
  count: Record<LoopKind, number>;
}

/** Sightings kept per thing at most (a tight loop in a long window): the newest. */
const MAX_SIGHTINGS = 1000;
/** Distinct things remembered per agent at most (most are seen once): the least recently seen go first. */
const MAX_KEYS = 5000;

/**
 * Each agent's recent sightings, by kind and key. `see` answers the loop when this sighting
 * makes one: at the configured count, then again each time the count doubles (3, 6, 12…). A
 * thing that falls back under the count within the window (its old sightings aged out) is
 * reported afresh when it reaches it again.
 */
export class LoopTracker {
  private readonly agents = new Map<string, Map<string, Loop>>();

  constructor(private rules: LoopRules) {}

  /** `label` is asked for only when the sighting makes a loop (it may cost a PII scan). */
  see(agentId: string, kind: LoopKind, key: string, label: () => string, s: Sighting): Loop | null {
    let loops = this.agents.get(agentId);
    if (!loops) this.agents.set(agentId, (loops = new Map()));
    const id = `${kind}:${key}`;
    let loop = loops.get(id);
    if (loop) loops.delete(id);
    else loop = { kind, key, label: '', sightings: [], reported: 0, seq: null, reportedMs: null };
    // Most recently seen last: the first in the map is the one to forget.
    loops.set(id, loop);
    if (loops.size > MAX_KEYS) loops.delete(loops.keys().next().value!);
    this.age(loop, s.ms);
    loop.sightings.push(s);
    if (loop.sightings.length > MAX_SIGHTINGS) loop.sightings.shift();
    const n = loop.sightings.length;
    const count = this.rules.count[kind];
    if (n < count) {
      loop.reported = 0;
      return null;
    }
    if (loop.reported !== 0 && n < loop.reported * 2) return null;
    loop.reported = n;
    loop.reportedMs = s.ms;
    loop.label = label();
    return loop;
  }

  /** The agent's loops still within the window at `nowMs` (reported ones), newest report first. */
  active(agentId: string, nowMs: number): Loop[] {
    const loops = this.agents.get(agentId);
    if (!loops) return [];
    const out: Loop[] = [];
    for (const [id, loop] of loops) {
      this.age(loop, nowMs);
      if (loop.sightings.length === 0) loops.delete(id);
      else if (loop.reported > 0) out.push(loop);
    }
    return out.sort((a, b) => (b.reportedMs ?? 0) - (a.reportedMs ?? 0));
  }

  /** Drop what aged out of the window, for every agent (called now and then: memory stays bounded by the window). */
  sweep(nowMs: number): void {
    for (const [agentId, loops] of this.agents) {
      for (const [id, loop] of loops) {
        this.age(loop, nowMs);
        if (loop.sightings.length === 0) loops.delete(id);
      }
      if (loops.size === 0) this.agents.delete(agentId);
    }
  }

  forget(agentId: string): void {
    this.agents.delete(agentId);
  }

  private age(loop: Loop, nowMs: number): void {
    const from = nowMs - this.rules.windowMs;
    let i = 0;
    while (i < loop.sightings.length && loop.sightings[i]!.ms < from) i++;
    if (i > 0) loop.sightings.splice(0, i);
  }
}
