import { CredentialScrubber } from '../domain/secrets/index.js';
import type { Provider } from './providers/types.js';

const scrubbers = new WeakMap<Provider, { key: string; scrub: CredentialScrubber }>();

/**
 * What takes a provider's own credentials (the API key iron-cage attaches) out of its answers:
 * a proxy or an OpenAI-compatible server that echoes request headers must not hand the agent,
 * the request row or the log the key the agent was never given. Made anew when the key changes.
 *
 * @example
 *   const { body, found } = scrubberOf(call.target.provider).buffer(raw);
 */
export function scrubberOf(provider: Provider): CredentialScrubber {
  const creds = provider.credentials();
  const key = creds.join('\u0000');
  let s = scrubbers.get(provider);
  if (s?.key !== key) scrubbers.set(provider, (s = { key, scrub: new CredentialScrubber(creds) }));
  return s.scrub;
}
