import { ConflictError, NotFoundError } from '../core/errors.js';
import { BREAKER_KINDS, type BreakerKind, type NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { CircuitBreaker, type BreakerOptionsInput, type BreakerState, type Clock } from '../domain/reliability/index.js';
import { BreakerStore, type SavedBreaker, type StateManager, type StoredBreaker } from '../state/index.js';
import { breakerLabel, resetEvent, restoredEvent, transitionEvent } from './messages.js';

/**
 * How often breakers whose counters moved are saved, so a kill -9 loses at most this much of
 * them. Transitions do not wait: they are saved at once, in the transaction of their event.
 */
export const COUNTERS_SAVE_MS = 200;

/** Let an elapsed cooldown's timer fire a little late rather than a little early (the breaker would stay OPEN). */
const COOLDOWN_SLACK_MS = 5;

/** Where each kind of breaker is saved and how its rows in GET /api/breakers name it. */
const KINDS: Record<BreakerKind, { prefix: string; field: string; missing: (name: string) => string }> = {
  tool: { prefix: '', field: 'service', missing: (name) => `no tool service '${name}' is configured` },
  // No tool service can be named with a colon: a provider's or an MCP server's row never meets a service's.
  provider: { prefix: 'llm:', field: 'provider', missing: (name) => `no LLM provider '${name}' has a circuit breaker` },
  mcp: { prefix: 'mcp:', field: 'server', missing: (name) => `no MCP server '${name}' is configured` },
};
const keyOf = (kind: BreakerKind, name: string) => `${KINDS[kind].prefix}${name}`;

/** The kind and name a saved row's key stands for (`llm:openai` → provider openai). */
function parseKey(key: string): { kind: BreakerKind; name: string } {
  for (const kind of BREAKER_KINDS) if (KINDS[kind].prefix !== '' && key.startsWith(KINDS[kind].prefix)) return { kind, name: key.slice(KINDS[kind].prefix.length) };
  return { kind: 'tool', name: key };
}

/**
 * An owner's own numbers about its breaker (the tool proxy's fallback tiers), kept in the
 * breaker's row: saved whenever the breaker is and handed back at start. Opaque to the registry.
 */
export interface BreakerExtra {
  snapshot(): object;
  /** What the last run saved (anything: the owner validates it), called once, at creation. */
  restore(saved: unknown): void;
}

export interface BreakerSpec {
  options?: BreakerOptionsInput;
  extra?: BreakerExtra;
  /** The agent whose call the breaker is judging, named by the event of a transition it causes. */
  cause?: () => string | null;
}

/** What GET /api/breakers shows of every breaker, whoever owns it. */
export interface BreakerView {
  state: BreakerState;
  /** Every call that asked the breaker, let through or not. */
  calls: number;
  successes: number;
  failures: number;
  /** Calls the circuit refused. */
  blocked: number;
  retryAfterMs: number;
  consecutiveFailures: number;
  openCount: number;
  openedAt: string | null;
  lastFailure: string | null;
  lastFailureAt: string | null;
  lastSuccessAt: string | null;
}

/** A breaker's row of GET /api/breakers: its name (`service` for a tool service, `provider` for an LLM provider, `server` for an MCP server), the view, and what its owner adds. */
export type BreakerRow<K extends BreakerKind = BreakerKind> = (K extends 'tool' ? { service: string } : K extends 'provider' ? { provider: string } : { server: string }) &
  BreakerView &
  Record<string, unknown>;

/** The name a row of GET /api/breakers gives its breaker, whatever its kind. */
export function rowName(kind: BreakerKind, row: BreakerRow): string {
  return String(row[KINDS[kind].field]);
}

/** What the owner of a kind adds to its breakers' rows in GET /api/breakers. */
export interface BreakerDetails {
  /** Each named breaker's extra fields, read in one pass (the tools count their cache once). */
  rows(names: readonly string[]): ReadonlyMap<string, object>;
  /** The kind's figures across its breakers (the tools' `totals`). */
  summary?(): object;
}

export interface BreakerRegistryDeps {
  state: StateManager;
  logger: Logger;
  /** Every breaker's clock (tests move one by hand); wall time by default, which a saved snapshot needs. */
  clock?: Clock;
}

interface Entry {
  kind: BreakerKind;
  name: string;
  breaker: CircuitBreaker;
  extra: BreakerExtra | null;
  cause: () => string | null;
  /** The row as last saved, in JSON: what the periodic save compares against. */
  saved: string;
  /** Turns OPEN into HALF_OPEN when the cooldown ends. */
  cooldown: NodeJS.Timeout | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const noCause = () => null;

/**
 * Every circuit breaker of the process, whoever calls through it (a tool service's, an LLM
 * provider's, an MCP server's), and everything around one that is not the state machine itself: creation with
 * its options, restore at start (a circuit OPEN when the process stopped is OPEN again, and
 * says so), each transition saved in the transaction of its event, counters saved every
 * COUNTERS_SAVE_MS and at close, the cooldown that turns OPEN into HALF_OPEN on time with
 * nobody calling, the admin reset, and what the API shows.
 *
 * @example
 *   const registry = new BreakerRegistry({ state, logger });
 *   const b = registry.breaker('provider', 'openai', { options: { classify: PROVIDER_CLASSIFY } });
 *   await b.call(() => upstream());
 *   registry.reset('provider', 'openai', 'admin ops');
 */
export class BreakerRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly details = new Map<BreakerKind, BreakerDetails>();
  private readonly store: BreakerStore;
  /** The last run's rows, read once: each is applied when its breaker is created. */
  private readonly stored: Map<string, StoredBreaker>;
  private readonly timer: NodeJS.Timeout;
  /**
   * Above 0 while the registry itself moves a breaker (a cooldown, a view, a reset): no agent's
   * call caused that transition, whatever call the owner is in the middle of judging.
   */
  private acting = 0;
  private closed = false;

  constructor(private readonly d: BreakerRegistryDeps) {
    this.store = new BreakerStore(d.state);
    this.stored = new Map(this.store.load().map((b) => [b.service, b]));
    this.timer = setInterval(() => this.saveChanged(), COUNTERS_SAVE_MS);
    this.timer.unref();
  }

  /**
   * The breaker of `kind` named `name`, created on the first ask (restored from the last run,
   * announced when that left it other than CLOSED); later asks get the same one, `spec` unread.
   */
  breaker(kind: BreakerKind, name: string, spec: BreakerSpec = {}): CircuitBreaker {
    const key = keyOf(kind, name);
    const known = this.entries.get(key);
    if (known) return known.breaker;
    const label = breakerLabel(kind, name);
    const breaker = new CircuitBreaker(name, spec.options, {
      clock: this.d.clock,
      onListenerError: (err) => this.d.logger.error({ err }, `breaker ${label}: transition listener failed`),
    });
    const e: Entry = { kind, name, breaker, extra: spec.extra ?? null, cause: spec.cause ?? noCause, saved: '', cooldown: null };
    const stored = this.stored.get(key);
    if (stored) {
      const { problems } = breaker.restore(stored.snapshot);
      e.extra?.restore(stored.tiers);
      const snap = breaker.snapshot();
      if (snap.state !== 'CLOSED' || problems.length > 0) this.d.state.record(restoredEvent(kind, snap, breaker.retryAfterMs(), problems));
    }
    e.saved = JSON.stringify(this.savedRow(e));
    breaker.onTransition((t) => {
      if (this.closed) return;
      this.schedule(e);
      // reset() saves with its own event, naming who asked.
      if (t.reason === 'manual_reset') return;
      const agentId = this.acting > 0 ? null : e.cause();
      this.save(e, transitionEvent(kind, t, breaker.options.cooldownMs, breaker.options.halfOpenMaxProbes, agentId));
    });
    this.entries.set(key, e);
    this.schedule(e);
    return breaker;
  }

  /**
   * The breakers of `kind` the state file holds that nobody has asked for yet, with what their
   * owner saved beside them: a service the last run had and this one's config does not (`serve`
   * on a demo's database), which its owner may still show as recorded.
   */
  recorded(kind: BreakerKind): Array<{ name: string; extra: unknown }> {
    const out: Array<{ name: string; extra: unknown }> = [];
    for (const [key, b] of this.stored) {
      const k = parseKey(key);
      if (k.kind !== kind || this.entries.has(key)) continue;
      out.push({ name: k.name, extra: b.tiers });
    }
    return out;
  }

  /** How the owner of `kind` completes its rows in GET /api/breakers. */
  describe(kind: BreakerKind, details: BreakerDetails): void {
    this.details.set(kind, details);
  }

  /** One breaker as the API shows it, an elapsed cooldown shown as HALF_OPEN. Throws NotFoundError. */
  view(kind: BreakerKind, name: string): BreakerView {
    return this.viewOf(this.entry(kind, name));
  }

  /** Every breaker of `kind`, in the order they were created, as rows of GET /api/breakers. */
  rows<K extends BreakerKind>(kind: K): BreakerRow<K>[] {
    return this.rowsOf(
      kind,
      [...this.entries.values()].filter((e) => e.kind === kind),
    );
  }

  /** One breaker's row of GET /api/breakers. Throws NotFoundError. */
  row<K extends BreakerKind>(kind: K, name: string): BreakerRow<K> {
    return this.rowsOf(kind, [this.entry(kind, name)])[0]!;
  }

  /** The owner's figures across the breakers of `kind`, if it keeps any. */
  summary(kind: BreakerKind): object | undefined {
    return this.details.get(kind)?.summary?.();
  }

  /**
   * The admin reset: back to CLOSED (counters kept), saved with an event naming who asked.
   * A CLOSED breaker is refused (ConflictError `stale`), nothing written: that is a second click
   * on a reset already done (by anyone, or by a recovery probe), and resetting it again would
   * clear its failure count, letting more calls reach a failing service before it trips.
   * Throws NotFoundError, ConflictError.
   */
  reset(kind: BreakerKind, name: string, requestedBy: string): void {
    const e = this.entry(kind, name);
    const from = e.breaker.state;
    if (from === 'CLOSED') throw new ConflictError(`circuit ${breakerLabel(kind, name)} is already CLOSED: nothing was reset`, 'stale');
    this.own(() => e.breaker.reset());
    this.save(e, resetEvent(kind, name, from, requestedBy));
  }

  /** Save the breakers whose row moved since it was last saved. */
  saveChanged(): void {
    if (this.closed) return;
    const changed = [...this.entries.values()]
      .map((e) => ({ e, row: this.savedRow(e) }))
      .map((c) => ({ ...c, json: JSON.stringify(c.row) }))
      .filter((c) => c.json !== c.e.saved);
    if (changed.length === 0) return;
    try {
      this.store.saveAll(changed.map((c) => c.row));
      for (const c of changed) c.e.saved = c.json;
    } catch (err) {
      this.d.logger.error({ err }, 'could not save the circuit breakers');
    }
  }

  /**
   * Save every breaker and stop: no timer, and later transitions are not saved (a call cut
   * off by the shutdown says nothing about its upstream). Before the owners close their
   * connections, for that reason.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const e of this.entries.values()) if (e.cooldown) clearTimeout(e.cooldown);
    try {
      this.store.saveAll([...this.entries.values()].map((e) => this.savedRow(e)));
    } catch (err) {
      this.d.logger.error({ err }, 'could not save the circuit breakers');
    }
  }

  private entry(kind: BreakerKind, name: string): Entry {
    const e = this.entries.get(keyOf(kind, name));
    if (!e) throw new NotFoundError(KINDS[kind].missing(name));
    return e;
  }

  private rowsOf<K extends BreakerKind>(kind: K, list: Entry[]): BreakerRow<K>[] {
    const extra = this.details.get(kind)?.rows(list.map((e) => e.name));
    return list.map((e) => ({ [KINDS[kind].field]: e.name, ...this.viewOf(e), ...extra?.get(e.name) }) as BreakerRow<K>);
  }

  private viewOf(e: Entry): BreakerView {
    this.own(() => e.breaker.refresh());
    const s = e.breaker.snapshot();
    return {
      state: s.state,
      calls: s.counters.allowed + s.counters.rejected,
      successes: s.counters.successes,
      failures: s.counters.failures,
      blocked: s.counters.rejected,
      retryAfterMs: e.breaker.retryAfterMs(),
      consecutiveFailures: s.consecutiveFailures,
      openCount: s.openCount,
      openedAt: iso(s.openedAt),
      lastFailure: s.lastFailureReason,
      lastFailureAt: iso(s.lastFailureAt),
      lastSuccessAt: iso(s.lastSuccessAt),
    };
  }

  private own<T>(fn: () => T): T {
    this.acting++;
    try {
      return fn();
    } finally {
      this.acting--;
    }
  }

  private savedRow(e: Entry): SavedBreaker {
    return { service: keyOf(e.kind, e.name), snapshot: e.breaker.snapshot(), tiers: e.extra?.snapshot() ?? {} };
  }

  private save(e: Entry, event: NewEvent): void {
    const row = this.savedRow(e);
    this.store.save(row, event);
    e.saved = JSON.stringify(row);
  }

  /** An OPEN breaker turns HALF_OPEN when its cooldown ends, traffic or not, so the feed says so on time. */
  private schedule(e: Entry): void {
    if (e.cooldown) clearTimeout(e.cooldown);
    e.cooldown = null;
    if (this.closed || e.breaker.state !== 'OPEN') return;
    e.cooldown = setTimeout(() => {
      e.cooldown = null;
      if (!this.closed) this.own(() => e.breaker.refresh());
    }, e.breaker.retryAfterMs() + COOLDOWN_SLACK_MS);
    e.cooldown.unref();
  }
}
