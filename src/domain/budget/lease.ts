import type { CentralSnapshot } from './account.js';

// The lease policy of central budgets (one budget shared by many runtimes): how much of a budget
// window the control panel grants a runtime that asks, what it takes back, and what it counts the
// runtime as having spent. Pure: the panel's store (src/state/panel/leases.store.ts) locks the
// budget's rows, reads the figures below, calls these functions and writes what they decide.
//
// The invariant every rule keeps: per window, Σ committed (max(granted, spent) of each runtime)
// never passes the limit by a grant (a cut limit may leave it above: then nothing more is granted).
// The rules, each in one place:
// - a runtime is given what it asks while the unleased headroom can meet every ask at once;
// - when it cannot (scarce, and another live runtime is short too), the headroom is shared in
//   proportion to the asking runtimes' spend rates, never less than the asker's next waiting call
//   when the headroom covers that (`fair share`);
// - a runtime whose next waiting call a grant would still not cover gets nothing rather than a
//   fragment (`no fragment`): fragments held by runtimes each waiting for more would strand the end
//   of a budget;
// - a runtime is counted as having spent at least what the panel knows (its landed rows, its last
//   report), whatever it says (`floor`);
// - a lease of a window that is over, or of a budget that no longer covers its runtime, comes down
//   to what the runtime spent and holds (`take-back`); a window that is over only ever gives back.
// The runtime's half (src/report/leases.ts asks with it): what to ask for (`leaseWant`), sized to
// its recent rate (`spendRate`), giving back what it does not need, and its own fragment at the end
// of a budget, so that the fragments of every runtime add up to whole calls the panel can grant.

/** A lease lives this long after a runtime's last lease call; it is reclaimed this long after it expired. */
export const LEASE_DEFAULTS = { ttlMs: 30_000, reclaimAfterMs: 600_000 } as const;
/** Another runtime that asked for more than it got within this long makes a budget contended (it is `demanding`). */
export const CONTENDED_WITHIN_MS = 5_000;
/** How soon a runtime asks again while a budget is contended (holders give surplus back quickly). */
export const CONTENDED_RENEW_MS = 400;

/** One budget's ask in a lease call (POST /api/leases), each figure in micro-dollars. */
export interface LeaseAsk {
  budget: string;
  window: number;
  /** The TOTAL grant it would like for the window (less than held now: the difference comes back). */
  want: number;
  /** What it charged locally in this window, and what its in-flight calls hold. */
  used: number;
  held: number;
  /** Its calls waiting for headroom, and the largest worst case one of them waits for. */
  waiting: number;
  need: number;
  /** Its recent spend per minute. */
  rate: number;
}

/**
 * Where a lease call stands in its runtime's order: the runtime process's start (epoch ms, on its
 * own clock) and the call's number within that process (1, 2, 3…; a retry is a new number).
 */
export interface LeaseOrder {
  incarnation: number;
  seq: number;
}

/** What the panel keeps of one runtime's lease in one budget window (micro-dollars; epoch ms). */
export interface LeaseHeld {
  grantedMicros: number;
  /** What its landed rows charged to the window. */
  spentMicros: number;
  /** What it said, at its last lease call, it had charged, and its calls held. */
  usedMicros: number;
  heldMicros: number;
  expiresAt: number;
}

/** What the other runtimes hold in one budget window, as a lease call weighs it (micro-dollars; sums over their leases). */
export interface OtherLeases {
  /** Σ max(granted, spent): what they have committed. */
  committed: number;
  /**
   * How many are demanding (live, and asked within CONTENDED_WITHIN_MS for more than they got),
   * Σ what they lack (wanted − granted), and Σ max(rate, 1), the weight of their rates in a share.
   */
  demanding: number;
  unmet: number;
  weight: number;
  /** Σ max(0, granted − max(spent, used + held)): what they hold beyond what they spent and their calls hold, and could give back. */
  surplus: number;
  /** Σ spent, and Σ max(spent, used). */
  spent: number;
  used: number;
  /** Σ max(0, granted − spent): leased out and not spent. */
  unspent: number;
  /** One of them is silent past its expiry and its grace, holding more than it reported spending. */
  reclaimable: boolean;
}

/** A window no other runtime holds a lease in. */
export const NO_OTHER_LEASES: OtherLeases = { committed: 0, demanding: 0, unmet: 0, weight: 0, surplus: 0, spent: 0, used: 0, unspent: 0, reclaimable: false };

