import { performance } from 'node:perf_hooks';
import type { NewEvent } from '../core/events.js';
import { formatUsd, type Micros } from '../core/money.js';
import { leaseWant, spendRate, type BudgetTracker, type CentralSnapshot } from '../domain/budget/index.js';
import { backoffDelayMs } from '../domain/reliability/index.js';
import type { RequestsStore, StateManager } from '../state/index.js';
import type { LeaseAnswer, LeaseAsk, LeaseBudget, LeaseOrder, PanelAnswer, PanelClient } from './client.js';

export interface LeasesOptions {
  /** The runtime's one tracker: each central budget's window is an account in it, agents linked to theirs. */
  tracker: BudgetTracker;
  /** The rows' `budgets` tags: a restarted runtime's spend on each central budget. */
  requests: Pick<RequestsStore, 'spendByBudget'>;
  /** Events, and the agents' names (a budget covers agents by name). */
  state: Pick<StateManager, 'record' | 'getAgent' | 'loadAgent'>;
  client: Pick<PanelClient, 'lease'>;
  /** The panel's URL as the operator wrote it, for the messages. */
  url: string;
  /** How often the accounts are looked at between lease calls (low, waiting, idle, expired). */
  pollMs?: number;
  /** The least time between two lease calls asked for sooner than the panel's renewInMs. */
  minGapMs?: number;
  /** An account with no call in flight or waiting, and no spend, for this long gives back all it does not use. */
  idleMs?: number;
  /** A lease is sized to the recent spend rate over this long (plus every waiting call's need). */
  horizonMs?: number;
  /** A lease counts as expired this long before the expiry the panel said (measured on this runtime's clock). */
  marginMs?: number;
  /** Back-off of a panel that does not answer a lease call: doubling from base to max, full jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** The last lease call at shutdown (everything given back) is bounded by this. */
  flushMs?: number;
  /** One lease call is bounded by this (a panel that hangs must not hold the loop past a lease's expiry). */
  askTimeoutMs?: number;
  random?: () => number;
  /** Wall clock (epoch ms): said in events and refusals. */
  now?: () => number;
  /** Monotonic clock (ms): expiry and pacing, so a clock step on this machine changes nothing. */
  clock?: () => number;
}

/** One central budget window this runtime holds (or held) a lease on. */
interface Lease {
  /** The tracker's account id, `central:<budget>@<window>`. */
  readonly id: string;
  /** `<budget>@<window>`: the rows' tag. */
  readonly key: string;
  readonly budget: string;
  readonly window: number;
  label: string;
  covers: 'all' | readonly string[];
  granted: Micros;
  ceiling: Micros;
  /** On the monotonic clock: from then on the lease counts as gone (no answer since). */
  expiresAt: number;
  contended: boolean;
  /** What the panel could still lease (its `unleased` at the last answer): worth asking for more when low. */
  unleased: Micros;
  /** Named in the last answer; else its budget or window is gone and it only waits for its calls to settle. */
  current: boolean;
  /** The panel is not answering and the lease expired (since, wall clock). */
  unavailableSince: number | null;
  /** The largest call seen on it: a lease is always asked for at least one more. */
  largest: Micros;
  /** Last figures seen, when they last changed (idle detection), and spend samples for the rate. */
  seen: string;
  activeAt: number;
  samples: Array<[at: number, spent: Micros]>;
  /** Calls waiting as the last lease call told the panel: when they are through, it is told so soon (its gauges and page show them). */
  toldWaiting: number;
}

/** The account that stands in for every central budget until the panel first answers: no call passes it. */
const GATE = 'central:@panel';
/** Spend samples kept for the rate: one a second, a minute of them. */
const RATE_WINDOW_MS = 60_000;

