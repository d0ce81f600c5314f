import { NO_OBSERVER, type Observer } from '../observability/index.js';
import type { Platform, Service } from '../server/index.js';
import type { BudgetService } from '../budget/index.js';
import { ConversationsStore, ResponsesStore, type RequestsStore } from '../state/index.js';
import { loadOrCreateKey, stateFilesFor } from '../auth/index.js';
import type { PiiProtection } from '../pii/index.js';
import { configRef } from '../domain/secrets/index.js';
import type { BreakerRegistry } from '../reliability/index.js';
import { providerBreakers } from './breakers.js';
import { GatewayHandler } from './handler.js';
import { Meter } from './meter.js';
import { HttpProvider } from './providers/http.js';
import { SimulatedProvider } from './providers/simulated.js';
import { simulatedCatalog } from './providers/sim/catalog.js';
import type { Provider, ProviderName } from './providers/types.js';
import { providerRoutes } from './providers.routes.js';
import { Conversations } from './conversations.js';
import { ResponsesState, responsesKey } from './responses-state.js';
import { SealedJson, StoredQuota } from './stored-items.js';
import { ResponsesSockets } from './responses-socket.js';
import { Router } from './router.js';
import type { AgentGate } from '../watch/index.js';
import type { InjectionGuard } from '../injection/index.js';
import type { AnswerPolicy } from './held-calls.js';

/** What the gateway needs: the platform, budgets (its money path spends through them), the llm_requests table, PII protection for answers and prompts, and the providers' circuit breakers. */
export type GatewayDeps = Pick<Platform, 'config' | 'state' | 'tokens' | 'logger' | 'url' | 'secrets'> & {
  budget: Pick<BudgetService, 'budgets' | 'notices' | 'book'> & Partial<Pick<BudgetService, 'marks'>>;
  requests: RequestsStore;
  pii: PiiProtection;
  breakers: Pick<BreakerRegistry, 'breaker' | 'view'>;
  /** Metrics and traces (observability/): told of every call; none by default. */
  observer?: Observer;
  /** A paused agent's calls wait here (src/watch); none: no agent is ever paused. */
  gate?: AgentGate;
  /** Prompt injection in the tool results agents send (`safety.injection`); none: not looked for. */
  injection?: InjectionGuard | undefined;
  /** The tool policies, for the tool calls in answers (`match.llm_tool`, src/approvals); none: every answer goes as it came. */
  policy?: AnswerPolicy;
};

/** The LLM gateway for the runtime: providers, breakers, the money path, its routes and the agent's base URLs. */
export function gatewayService(ctx: GatewayDeps): Service {
  const g = ctx.config.gateway;
  const observer = ctx.observer ?? NO_OBSERVER;
  // It fails as a provider does on a model no provider has: agents are developed against it.
  const simulated = new SimulatedProvider(g.providers.simulated, simulatedCatalog(ctx.budget.book, g));
  // `api_key: secret:NAME` (this runtime's vault) or `panel:NAME` (the control panel's) is read per call; anything else is the key itself.
  const http = (name: 'openai' | 'anthropic'): Provider => {
    const p = g.providers[name];
    if (!p.apiKey) return simulated;
    const ref = configRef(p.apiKey);
    if (ref) ctx.secrets.want(ref);
    return new HttpProvider(name, p.baseUrl, ref ? () => ctx.secrets.get(ref) : p.apiKey, p.timeoutMs);
  };
  const providers: Record<ProviderName, Provider> = { openai: http('openai'), anthropic: http('anthropic'), simulated };
  // What `store: true` and conversations keep, sealed under a key of its own derived from the secret beside the state file.
  const sealed = new SealedJson(responsesKey(loadOrCreateKey(stateFilesFor(ctx.config.db).auditKey).key), ctx.logger);
  // What one agent may keep stored: its usage as the state file's triggers keep it.
  const quota = new StoredQuota(g.responses, (agentId) => ctx.state.storedUsage(agentId));
  const conversations: Conversations = new Conversations({
    store: new ConversationsStore(ctx.state),
    sealed,
    retentionMs: g.responses.retentionMs,
    maxRequestBytes: g.maxRequestBytes,
    logger: ctx.logger,
    resolveItem: (agentId, id, expansion, now): Record<string, unknown> => responses.item(agentId, id, expansion, now),
    limits: g.responses,
    quota,
  });
  const responses = new ResponsesState({ store: new ResponsesStore(ctx.state), sealed, conversations, retentionMs: g.responses.retentionMs, limits: g.responses, quota, logger: ctx.logger });
  const meter = new Meter({
    tracker: ctx.budget.budgets.tracker,
    book: ctx.budget.book,
    notices: ctx.budget.notices,
    state: ctx.state,
    requests: ctx.requests,
    config: g,
    logger: ctx.logger,
    responses,
    observer,
    ...(ctx.budget.marks ? { marks: ctx.budget.marks } : {}),
  });
  // One breaker per provider, asked for now so one OPEN when the last run stopped is OPEN (and says so) before the first call.
  const breakers = providerBreakers(ctx.breakers);
  for (const p of Object.values(providers)) breakers(p.name);
  const handler = new GatewayHandler({
    state: ctx.state,
    tokens: ctx.tokens,
    meter,
    budgets: ctx.budget.budgets,
    // A provider without a key is warned about on the first call routed to it, not at start for every provider.
    router: new Router(g, providers, (name) => {
      const env = name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
      ctx.logger.warn(`No ${name === 'openai' ? 'OpenAI' : 'Anthropic'} API key configured: ${name} calls are answered by the built-in SIMULATED provider (set ${env} or providers.${name}.api_key)`);
    }),
    breakers,
    guard: ctx.pii.outputGuard(),
    responses,
    conversations,
    config: g,
    logger: ctx.logger,
    observer,
    gate: ctx.gate,
    ...(ctx.injection ? { injection: ctx.injection } : {}),
    ...(ctx.policy ? { tools: ctx.policy } : {}),
  });

  // The Responses API over a WebSocket: each call handed to the same handler.
  const sockets = new ResponsesSockets({ handler, responses, maxRequestBytes: g.maxRequestBytes, logger: ctx.logger });

  return {
    name: 'gateway',
    // `/messages`: the AI SDK appends only that to the printed ANTHROPIC_BASE_URL (no /v1).
    rawRoutes: [
      { prefix: '/v1/', handle: handler.handle },
      { prefix: '/messages', handle: handler.handle },
    ],
    upgradeRoutes: [sockets.route],
    apiRoutes: [providerRoutes(providers, ctx.breakers)],
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
      const script = g.providers.simulated.script;
      if (script)
        ctx.logger.info(
          `Simulated provider: scripted by ${script.file} (${script.conversations.length} conversation${script.conversations.length === 1 ? '' : 's'}); requests it does not take get ${script.otherwise ? 'its otherwise text' : 'the ordinary simulated answer'}`,
        );
      for (const name of ['openai', 'anthropic'] as const) {
        // A provider without a key is said on its first call (the Router's onSimulated above).
        if (providers[name].real && !configRef(g.providers[name].apiKey)) {
          const env = name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
          ctx.logger.warn(
            `The ${name} key is in plain text (config or environment): move it into the vault with \`printf %s "$KEY" | iron-cage secrets set ${env} --env ${ctx.config.environment}\` and write providers.${name}.api_key: secret:${env}`,
          );
        }
      }
    },
    stopping() {
      sockets.stopping();
    },
    async close() {
      sockets.close();
      responses.close();
      await Promise.all(Object.values(providers).map((p) => p.close()));
    },
  };
}