/** A lease's committed amount: what it may still spend or has spent, whichever is more. Per window Σ committed ≤ limit. */
export const committed = (l: Pick<LeaseHeld, 'grantedMicros' | 'spentMicros'>): number => Math.max(l.grantedMicros, l.spentMicros);

/**
 * What the panel already counts a runtime as having spent on a lease: its landed rows, or what it
 * said it had used at its last call, whichever is more. (Not what its calls held then: after a
 * crash those are in its own rows when it kept them, at their cost or, for a stream, their
 * reservation; counting them here too would strand them. A runtime whose rows are gone adds
 * them itself: the answer's `held`.)
 */
export const knownSpent = (l: Pick<LeaseHeld, 'spentMicros' | 'usedMicros'>): number => Math.max(l.spentMicros, l.usedMicros);

/**
 * What a lease taken back comes down to: what its runtime reported spending or holding (its rows,
 * or used + held). The store says the same in SQL where it takes leases back by a condition
 * (`reportedSpend` in leases.store.ts: a silent runtime's lease reclaimed, an edit's take-back).
 */
export const takenBackTo = (l: Pick<LeaseHeld, 'spentMicros' | 'usedMicros' | 'heldMicros'>): number => Math.max(l.spentMicros, l.usedMicros + l.heldMicros);

/** A lease row as the window's figures read it. */
export interface LeaseRowFigures extends LeaseHeld {
  /** What its runtime last asked for in all, and its spend per minute then. */
  wantedMicros: number;
  ratePerMinMicros: number;
  /** When its runtime last called (epoch ms). */
  updatedAt: number;
}

/**
 * One lease's share of its window's figures (OtherLeases, which sums these over the other
 * runtimes). The panel's store sums the same in SQL over the rows it does not hold in memory
 * (leases.store.ts, `windowsRead`); test/state/budgets.store.test.ts holds the two equal.
 */
export function leaseFigures(l: LeaseRowFigures, now: number, reclaimAfterMs: number): OtherLeases {
  const demanding = l.expiresAt >= now && now - l.updatedAt <= CONTENDED_WITHIN_MS && l.wantedMicros > l.grantedMicros;
  return {
    committed: committed(l),
    demanding: demanding ? 1 : 0,
    unmet: demanding ? l.wantedMicros - l.grantedMicros : 0,
    weight: demanding ? Math.max(l.ratePerMinMicros, 1) : 0,
    surplus: Math.max(0, l.grantedMicros - takenBackTo(l)),
    spent: l.spentMicros,
    used: knownSpent(l),
    unspent: Math.max(0, l.grantedMicros - l.spentMicros),
    reclaimable: l.expiresAt > 0 && l.expiresAt < now - reclaimAfterMs && l.grantedMicros > takenBackTo(l),
  };
}

/** `a` with `b`'s figures added (`sign` 1) or taken away (−1); reclaimable when `a` is, or an added `b` is. */
export function addLeases(a: OtherLeases, b: OtherLeases, sign: 1 | -1 = 1): OtherLeases {
  return {
    committed: a.committed + sign * b.committed,
    demanding: a.demanding + sign * b.demanding,
    unmet: a.unmet + sign * b.unmet,
    weight: a.weight + sign * b.weight,
    surplus: a.surplus + sign * b.surplus,
    spent: a.spent + sign * b.spent,
    used: a.used + sign * b.used,
    unspent: a.unspent + sign * b.unspent,
    reclaimable: a.reclaimable || (sign > 0 && b.reclaimable),
  };
}

/**
 * A lease call's place against the newest call applied for its runtime: `stale` at or below it
 * (answered read-only: nothing of it is applied), `fresh` the first call of a newer process (it is
 * counted from what the panel knows). A call without an order (an older runtime) is neither.
 *
 * @example
 *   placeInOrder({ incarnation: 5, seq: 1 }, { incarnation: 5, seq: 2 }) // { stale: true, fresh: false }
 */
export function placeInOrder(order: LeaseOrder | null, applied: LeaseOrder): { stale: boolean; fresh: boolean } {
  if (order === null) return { stale: false, fresh: false };
  return {
    stale: order.incarnation < applied.incarnation || (order.incarnation === applied.incarnation && order.seq <= applied.seq),
    fresh: order.incarnation > applied.incarnation,
  };
}

