// A call's stages as data. Every door of the cage (the LLM gateway's metered wires and its other
// surfaces, the tool proxy, the MCP endpoint and each class of MCP method) is one table over the
// same lifecycle: for each guard, the step that applies it at this door, the stage of the door it
// is applied inside, the door that applied it before this one, or why this door has none. A web
// framework names its request hooks and runs them in one order whatever the route; here the guards
// are the hooks, and a door is built only from a table that says something about every one of them,
// so a new door (or a new MCP method class, or a new guard) cannot be added without saying what it
// does with each. Each door runs the steps its table names in the lifecycle's order, and the ones
// that close a call (`record`, `observe`) whatever became of it. test/unit/doors.test.ts lists every
// door's guards in order, and what each door skips and why.

/** The guards of a call through the cage, in the one order every door applies them. */
export const LIFECYCLE = [
  'auth',
  'pause',
  'read',
  'allow',
  'pii',
  'injection',
  'policy',
  'budget',
  'send',
  'size',
  'answer.allow',
  'scrub',
  'answer.pii',
  'answer.injection',
  'answer.policy',
  'record',
  'observe',
] as const;
export type Guard = (typeof LIFECYCLE)[number];

/** What each guard is, the same at every door (what a door's step does for it is in its table). */
export const GUARD_IS: Readonly<Record<Guard, string>> = {
  auth: "the caller's token: an agent's own, of an agent this iron-cage knows whose run has not ended",
  pause: "the watch's gate: a paused agent's call waits here until it is resumed, nothing read, sent or charged",
  read: 'the request read within its bounds and validated, what it names looked up: a precise 4xx, never a crash',
  allow: "what passes by name alone: the config's allow-lists, what the server declared",
  pii: 'PII in what the agent sends, before it leaves the cage',
  injection: 'prompt injection in what the agent hands its model',
  policy: '`policies:` (allow, deny, rate, approve), before anything leaves or is charged',
  budget: "its cost held on the agent's budget (and every central one covering it) before it leaves",
  send: 'to the upstream through its breaker, bounded in time',
  size: 'the answer bounded in size',
  'answer.allow': "what the config's allow-lists refuse left out of the answer",
  scrub: 'the credentials the cage sent taken out of the answer',
  'answer.pii': 'PII in the answer, before the agent (or a row, an event, the log) has it',
  'answer.injection': 'prompt injection in the answer, before the agent reads it',
  'answer.policy': '`policies:` on the tool calls in the answer, before the agent runs them',
  record: 'a row or an event, whatever became of the call',
  observe: 'metrics, traces and the watch told of the call',
};

/** The guards that close a call: run last, whatever became of it (a refusal, an error), told what went wrong. */
const CLOSING: ReadonlySet<Guard> = new Set<Guard>(['record', 'observe']);
type Closing = 'record' | 'observe';

/** A step of this door applies the guard (what it does here, in words). */
export interface Here {
  readonly kind: 'here';
  readonly does: string;
}
/** The guard is applied inside another stage of this door (a stream's answer redacted event by event as `send` relays it). */
export interface Inside {
  readonly kind: 'inside';
  readonly stage: Guard;
  readonly does: string;
}
/** The guard was applied by another door the call passed first (the MCP endpoint, for each message it carries). */
export interface Before {
  readonly kind: 'before';
  readonly door: Tabled;
}
/** This door has no such guard, and says why. */
export interface Skip {
  readonly kind: 'skip';
  readonly why: string;
}
export type Entry = Here | Inside | Before | Skip;

export const here = (does: string): Here => ({ kind: 'here', does });
export const inside = (stage: Guard, does: string): Inside => ({ kind: 'inside', stage, does });
export const before = (door: Tabled): Before => ({ kind: 'before', door });
export const skip = (why: string): Skip => ({ kind: 'skip', why });

/** A door's table: an entry for every guard. */
export type Table = { readonly [G in Guard]: Entry };
/** A door as its table says it, whatever its steps. */
export interface Tabled {
  readonly name: string;
  readonly table: Table;
}

/** What went wrong in a call, as the closing steps are told: null when nothing did. */
export type Failure = { error: unknown } | null;
export type Step<C> = (c: C) => void | Promise<void>;
export type ClosingStep<C> = (c: C, failure: Failure) => void | Promise<void>;

