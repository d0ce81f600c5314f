import { Permit, systemClock, type Acquisition, type BreakerDeps, type BreakerTransition, type Clock, type RestoreResult, type TransitionListener, type TransitionReason } from './breaker-types.js';
import { serviceName } from './check.js';
import { CircuitOpenError } from './errors.js';
import { validateBreakerOptions, type BreakerOptions, type BreakerOptionsInput } from './options.js';
import { classifyOutcome, defaultClassifier, judgeSafely, type CallOutcome, type Classifier, type Verdict } from './outcome.js';
import { RateWindow } from './rate-window.js';
import { FRESH_CORE, parseSnapshot, type BreakerCounters, type BreakerSnapshot, type BreakerState } from './snapshot.js';

export class CircuitBreaker {
  readonly service: string;
  readonly options: BreakerOptions;
  private readonly clock: Clock;
  private readonly window: RateWindow | null;
  private readonly listeners: TransitionListener[] = [];
  private readonly onListenerError: (error: unknown) => void;
  private readonly classifyDefault: Classifier<unknown>;

  private current: BreakerState = 'CLOSED';
  /** Bumped on every transition; outcomes of permits from an older generation decide nothing. */
  private generation = 0;
  private consecutiveFailures = 0;
  private halfOpenSuccesses = 0;
  private openedAt: number | null = null;
  /** Cached openedAt + cooldown so the open-circuit rejection is one comparison. */
  private retryAt = 0;
  private lastTransitionAt: number | null = null;
  private lastFailureAt: number | null = null;
  private lastFailureReason: string | null = null;
  private lastSuccessAt: number | null = null;
  private openCount = 0;
  private readonly probes = new Set<Permit>();
  private counters: BreakerCounters = { allowed: 0, rejected: 0, successes: 0, failures: 0, ignored: 0 };

  constructor(service: string, options: BreakerOptionsInput = {}, deps: BreakerDeps = {}) {
    this.service = serviceName(service, 'service');
    this.options = validateBreakerOptions(options);
    this.clock = deps.clock ?? systemClock;
    this.window = this.options.failureRate ? new RateWindow(this.options.failureRate) : null;
    this.onListenerError = deps.onListenerError ?? (() => {});
    this.classifyDefault = defaultClassifier(this.options.classify);
    if (deps.onTransition) this.listeners.push(deps.onTransition);
    if (deps.snapshot !== undefined) this.restore(deps.snapshot);
  }

  get state(): BreakerState {
    return this.current;
  }

  onTransition(listener: TransitionListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * The cooldown is evaluated lazily on the next call; a timer or UI that wants the
   * OPEN → HALF_OPEN transition to happen (and be announced) without traffic calls this.
   */
  refresh(): BreakerState {
    if (this.current === 'OPEN') {
      const now = this.clock.now();
      if (now >= this.retryAt) this.transition('HALF_OPEN', 'cooldown_elapsed', now, null);
    }
    return this.current;
  }

  /** Milliseconds until an OPEN circuit lets a probe through; 0 in the other states. */
  retryAfterMs(): number {
    return this.current === 'OPEN' ? Math.max(0, this.retryAt - this.clock.now()) : 0;
  }

  acquire(): Acquisition {
    const now = this.clock.now();
    if (this.current === 'OPEN') {
      if (now < this.retryAt) {
        this.counters.rejected++;
        return { allowed: false, reason: 'open', retryAfterMs: this.retryAt - now };
      }
      this.transition('HALF_OPEN', 'cooldown_elapsed', now, null);
    }
    if (this.current === 'HALF_OPEN') return this.acquireProbe(now);
    this.counters.allowed++;
    return { allowed: true, permit: new Permit(this, this.generation, false, now) };
  }

  record(permit: Permit, verdict: Verdict): void {
    if (permit.owner !== this) throw new Error(`permit belongs to breaker ${permit.owner.service}, not ${this.service}`);
    if (!permit.settle()) return;
    const now = this.clock.now();
    this.count(verdict, now);
    // A probe whose slot was reclaimed, or any permit from before a transition, is history.
    if (permit.probe && !this.probes.delete(permit)) return;
    if (permit.generation !== this.generation || verdict.kind === 'ignore') return;

    if (this.current === 'HALF_OPEN') {
      if (verdict.kind === 'failure') {
        this.consecutiveFailures++;
        this.open('probe_failed', now, null);
      } else if (++this.halfOpenSuccesses >= this.options.halfOpenSuccessThreshold) {
        this.transition('CLOSED', 'probe_succeeded', now, null);
      }
      return;
    }
    const failed = verdict.kind === 'failure';
    this.window?.add(now, failed);
    if (!failed) {
      this.consecutiveFailures = 0;
      return;
    }
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.options.failureThreshold) {
      this.open('consecutive_failures', now, this.window?.rate(now) ?? null);
    } else if (this.window?.tripped(now)) {
      this.open('failure_rate', now, this.window.rate(now));
    }
  }

  /** `record` with this breaker's own classification of an HTTP status or transport error. */
  recordOutcome(permit: Permit, outcome: CallOutcome): Verdict {
    const verdict = classifyOutcome(outcome, this.options.classify);
    this.record(permit, verdict);
    return verdict;
  }