/** What a lease call decides for one budget's current window. */
export interface LeaseDecision {
  /** Its TOTAL grant in the window: it may spend up to this, never more. */
  granted: number;
  /** It asked for more than it got. */
  short: boolean;
  /** What the runtimes lack is more than the unleased headroom, while some hold surplus or wait: holders hear it and give back. */
  contended: boolean;
  /** When the lease lapses unless renewed (epoch ms, the panel's clock). */
  expiresAt: number;
  /** Σ spent of every runtime. */
  spent: number;
  /** Σ max(0, granted − spent) of every runtime. */
  leased: number;
  /** limit − Σ committed after this grant, at least 0. */
  unleased: number;
  /** limit − Σ max(spent, used): what the fleet could still spend if every lease and hold came back. */
  left: number;
  /**
   * What the panel counts this runtime as having spent in the window already (its landed rows, its
   * last report): a runtime counts its own spend from at least this, so a runtime restarted with
   * an empty state file cannot spend its old grant again.
   */
  floor: number;
  /**
   * What its calls held here at its last lease call. A runtime that has no rows of this window (its
   * state file new or lost) counts these as spent too: a stopped process's calls may have been
   * charged, their rows lost with it.
   */
  held: number;
  /**
   * Its spend is counted from what the panel knows rather than from what it said, worth saying:
   * the first call of a new process (`restart`), or a report below what the panel knew (`lower`).
   */
  recount: 'restart' | 'lower' | null;
}

/**
 * One budget window's grant to a runtime: its ask applied (or, without one, its lease as it
 * stands), under the fair share and the no-fragment rule, and the window's figures after it.
 * `mine` is its lease row in the window (null: none yet); `ask` null when this call asked nothing
 * of the window or is stale; `fresh`: the first call of a new process of the runtime.
 *
 * @example
 *   const d = grantLease({ limit: 1_000_000, others: NO_OTHER_LEASES, mine: null, ask, fresh: false, now, ttlMs: 30_000 });
 */
export function grantLease(i: { limit: number; others: OtherLeases; mine: LeaseHeld | null; ask: LeaseAsk | null; fresh: boolean; now: number; ttlMs: number }): LeaseDecision {
  const { limit, others, mine, ask } = i;
  const cur = mine?.grantedMicros ?? 0;
  const spentMine = mine?.spentMicros ?? 0;
  // What this runtime is counted as having spent here: never less than the panel knows of it,
  // whatever it says (a runtime restarted with an empty state file says 0).
  const known = mine ? knownSpent(mine) : 0;
  const usedMine = Math.max(known, ask?.used ?? 0);
  const recount = mine && known + mine.heldMicros > 0 && (ask ? ask.used < known : i.fresh) ? (ask ? 'lower' : 'restart') : null;
  const avail = Math.max(0, limit - others.committed - Math.max(cur, spentMine));
  let granted = cur;
  let short = false;
  if (ask) {
    const floor = usedMine + ask.held;
    if (ask.want <= cur) granted = Math.min(cur, Math.max(ask.want, floor));
    else {
      const extra = ask.want - cur;
      let give = Math.min(extra, avail);
      // Scarce: the unleased headroom cannot meet this ask and the others' together. Only then
      // is it shared; while it can, each runtime gets what it asks (a busy budget far from its
      // limit never slows anyone down).
      if (others.demanding > 0 && avail < extra + others.unmet) {
        // Shares of the unleased headroom in proportion to each demanding runtime's rate
        // (this one included), never less than one waiting call's need when the headroom covers it.
        const weight = (rate: number) => Math.max(rate, 1);
        const share = Math.floor((avail * weight(ask.rate)) / (weight(ask.rate) + others.weight));
        // What its next waiting call needs beyond what its lease has free.
        const uncovered = Math.max(0, ask.need - Math.max(0, cur - floor));
        const need = uncovered > 0 && uncovered <= avail ? uncovered : 0;
        give = Math.min(extra, avail, Math.max(share, need));
      }
      // A runtime whose next waiting call this grant would still not cover gets nothing rather
      // than a fragment: fragments held by runtimes that each wait for more would strand the end
      // of a budget. It gives its own back (see the runtime's leases) and is served whole.
      if (ask.waiting > 0 && ask.need > 0 && give < extra && cur + give - floor < ask.need) give = 0;
      granted = cur + give;
      short = granted < ask.want;
    }
  }
  const spent = others.spent + spentMine;
  const unleased = Math.max(0, limit - others.committed - committed({ grantedMicros: granted, spentMicros: spentMine }));
  // Contended: what the runtimes still lack (this one after this grant, and the others) is more
  // than the unleased headroom holds, while some hold surplus or wait: holders hear it and give back.
  const lacking = (ask !== null && short ? ask.want - granted : 0) + others.unmet;
  return {
    granted,
    short,
    contended: lacking > unleased && (others.surplus > 0 || others.demanding > 0),
    expiresAt: ask ? i.now + i.ttlMs : (mine?.expiresAt ?? i.now + i.ttlMs),
    spent,
    leased: others.unspent + Math.max(0, granted - spentMine),
    unleased,
    left: Math.max(0, limit - others.used - Math.max(spentMine, usedMine)),
    floor: usedMine,
    held: ask ? ask.held : (mine?.heldMicros ?? 0),
    recount,
  };
}