/**
 * Central budgets on this runtime (one budget shared by many runtimes): leases from the control panel's `POST /api/leases`,
 * kept as accounts in the runtime's one BudgetTracker, with every agent linked to the budgets
 * that cover it by name. The gateway reserves and settles locally as ever (no round trip per
 * call); this loop asks for more before a lease runs out (at the panel's `renewInMs`, sooner when
 * an account runs low or a call waits), gives back what it does not need (the panel says
 * contended, or the runtime is idle) and all of it at shutdown. A lease the panel does not renew
 * by its expiry (on this runtime's clock) stops covering new calls: they wait, and are refused
 * 402 when no lease came within `budget_policy.wait_ms`. Until the panel first answers, no call
 * passes (nothing is ever spent that no lease covered). After a restart, each budget's spend is
 * rebuilt from the rows' `budgets` tags, and never counted below the panel's `floor` (what it
 * knows this runtime spent there: a runtime restarted with an empty state file does not spend its
 * old grant again; with no rows of that window at all, it counts what its calls held then too). Each call carries this process's incarnation (its start) and its
 * number, so that a panel of several replicas applies them in order and answers an older one
 * stale; an answer to a call older than one applied is not used.
 *
 * @example
 *   const leases = new Leases({ tracker, requests, state, client, url });
 *   leases.start();
 *   // … at shutdown:
 *   await leases.close();
 */
export class Leases {
  private readonly o: Required<Omit<LeasesOptions, 'tracker' | 'requests' | 'state' | 'client' | 'url'>> & Pick<LeasesOptions, 'tracker' | 'requests' | 'state' | 'client' | 'url'>;
  private readonly leases = new Map<string, Lease>();
  /** Spend per key from the rows, for an account opened after a restart. */
  private readonly restored: Map<string, Micros>;
  private answered = false;
  private failures = 0;
  /** Monotonic ms: the next lease call is due then (the panel's renewInMs, or a back-off). */
  private nextAt = 0;
  private lastAskAt = Number.NEGATIVE_INFINITY;
  private closing = false;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  /** The lease call in flight (one at a time). */
  private asking: Promise<void> | null = null;
  private closed: Promise<void> | null = null;
  /** The gate's "unavailable" said (the panel has not answered since start). */
  private gateSaid = false;
  private readonly startedAt: number;
  /** This process's place in the runtime's lease calls: its start (epoch ms), moved past the panel's should a call come back stale. */
  private incarnation: number;
  /** The last lease call's number (1, 2, 3…: never reused, a retry is a new one), and the newest whose answer was applied. */
  private seq = 0;
  private appliedSeq = 0;
  private staleSaid = false;

  constructor(o: LeasesOptions) {
    this.o = {
      pollMs: 100,
      minGapMs: 250,
      idleMs: 10_000,
      horizonMs: 20_000,
      marginMs: 2_000,
      backoff: { baseMs: 250, maxMs: 2_000 },
      flushMs: 2_000,
      askTimeoutMs: 5_000,
      random: Math.random,
      now: Date.now,
      clock: () => performance.now(),
      ...o,
    };
    this.startedAt = this.o.now();
    this.incarnation = Math.max(1, Math.floor(this.startedAt));
    this.restored = this.o.requests.spendByBudget();
    const t = this.o.tracker;
    // Until the panel says which budgets cover which agents, every agent waits at the gate.
    t.setCentral(GATE, { key: null, label: "this runtime's central budgets", limitMicros: 0, ceilingMicros: Number.MAX_SAFE_INTEGER, unavailableSince: this.startedAt });
    t.linkWith((agentId) => this.covering(agentId));
    for (const agentId of t.agents()) t.link(agentId, this.covering(agentId));
  }

  /** Begin: the first lease call now, then a look every `pollMs`; nothing of it is on the request path. */
  start(): void {
    if (this.timer || this.closing) return;
    this.timer = setInterval(() => this.tick(), this.o.pollMs);
    this.timer.unref();
    this.tick();
  }

  /** Stop, and give back everything not spent or held (one bounded last call); calls of this runtime have ended by then. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.timer) clearInterval(this.timer);
      this.abort.abort();
      await this.asking;
      if (!this.answered || this.leases.size === 0) return;
      await this.o.client.lease(this.asks(true), AbortSignal.timeout(this.o.flushMs), this.next());
    })();
    return this.closed;
  }

  /** The next lease call's place in this runtime's order. */
  private next(): LeaseOrder {
    this.seq += 1;
    return { incarnation: this.incarnation, seq: this.seq };
  }

