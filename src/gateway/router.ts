import type { GatewayConfig } from '../config/index.js';
import type { Provider, ProviderName } from './providers/types.js';
import type { Wire } from './wire/types.js';
import { PATH_OF } from './wire/wires.js';

export type Resolution = { ok: true; provider: Provider } | { ok: false; message: string };

/**
 * Model → provider. Config `routing` first (exact names, then the longest `prefix*`), else the
 * wire the agent used decides. A real provider without a key is answered by the simulated one,
 * never silently when a key is configured, and said once, on the first call routed to it
 * (`onSimulated`): a provider the run never calls is never warned about (the demo, whose one
 * upstream is its own mock, calls only OpenAI).
 */
export class Router {
  private readonly exact = new Map<string, ProviderName>();
  private readonly prefixes: Array<[string, ProviderName]> = [];
  /** The providers whose first call answered by the simulated one has been said. */
  private readonly said = new Set<ProviderName>();

  constructor(
    config: GatewayConfig,
    private readonly providers: Record<ProviderName, Provider>,
    private readonly onSimulated: (name: Exclude<ProviderName, 'simulated'>) => void = () => {},
  ) {
    for (const [k, v] of Object.entries(config.routing)) {
      if (k.endsWith('*')) this.prefixes.push([k.slice(0, -1), v]);
      else this.exact.set(k, v);
    }
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
  }

  /** What a provider name resolves to once missing keys are accounted for. */
  effective(name: ProviderName): Provider {
    const p = this.providers[name];
    if (name === 'simulated' || p.real) return p;
    if (!this.said.has(name)) {
      this.said.add(name);
      this.onSimulated(name);
    }
    return this.providers.simulated;
  }

  resolve(model: string, wire: Wire['name']): Resolution {
    const named = this.exact.get(model) ?? this.prefixes.find(([p]) => model.startsWith(p))?.[1] ?? wire;
    if (named !== 'simulated' && named !== wire) {
      const path = PATH_OF[named];
      return { ok: false, message: `model '${model}' is routed to ${named}: call it through ${path}` };
    }
    return { ok: true, provider: this.effective(named) };
  }
}
