import type { Observer } from '../observability/index.js';
import type { Platform, Service } from '../server/index.js';
import type { PauseGate } from './gate.js';
import type { WatchAlert } from './messages.js';
import { watchRoutes } from './watch.routes.js';
import { Watch } from './watch.js';

export type WatchDepsOf = Pick<Platform, 'config' | 'state' | 'logger' | 'agents'> & {
  /** The runtime's one alert dispatcher. */
  alerts: { send(message: WatchAlert): void };
  /** PII out of a label or a reason before it is shown, stored or sent. */
  redact: (agentId: string, text: string) => string;
  /** The gate the gateway and the tool proxy hold a paused agent's calls at (built first: status objects count its held calls). */
  gate: PauseGate;
};

/**
 * The watch as a feature: an Observer the runtime adds to the gateway's and the tool proxy's,
 * an event subscriber, the pause gate, and its routes.
 */
export function watchService(ctx: WatchDepsOf): { service: Service; observer: Observer; watch: Watch } {
  const watch = new Watch({ config: ctx.config.watch, state: ctx.state, logger: ctx.logger, agents: ctx.agents, gate: ctx.gate, alerts: ctx.alerts, redact: ctx.redact });
  const unsubscribe = ctx.state.subscribe(watch.onEvent);
  watch.start();
  return {
    watch,
    observer: watch,
    service: {
      name: 'watch',
      apiRoutes: [watchRoutes({ state: ctx.state, watch, redact: ctx.redact })],
      close: () => {
        unsubscribe();
        watch.close();
      },
    },
  };
}