  /** The central accounts covering an agent now, by its name; the gate before the panel first answered. */
  private covering(agentId: string): string[] {
    if (!this.answered) return [GATE];
    const name = (this.o.state.getAgent(agentId) ?? this.o.state.loadAgent(agentId))?.name ?? null;
    const out: string[] = [];
    for (const l of this.leases.values()) if (l.current && (l.covers === 'all' || (name !== null && l.covers.includes(name)))) out.push(l.id);
    return out;
  }

  /** Each poll: the accounts looked at (expiry first), and a lease call when one is due. */
  private tick(): void {
    if (this.closing) return;
    const now = this.o.clock();
    this.look(now);
    if (this.asking !== null || !this.due(now)) return;
    this.asking = this.ask()
      .catch((err: unknown) => this.failed({ kind: 'retry', reason: String(err), retryAfterMs: null }))
      .finally(() => {
        this.asking = null;
      });
  }

  /** Each poll: spend samples and activity, and leases that expired with no answer. */
  private look(now: number): void {
    for (const l of this.leases.values()) {
      const s = this.o.tracker.central(l.id);
      if (s === null) continue;
      const seen = `${s.spentMicros}/${s.reservedMicros}/${s.waitingCalls}`;
      if (seen !== l.seen) {
        l.seen = seen;
        l.activeAt = now;
      }
      if (s.openReservations > 0) l.largest = Math.max(l.largest, Math.ceil(s.reservedMicros / s.openReservations));
      l.largest = Math.max(l.largest, s.needMicros);
      const last = l.samples.at(-1);
      if (last === undefined || now - last[0] >= 1_000) l.samples.push([now, s.spentMicros]);
      while (l.samples.length > 2 && now - l.samples[0]![0] > RATE_WINDOW_MS) l.samples.shift();
      if (l.current && l.unavailableSince === null && now >= l.expiresAt) this.expire(l, s);
    }
  }

  /** Whether to call the panel now: when due, or sooner (an account low, a call waiting, idle with surplus). */
  private due(now: number): boolean {
    if (now >= this.nextAt) return true;
    if (this.failures > 0 || now - this.lastAskAt < this.o.minGapMs) return false;
    if (!this.answered) return false;
    for (const l of this.leases.values()) {
      if (!l.current) continue;
      const s = this.o.tracker.central(l.id);
      if (s === null) continue;
      const want = this.want(l, s, false, now);
      if (s.waitingCalls > 0 && want > l.granted) return true;
      if (l.toldWaiting > 0 && s.waitingCalls === 0) return true;
      const free = l.granted - s.spentMicros - s.reservedMicros;
      if (free * 4 < l.granted && l.unleased > 0 && want > l.granted) return true;
      if (want < l.granted && this.idle(l, s, now)) return true;
    }
    return false;
  }

  private idle(l: Lease, s: CentralSnapshot, now: number): boolean {
    return s.reservedMicros === 0 && s.waitingCalls === 0 && now - l.activeAt >= this.o.idleMs;
  }

  /** The total grant to ask for (the policy: leaseWant); idle, what is spent and held. */
  private want(l: Lease, s: CentralSnapshot, closing: boolean, now: number): Micros {
    const settling = closing || !l.current || this.idle(l, s, now);
    return leaseWant(l, s, { settling, ratePerMin: settling ? 0 : spendRate(l.samples), horizonMs: this.o.horizonMs });
  }

  private asks(closing: boolean): LeaseAsk[] {
    const now = this.o.clock();
    const out: LeaseAsk[] = [];
    for (const l of this.leases.values()) {
      const s = this.o.tracker.central(l.id);
      if (s === null) continue;
      l.toldWaiting = s.waitingCalls;
      out.push({
        budget: l.budget,
        window: l.window,
        want: this.want(l, s, closing, now),
        used: s.spentMicros,
        held: s.reservedMicros,
        waiting: s.waitingCalls,
        need: s.needMicros,
        // The rate the panel's runway counts on: none once nothing here spends (idle: no call in
        // flight or waiting for idleMs; or stopping), not the last minute's while nothing runs.
        rate: closing || this.idle(l, s, now) ? 0 : spendRate(l.samples),
      });
    }
    return out;
  }