/** The functions a table's `here` entries call for: exactly those guards, each a step (or a closing step). */
export type Steps<C, T extends Table> = { readonly [G in Guard as T[G] extends Here ? G : never]: G extends Closing ? ClosingStep<C> : Step<C> };

/** A guard as a door applies it: here, inside one of its stages, or before it by another door. */
export interface Applied {
  guard: Guard;
  how: 'here' | 'inside' | 'before';
  /** What the door does for it; for `inside`, the stage; for `before`, the door. */
  does: string;
}

/** Shortest reason a skip may give: a word is no reason. */
const MIN_REASON = 20;

export class Door<T extends Table = Table> implements Tabled {
  constructor(
    readonly name: string,
    readonly table: T,
  ) {
    const extra = Object.keys(table).filter((k) => !(LIFECYCLE as readonly string[]).includes(k));
    if (extra.length > 0) throw new Error(`door ${name}: ${extra.join(', ')} is no guard of the lifecycle (${LIFECYCLE.join(', ')})`);
    for (const g of LIFECYCLE) {
      const e = table[g] as Entry | undefined;
      if (e === undefined) throw new Error(`door ${name}: says nothing of the guard ${g}: a step, the stage it is inside, the door before it, or why it has none`);
      if (e.kind === 'skip' && e.why.trim().length < MIN_REASON) throw new Error(`door ${name}: skips ${g} without a reason ("${e.why}")`);
      if (e.kind === 'inside' && table[e.stage].kind !== 'here') throw new Error(`door ${name}: ${g} is inside ${e.stage}, which is no step of this door`);
      if (e.kind === 'before' && e.door.table[g].kind !== 'here') throw new Error(`door ${name}: ${g} is said to be applied by ${e.door.name}, which has no step for it`);
    }
  }

  /** The guards this door applies, in the order of the lifecycle. */
  applied(): Applied[] {
    const out: Applied[] = [];
    for (const guard of LIFECYCLE) {
      const e: Entry = this.table[guard];
      if (e.kind === 'here') out.push({ guard, how: 'here', does: e.does });
      else if (e.kind === 'inside') out.push({ guard, how: 'inside', does: `inside ${e.stage}: ${e.does}` });
      else if (e.kind === 'before') out.push({ guard, how: 'before', does: `by ${e.door.name}` });
    }
    return out;
  }

  /** The guards this door has none of, each with its reason. */
  skipped(): Array<{ guard: Guard; why: string }> {
    return LIFECYCLE.flatMap((guard) => {
      const e: Entry = this.table[guard];
      return e.kind === 'skip' ? [{ guard, why: e.why }] : [];
    });
  }

  /** The door's steps given their functions: what runs a call through it. */
  steps<C>(impl: Steps<C, T>): Chain<C> {
    const fns = impl as unknown as Partial<Record<Guard, Step<C> | ClosingStep<C>>>;
    const main: Step<C>[] = [];
    const closing: ClosingStep<C>[] = [];
    for (const g of LIFECYCLE) {
      const wanted = this.table[g].kind === 'here';
      const fn = fns[g];
      if (wanted !== (typeof fn === 'function')) throw new Error(`door ${this.name}: ${wanted ? `its step for ${g} is missing` : `${g} has a step but its table says ${this.table[g].kind}`}`);
      if (!fn) continue;
      if (CLOSING.has(g)) closing.push(fn as ClosingStep<C>);
      else main.push(fn as Step<C>);
    }
    return new Chain(this, main, closing);
  }
}

/**
 * A door's steps in order: each step in turn (awaited only when it returns a promise), then the
 * closing ones, told what went wrong; a step's error is thrown on once they ran. A closing step's
 * own error is thrown instead.
 */
export class Chain<C> {
  constructor(
    readonly door: Tabled,
    private readonly main: readonly Step<C>[],
    private readonly closing: readonly ClosingStep<C>[],
  ) {}

  async run(c: C): Promise<void> {
    let failure: Failure = null;
    try {
      for (const step of this.main) {
        const r = step(c);
        if (r !== undefined) await r;
      }
    } catch (error) {
      failure = { error };
    }
    for (const step of this.closing) {
      const r = step(c, failure);
      if (r !== undefined) await r;
    }
    if (failure !== null) throw failure.error;
  }
}
