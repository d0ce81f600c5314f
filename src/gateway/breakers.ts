import type { NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { CircuitBreaker, type BreakerTransition, type ClassifyConfig } from '../domain/reliability/index.js';
import { BreakerStore, type StateManager } from '../state/index.js';

/**
 * What counts against a provider's breaker: 5xx answers, timeouts and broken connections. A 4xx
 * (a bad request, a rate limit on the account, 408 included) is the request's or the account's
 * matter, answered by a healthy provider; a request our own validation should have refused is
 * `request`, never a failure (DEFAULT_CLASSIFY). One agent's bad calls must not open the circuit
 * every other agent then pays for.
 */
export const PROVIDER_CLASSIFY: Partial<ClassifyConfig> = { failureStatuses: [] };

/** Where a provider's breaker is saved: no tool service can be named with a colon. */
export const providerBreakerKey = (provider: string) => `llm:${provider}`;

/** How often changed provider breaker counters are saved. */
const COUNTERS_SAVE_MS = 500;

export interface ProviderBreakerDeps {
  state: StateManager;
  logger: Logger;
  /** How a transition reads in the event feed (the tool breakers' wording). */
  transitionEvent: (t: BreakerTransition, cooldownMs: number, probes: number, agentId: string | null) => NewEvent;
}

/**
 * One breaker per provider, saved like the tool services' breakers: on every transition (with
 * its event, in one transaction), its counters every so often, and at shutdown; restored at start, so a provider whose
 * circuit was OPEN when the process stopped is not hammered again the moment it starts.
 *
 * @example
 *   const b = new ProviderBreakers(['openai', 'anthropic'], { state, logger, transitionEvent });
 *   b.map.get('openai')!.state // 'CLOSED', or what it was when the last run stopped
 */
export class ProviderBreakers {
  readonly map = new Map<string, CircuitBreaker>();
  private readonly store: BreakerStore;
  /** Each breaker's snapshot as last saved: what the next periodic save compares against. */
  private readonly saved = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    names: Iterable<string>,
    private readonly d: ProviderBreakerDeps,
  ) {
    this.store = new BreakerStore(d.state);
    const stored = new Map(this.store.load().map((b) => [b.service, b]));
    for (const name of names) {
      const b = new CircuitBreaker(name, { classify: PROVIDER_CLASSIFY }, { onListenerError: (err) => d.logger.error({ err }, `breaker ${name}: transition listener failed`) });
      const saved = stored.get(providerBreakerKey(name));
      if (saved) this.restored(b, b.restore(saved.snapshot).problems);
      b.onTransition((t) => this.store.save(this.row(b), d.transitionEvent(t, b.options.cooldownMs, b.options.halfOpenMaxProbes, null)));
      this.map.set(name, b);
      this.saved.set(name, JSON.stringify(b.snapshot()));
    }
    // Counters move on every call, not only on transitions: saved every so often (the tool
    // breakers' way), so a kill -9 loses at most the last COUNTERS_SAVE_MS of them.
    this.timer = setInterval(() => this.saveChanged(), COUNTERS_SAVE_MS);
    this.timer.unref?.();
  }

  /** Save the breakers whose snapshot moved since they were last saved. */
  saveChanged(): void {
    const changed = [...this.map.values()].map((b) => [b, JSON.stringify(b.snapshot())] as const).filter(([b, json]) => this.saved.get(b.service) !== json);
    if (changed.length === 0) return;
    try {
      this.store.saveAll(changed.map(([b]) => this.row(b)));
      for (const [b, json] of changed) this.saved.set(b.service, json);
    } catch (err) {
      this.d.logger.error({ err }, 'gateway: could not save the provider breaker counters');
    }
  }

  /** What GET /api/breakers shows for each provider, beside the tool services. */
  views() {
    return [...this.map.values()].map((b) => {
      b.refresh();
      const s = b.snapshot();
      const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      return {
        provider: b.service,
        state: s.state,
        calls: s.counters.allowed + s.counters.rejected,
        successes: s.counters.successes,
        failures: s.counters.failures,
        blocked: s.counters.rejected,
        retryAfterMs: b.retryAfterMs(),
        consecutiveFailures: s.consecutiveFailures,
        openCount: s.openCount,
        openedAt: iso(s.openedAt),
        lastFailure: s.lastFailureReason,
        lastFailureAt: iso(s.lastFailureAt),
        lastSuccessAt: iso(s.lastSuccessAt),
      };
    });
  }

  /** Save every breaker's counters and stop the periodic save (shutdown). */
  save(): void {
    clearInterval(this.timer);
    try {
      this.store.saveAll([...this.map.values()].map((b) => this.row(b)));
    } catch (err) {
      this.d.logger.error({ err }, 'gateway: could not save the provider breakers');
    }
  }

  private row(b: CircuitBreaker) {
    return { service: providerBreakerKey(b.service), snapshot: b.snapshot(), tiers: {} };
  }

  private restored(b: CircuitBreaker, problems: string[]): void {
    const s = b.snapshot();
    if (s.state === 'CLOSED' && problems.length === 0) return;
    const when = s.state === 'OPEN' ? `; probe in ${Math.ceil(b.retryAfterMs() / 1000)} s` : '';
    this.d.state.record({
      agentId: null,
      type: 'breaker.restored',
      severity: 'warn',
      message:
        problems.length > 0
          ? `Circuit ${b.service} (LLM provider): the saved state could not be trusted (${problems.join('; ')}); starting ${s.state}`
          : `Circuit ${b.service} (LLM provider) restored ${s.state} from the last run${when}`,
      data: { service: b.service, state: s.state, retryAt: s.retryAt === null ? null : new Date(s.retryAt).toISOString(), problems },
    });
  }
}