  private async ask(): Promise<void> {
    const asks = this.asks(false);
    // A return is locked here before it is sent: nothing above it is reserved while the answer is
    // on its way, for the panel may hand it to another runtime at once. Should the call fail, the
    // lease stays the smaller one (the panel's larger grant is only unused).
    for (const a of asks) {
      const l = this.leases.get(`${a.budget}@${a.window}`);
      if (l === undefined || !l.current || l.unavailableSince !== null || a.want >= l.granted) continue;
      l.granted = a.want;
      this.o.tracker.setCentral(l.id, { key: l.key, label: l.label, limitMicros: a.want, ceilingMicros: l.ceiling, unavailableSince: null });
    }
    const used = new Map(asks.map((a) => [`${a.budget}@${a.window}`, a.used]));
    // Held by calls, as said; null: said while the lease was still current (not yet given back).
    const held = new Map(asks.map((a) => [`${a.budget}@${a.window}`, this.leases.get(`${a.budget}@${a.window}`)?.current ? null : a.held]));
    const sent = this.o.clock();
    this.lastAskAt = sent;
    const order = this.next();
    const a = await this.o.client.lease(asks, AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.askTimeoutMs)]), order);
    if (this.closing) return;
    const arrived = this.o.clock();
    if (a.kind === 'ok') {
      // An answer to a call older than one already applied says what was, not what is.
      if (order.seq <= this.appliedSeq) return;
      if (a.value.stale) return this.stale(a.value);
      this.appliedSeq = order.seq;
      return this.apply(a.value, arrived, used, held, sent);
    }
    // An older panel, without central budgets: none covers this runtime.
    if (a.kind === 'rejected' && a.status === 404) {
      if (!this.answered)
        this.o.state.record({
          agentId: null,
          type: 'budget.lease',
          severity: 'info',
          message: `panel ${this.o.url} has no central budgets (no /api/leases): only this runtime's own budgets apply`,
          data: { budget: null, window: null, state: 'available', reason: 'HTTP 404', afterMs: null },
        });
      this.appliedSeq = order.seq;
      return this.apply({ now: this.o.now(), renewInMs: 60_000, stale: false, budgets: [] }, arrived, used, held);
    }
    this.failed(a);
  }

  private failed(a: Exclude<PanelAnswer<LeaseAnswer>, { kind: 'ok' }>): void {
    this.failures += 1;
    const retryAfter = a.kind === 'retry' ? a.retryAfterMs : null;
    const delay = Math.max(100, backoffDelayMs(this.failures, this.o.backoff.baseMs, this.o.backoff.maxMs, this.o.random));
    this.nextAt = this.o.clock() + (retryAfter !== null ? Math.min(retryAfter, this.o.backoff.maxMs) : delay);
    if (!this.answered && !this.gateSaid) {
      this.gateSaid = true;
      const reason = reasonOf(a);
      this.say({
        agentId: null,
        type: 'budget.lease',
        severity: 'warn',
        message: `central budgets unavailable: panel ${this.o.url} has not answered a lease call (${reason}); LLM calls wait for it (up to budget_policy.wait_ms), then are refused`,
        data: { budget: null, window: null, state: 'unavailable', reason, afterMs: null },
      });
    }
  }

  /**
   * The panel answered this process's newest call stale: it had applied a later call of this
   * runtime, so this process's incarnation is not above an earlier one's (this machine's clock was
   * set back since that process started, or another process runs with this runtime's token).
   * Nothing of the call was applied (a return locked before it stays locked: the panel's larger
   * grant is only unused). This process numbers its calls past the panel's and asks again soon.
   */
  private stale(a: LeaseAnswer): void {
    const was = this.incarnation;
    const theirs = a.applied?.incarnation ?? was;
    this.incarnation = Math.max(was, theirs) + 1;
    this.nextAt = this.o.clock() + this.o.minGapMs;
    if (this.staleSaid) return;
    this.staleSaid = true;
    const at = (ms: number) => (Number.isFinite(ms) && ms > 0 && ms < 8.64e15 ? new Date(ms).toISOString() : String(ms));
    this.say({
      agentId: null,
      type: 'budget.lease',
      severity: 'warn',
      message: `panel ${this.o.url} answered a lease call as stale: it had applied a later one of this runtime, from a process started at ${at(theirs)} (this one started at ${at(was)} by this machine's clock: was the clock set back, or does another process use this runtime's token?); nothing of it was applied, and this runtime's lease calls are numbered after that one from now on`,
      data: { budget: null, window: null, state: this.answered ? 'available' : 'unavailable', reason: 'stale lease call', afterMs: null },
    });
  }

  /** A lease answer: every budget covering this runtime now, its grant and what could be spent of it; agents linked again. */
  private apply(answer: LeaseAnswer, arrived: number, used: ReadonlyMap<string, Micros>, held: ReadonlyMap<string, Micros | null>, sent = arrived): void {
    const t = this.o.tracker;
    const first = !this.answered;
    this.answered = true;
    this.failures = 0;
    this.nextAt = arrived + answer.renewInMs;
    const named = new Set<string>();
    for (const b of answer.budgets) {
      const key = `${b.budget}@${b.window}`;
      named.add(key);
      const l = this.leases.get(key) ?? this.open(key, b, arrived);
      l.current = true;
      l.label = labelOf(b);
      l.covers = b.covers;
      l.granted = b.granted;
      l.contended = b.contended;
      l.unleased = Math.max(0, b.unleased);
      // Early by the margin, or a fifth of a short lease (a panel run with --lease-ttl 3s), and
      // counted from when the call was sent: the panel's clock read its `now` after that, so the
      // lease here never outlives the panel's (a slow answer only shortens it).
      const life = b.expiresAt - answer.now;
      l.expiresAt = sent + life - Math.min(this.o.marginMs, Math.floor(life / 5));
      // A lease this call did not ask for (the first call after a restart, a budget just created):
      // the answer carries its last expiry, maybe past. Ask again at once, and let the call that
      // renews it land before saying it expired.
      if (!used.has(key)) {
        this.nextAt = arrived;
        l.expiresAt = Math.max(l.expiresAt, arrived + 1_000);
      }
      // `left` counts this runtime at what it said it had used: what it may ever spend is that plus left.
      const spentThen = used.get(key) ?? t.central(l.id)?.spentMicros ?? 0;
      l.ceiling = Math.max(b.granted, spentThen + Math.max(0, b.left));
      const was = l.unavailableSince;
      l.unavailableSince = null;
      t.setCentral(l.id, { key, label: l.label, limitMicros: b.granted, ceilingMicros: l.ceiling, unavailableSince: null });
      if (was !== null) {
        const afterMs = Math.max(0, this.o.now() - was);
        this.say({
          agentId: null,
          type: 'budget.lease',
          severity: 'info',
          message: `${l.label} available again: panel ${this.o.url} answered after ${Math.round(afterMs / 1000)} s; ${formatUsd(b.granted)} leased to this runtime`,
          data: { budget: l.budget, window: l.window, state: 'available', reason: null, afterMs },
        });
      }
    }
    // A budget deleted, no longer covering this runtime, or a window that rolled over: no agent is
    // linked to it any more, so nothing new is taken from it; it is reported (everything but its
    // spend and holds given back) until its calls have settled and the panel has heard so.
    for (const [key, l] of this.leases) {
      if (named.has(key)) continue;
      const s = t.central(l.id);
      // Dropped with part of its grant unused: the next call, soon, says exactly what it spent and
      // holds there (the panel has already taken back the rest, down to what the call just sent said).
      if (l.current && s !== null && l.granted > s.spentMicros + s.reservedMicros) this.nextAt = Math.min(this.nextAt, arrived + this.o.minGapMs);
      l.current = false;
      if (s === null || (s.openReservations === 0 && held.get(key) === 0)) {
        // Should it cover this runtime again in this window (an admin's change undone), it counts from here.
        if (s !== null) this.restored.set(key, s.spentMicros);
        t.dropCentral(l.id);
        this.leases.delete(key);
      }
    }
    for (const agentId of t.agents()) t.link(agentId, this.covering(agentId));
    if (first) {
      t.dropCentral(GATE);
      if (this.gateSaid) {
        const afterMs = Math.max(0, this.o.now() - this.startedAt);
        this.say({
          agentId: null,
          type: 'budget.lease',
          severity: 'info',
          message: `central budgets available: panel ${this.o.url} answered after ${Math.round(afterMs / 1000)} s`,
          data: { budget: null, window: null, state: 'available', reason: null, afterMs },
        });
      }
    }
  }

  private open(key: string, b: LeaseBudget, now: number): Lease {
    const l: Lease = {
      id: `central:${key}`,
      key,
      budget: b.budget,
      window: b.window,
      label: labelOf(b),
      covers: b.covers,
      granted: 0,
      ceiling: 0,
      expiresAt: now,
      contended: false,
      unleased: 0,
      current: true,
      unavailableSince: null,
      largest: 0,
      seen: '',
      toldWaiting: 0,
      activeAt: now,
      samples: [],
    };
    this.leases.set(key, l);
    // Spend its rows recorded before a restart counts from the start (the panel counts the same
    // rows), and never less than the panel knows this runtime spent there: a state file that is
    // new or lost rows (a machine rebuilt) does not make its old grant spendable again. With no
    // row of this window at all, what its calls held at its last report counts too: a stopped
    // process's calls may have been charged, their rows lost with its file. (A file that kept its
    // rows already has those calls: a stream's at its reservation, `interrupted`.)
    const rows = this.restored.get(key);
    const known = rows === undefined ? (b.floor ?? 0) + (b.held ?? 0) : Math.max(rows, b.floor ?? 0);
    this.o.tracker.setCentral(l.id, { key, label: l.label, limitMicros: 0, ceilingMicros: null, spentMicros: known });
    if (known > (rows ?? 0))
      this.say({
        agentId: null,
        type: 'budget.lease',
        severity: 'warn',
        message: `${l.label}: the panel counts ${formatUsd(known)} of this window as spent by this runtime (${rows === undefined ? `what it spent and held at its last report; this runtime has no rows of the window: a state file new or lost` : 'what it last reported'}), more than its own rows show (${formatUsd(rows ?? 0)}); counted from ${formatUsd(known)}, so no more than ${formatUsd(Math.max(0, b.granted - known))} of its ${formatUsd(b.granted)} lease is spent here`,
        data: {
          budget: b.budget,
          window: b.window,
          state: 'available',
          reason: `spend counted from the panel's figures (${known} micro-dollars), not the ${rows ?? 0} of this runtime's rows`,
          afterMs: null,
        },
      });
    return l;
  }

  /** No answer by the lease's expiry (on this runtime's clock): it covers nothing new; calls wait for the panel, bounded. */
  private expire(l: Lease, s: CentralSnapshot): void {
    const since = this.o.now();
    l.unavailableSince = since;
    this.o.tracker.setCentral(l.id, { key: l.key, label: l.label, limitMicros: s.spentMicros + s.reservedMicros, ceilingMicros: l.ceiling, unavailableSince: since });
    this.say({
      agentId: null,
      type: 'budget.lease',
      severity: 'warn',
      message: `${l.label} unavailable: panel ${this.o.url} has not renewed this runtime's lease; ${formatUsd(s.spentMicros)} spent and ${formatUsd(s.reservedMicros)} held of it here, no new call is covered until the panel answers (calls wait up to budget_policy.wait_ms, then are refused)`,
      data: { budget: l.budget, window: l.window, state: 'unavailable', reason: 'the lease expired with no answer from the panel', afterMs: null },
    });
  }

  private say(e: NewEvent<'budget.lease'>): void {
    if (this.closing) return;
    try {
      this.o.state.record(e);
    } catch {
      // The state file is closing: nothing left to tell.
    }
  }
}

/** "team budget sales-team ($500.00/month)". */
function labelOf(b: Pick<LeaseBudget, 'scope' | 'budget' | 'limit' | 'period'>): string {
  return `${b.scope} budget ${b.budget} (${formatUsd(b.limit)}${b.period === 'none' ? '' : `/${b.period}`})`;
}

function reasonOf(a: Exclude<PanelAnswer<unknown>, { kind: 'ok' }>): string {
  if (a.kind === 'retry') return a.reason;
  if (a.kind === 'out_of_order') return 'HTTP 409';
  if (a.kind === 'too_large') return `HTTP 413: ${a.reason}`;
  return `HTTP ${a.status}${a.reason ? `: ${a.reason}` : ''}`;
}