/**
 * An ask for a lease outside the budget's current window. A budget still covering the runtime (a
 * window that is over) only gives back: its grant never grows there, and a larger want keeps it. A
 * budget that no longer covers the runtime: its grant becomes what the runtime spent and holds
 * there, at once, whatever it wants (`takenBack` when that lowered it).
 *
 * @example
 *   settleOutside(row, { ...ask, want: 0 }, true) // { granted: used + held, used, takenBack: false }
 */
export function settleOutside(l: Pick<LeaseHeld, 'grantedMicros' | 'spentMicros' | 'usedMicros'>, ask: LeaseAsk, covered: boolean): { granted: number; used: number; takenBack: boolean } {
  const used = Math.max(knownSpent(l), ask.used);
  const floor = used + ask.held;
  const granted = covered ? Math.min(l.grantedMicros, Math.max(ask.want, floor)) : Math.max(l.spentMicros, floor);
  return { granted, used, takenBack: !covered && granted < l.grantedMicros };
}

/** When a runtime should call again: soon while a budget it holds is contended, else halfway through its lease's life. */
export function renewInMs(contended: boolean, ttlMs: number): number {
  return contended ? CONTENDED_RENEW_MS : Math.max(100, Math.round(ttlMs / 2));
}

/**
 * What a runtime asks the panel for, for one lease (the TOTAL grant it wants): while `settling`
 * (shutting down, idle, or its budget or window gone), only what it spent and holds (the rest goes
 * back); at the end of a budget (a call waits that what is free here cannot pay for, and the panel
 * has too little unleased to top it up), that too: its fragment goes back; while contended, that and
 * what its waiting calls need; else at least its grant, and enough for its rate over `horizonMs`
 * (at least one more of its largest call) and for every waiting call.
 *
 * @example
 *   leaseWant({ granted: 0, unleased: 1e6, contended: false, largest: 5_000 }, snapshot, { settling: false, ratePerMin: 60_000, horizonMs: 20_000 })
 */
export function leaseWant(
  l: { granted: number; unleased: number; contended: boolean; largest: number },
  s: Pick<CentralSnapshot, 'spentMicros' | 'reservedMicros' | 'waitingCalls' | 'needMicros' | 'needSumMicros'>,
  o: { settling: boolean; ratePerMin: number; horizonMs: number },
): number {
  const base = s.spentMicros + s.reservedMicros;
  if (o.settling) return base;
  const free = Math.max(0, l.granted - base);
  if (s.waitingCalls > 0 && free < s.needMicros && l.unleased < s.needMicros - free) return base;
  if (l.contended) return base + s.needSumMicros;
  const ahead = Math.max(Math.ceil((o.ratePerMin * o.horizonMs) / 60_000), l.largest);
  return Math.max(l.granted, base + ahead + s.needSumMicros);
}

/** Spend per minute between the first and the last of `samples` ([when, spent so far], oldest first); 0 without two apart. */
export function spendRate(samples: ReadonlyArray<readonly [at: number, spent: number]>): number {
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined || last[0] <= first[0]) return 0;
  return Math.max(0, Math.round(((last[1] - first[1]) * 60_000) / (last[0] - first[0])));
}