  /**
   * Run `fn` through the breaker. Refusals throw CircuitOpenError; `fn`'s own result or
   * error comes back unchanged after the classifier has judged it.
   */
  async call<T>(fn: () => Promise<T>, classify?: Classifier<T>): Promise<T> {
    const acquired = this.acquire();
    if (!acquired.allowed) throw new CircuitOpenError(this.service, acquired.reason, acquired.retryAfterMs);
    const judge = (classify ?? this.classifyDefault) as Classifier<T>;
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      this.record(acquired.permit, judgeSafely(judge, { ok: false, error }));
      throw error;
    }
    this.record(acquired.permit, judgeSafely(judge, { ok: true, value }));
    return value;
  }

  /** Back to CLOSED with clean failure counts (the admin reset). Counters are kept. */
  reset(): void {
    const now = this.clock.now();
    if (this.current !== 'CLOSED') this.transition('CLOSED', 'manual_reset', now, null);
    // Failures already in flight belong to the episode the admin just dismissed.
    this.generation++;
    this.consecutiveFailures = 0;
    this.window?.clear();
  }

  snapshot(): BreakerSnapshot {
    return {
      version: 1,
      service: this.service,
      state: this.current,
      consecutiveFailures: this.consecutiveFailures,
      halfOpenSuccesses: this.halfOpenSuccesses,
      openedAt: this.openedAt,
      retryAt: this.current === 'OPEN' ? this.retryAt : null,
      lastTransitionAt: this.lastTransitionAt,
      lastFailureAt: this.lastFailureAt,
      lastFailureReason: this.lastFailureReason,
      lastSuccessAt: this.lastSuccessAt,
      openCount: this.openCount,
      counters: { ...this.counters },
    };
  }

  /**
   * Adopt a persisted snapshot. Permits in flight become stale and the failure-rate window
   * starts empty (it is not persisted). A snapshot that cannot be trusted leaves the breaker
   * CLOSED; `problems` says why, for a warning event.
   */
  restore(raw: unknown): RestoreResult {
    const now = this.clock.now();
    const parsed = parseSnapshot(raw, this.service, now);
    this.generation++;
    this.probes.clear();
    this.window?.clear();
    this.counters = parsed.counters;
    const core = parsed.core ?? FRESH_CORE;
    this.current = core.state;
    this.consecutiveFailures = core.consecutiveFailures;
    this.halfOpenSuccesses = core.state === 'HALF_OPEN' ? core.halfOpenSuccesses : 0;
    this.openedAt = core.state === 'CLOSED' ? null : core.openedAt;
    // The cooldown is today's config, not the one in force when the snapshot was taken.
    this.retryAt = core.state === 'OPEN' ? core.openedAt! + this.options.cooldownMs : 0;
    this.lastTransitionAt = core.lastTransitionAt;
    this.lastFailureAt = core.lastFailureAt;
    this.lastFailureReason = core.lastFailureReason;
    this.lastSuccessAt = core.lastSuccessAt;
    this.openCount = core.openCount;
    return { restored: parsed.core !== null, problems: parsed.problems };
  }

  private acquireProbe(now: number): Acquisition {
    const max = this.options.halfOpenMaxProbes;
    if (this.probes.size >= max) this.reclaimLostProbes(now);
    if (this.probes.size >= max) {
      this.counters.rejected++;
      const oldest = this.probes.values().next().value!;
      return {
        allowed: false,
        reason: 'half_open_busy',
        retryAfterMs: Math.max(0, oldest.issuedAt + this.options.probeTimeoutMs - now),
      };
    }
    const permit = new Permit(this, this.generation, true, now);
    this.probes.add(permit);
    this.counters.allowed++;
    return { allowed: true, permit };
  }

  private reclaimLostProbes(now: number): void {
    for (const probe of this.probes) {
      if (probe.issuedAt + this.options.probeTimeoutMs > now) break; // insertion order = age order
      this.probes.delete(probe);
    }
  }

  private count(verdict: Verdict, now: number): void {
    if (verdict.kind === 'success') {
      this.counters.successes++;
      this.lastSuccessAt = now;
    } else if (verdict.kind === 'failure') {
      this.counters.failures++;
      this.lastFailureAt = now;
      this.lastFailureReason = verdict.reason;
    } else {
      this.counters.ignored++;
    }
  }

  private open(reason: TransitionReason, now: number, failureRate: number | null): void {
    this.openedAt = now;
    this.retryAt = now + this.options.cooldownMs;
    this.openCount++;
    this.transition('OPEN', reason, now, failureRate);
  }

  private transition(to: BreakerState, reason: TransitionReason, now: number, failureRate: number | null): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.lastTransitionAt = now;
    this.halfOpenSuccesses = 0;
    this.probes.clear();
    if (to === 'CLOSED') {
      this.consecutiveFailures = 0;
      this.openedAt = null;
      this.window?.clear();
    }
    const event: BreakerTransition = {
      service: this.service,
      from,
      to,
      reason,
      at: now,
      consecutiveFailures: this.consecutiveFailures,
      failureRate,
      lastFailure: this.lastFailureReason,
      retryAt: to === 'OPEN' ? this.retryAt : null,
      openCount: this.openCount,
    };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
