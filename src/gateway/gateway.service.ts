import { preloadTokenizers } from '../domain/budget/index.js';
import { transitionEvent } from '../tools/index.js';
import type { Platform, Service } from '../server/index.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import type { LlmStore } from '../state/index.js';
import type { PiiProtection } from '../pii/index.js';
import { secretRef } from '../secrets/index.js';
import { budgetAlertMessage, type AlertDispatcher } from '../alerts/index.js';
import { ProviderBreakers } from './breakers.js';
import { budgetRoutes } from './budget.routes.js';
import { GatewayHandler } from './handler.js';
import { Meter } from './meter.js';
import { HttpProvider } from './providers/http.js';
import { SimulatedProvider } from './providers/simulated.js';
import type { Provider, ProviderName } from './providers/types.js';
import { providerRoutes } from './providers.routes.js';
import { Router } from './router.js';

/**
 * What the gateway needs: the platform, every agent's budget (the tracker status objects read
 * too), the LLM request record, PII protection for answers and prompts, and the runtime's alert
 * dispatcher for budget alerts.
 */
export type GatewayDeps = Pick<Platform, 'config' | 'state' | 'tokens' | 'logger' | 'url' | 'secrets' | 'agents'> & {
  budgets: BudgetTracker;
  llm: LlmStore;
  pii: PiiProtection;
  alerts: Pick<AlertDispatcher, 'send'>;
};

/** The LLM gateway for the runtime: providers, breakers, the money path, its routes and the agent's base URLs. */
export function gatewayService(ctx: GatewayDeps): Service {
  const g = ctx.config.gateway;
  const simulated = new SimulatedProvider(g.providers.simulated);
  // `api_key: secret:NAME` is read from the vault per call; anything else is the key itself.
  const http = (name: 'openai' | 'anthropic'): Provider => {
    const p = g.providers[name];
    if (!p.apiKey) return simulated;
    const ref = secretRef(p.apiKey);
    if (ref) ctx.secrets.want(ref);
    return new HttpProvider(name, p.baseUrl, ref ? () => ctx.secrets.get(ref) : p.apiKey, p.timeoutMs);
  };
  const providers: Record<ProviderName, Provider> = { openai: http('openai'), anthropic: http('anthropic'), simulated };
  const meter = new Meter({
    state: ctx.state,
    tracker: ctx.budgets,
    store: ctx.llm,
    config: g,
    alert: (a) => ctx.alerts.send(budgetAlertMessage({ ...a, dashboardUrl: ctx.url() || null })),
    stopAgent: (id, why) => void ctx.agents.stop(id, why),
    logger: ctx.logger,
  });
  meter.restore();
  // One breaker per provider, each transition an event and saved, like the tool services'.
  const saved = new ProviderBreakers(new Set(Object.values(providers).map((p) => p.name)), { state: ctx.state, logger: ctx.logger, transitionEvent });
  const breakers = saved.map;
  const handler = new GatewayHandler({
    state: ctx.state,
    store: ctx.llm,
    tokens: ctx.tokens,
    meter,
    router: new Router(g, providers),
    breakers,
    guard: ctx.pii.outputGuard(),
    config: g,
    logger: ctx.logger,
  });

  return {
    name: 'gateway',
    // `/messages`: the AI SDK appends only that to the printed ANTHROPIC_BASE_URL (no /v1).
    rawRoutes: [
      { prefix: '/v1/', handle: handler.handle },
      { prefix: '/messages', handle: handler.handle },
    ],
    apiRoutes: [budgetRoutes({ state: ctx.state, llm: ctx.llm, meter, baselineModel: g.baselineModel }), providerRoutes(providers, breakers, saved)],
    agentEnv: (_id, token) => ({
      OPENAI_BASE_URL: `${ctx.url()}/v1`,
      OPENAI_API_KEY: token,
      ANTHROPIC_BASE_URL: ctx.url(),
      ANTHROPIC_API_KEY: token,
      // @openai/agents exports traces (prompts included) straight to api.openai.com, past the
      // gateway's budget and redaction: off unless the operator's environment turned it on.
      OPENAI_AGENTS_DISABLE_TRACING: process.env.OPENAI_AGENTS_DISABLE_TRACING ?? '1',
    }),
    announce() {
      ctx.logger.info(`LLM gateway: OpenAI-compatible at ${ctx.url()}/v1, Anthropic-compatible at ${ctx.url()}`);
      for (const name of ['openai', 'anthropic'] as const) {
        if (!providers[name].real) {
          const env = name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
          ctx.logger.warn(
            `No ${name === 'openai' ? 'OpenAI' : 'Anthropic'} API key configured: ${name} calls are answered by the built-in SIMULATED provider (set ${env} or providers.${name}.api_key)`,
          );
        } else if (!secretRef(g.providers[name].apiKey)) {
          const env = name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
          ctx.logger.warn(
            `The ${name} key is in plain text (config or environment): move it into the vault with \`printf %s "$KEY" | iron-cage secrets set ${env} --env ${ctx.config.environment}\` and write providers.${name}.api_key: secret:${env}`,
          );
        }
      }
      // Load the BPE tables (about 0.2 s of synchronous work, once) just after start, before
      // an agent's first call can arrive, but not in the way of the first health checks.
      setTimeout(() => preloadTokenizers(), 100).unref();
    },
    async close() {
      saved.save();
      await Promise.all(Object.values(providers).map((p) => p.close()));
    },
  };
}
