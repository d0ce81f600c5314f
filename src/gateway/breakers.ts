import type { ClassifyConfig, CircuitBreaker } from '../domain/reliability/index.js';
import type { BreakerRegistry } from '../reliability/index.js';

/**
 * What counts against a provider's breaker: 5xx answers, timeouts and broken connections. A 4xx
 * (a bad request, a rate limit on the account, 408 included) is the request's or the account's
 * matter, answered by a healthy provider; a request our own validation should have refused is
 * `request`, never a failure (DEFAULT_CLASSIFY). One agent's bad calls must not open the circuit
 * every other agent then pays for.
 */
export const PROVIDER_CLASSIFY: Partial<ClassifyConfig> = { failureStatuses: [] };

/** A provider's circuit breaker, by the provider's name. */
export type ProviderBreakers = (provider: string) => CircuitBreaker;

/**
 * Each provider's breaker, from the registry that saves, restores and shows every breaker, always
 * created with PROVIDER_CLASSIFY whoever asks first.
 *
 * @example
 *   const breakerOf = providerBreakers(registry);
 *   await breakerOf('openai').call(() => provider.call(req), judge);
 */
export function providerBreakers(registry: Pick<BreakerRegistry, 'breaker'>): ProviderBreakers {
  return (provider) => registry.breaker('provider', provider, { options: { classify: PROVIDER_CLASSIFY } });
}
