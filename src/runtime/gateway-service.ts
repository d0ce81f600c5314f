import type { Hono } from 'hono';
import { z } from 'zod';
import { assertRole, canRead, createApiToken, ROLES } from '../auth/index.js';
import {
  formatAvgPerUnit,
  formatBaselineSavings,
  formatBudgetUsage,
  formatProjection,
  formatProjectionStatus,
  preloadTokenizers,
  projectSpend,
  summarizeCosts,
} from '../budget/index.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { microsToUsd, usdToMicros } from '../core/money.js';
import { CircuitBreaker } from '../reliability/index.js';
import { transitionEvent } from '../tools/index.js';
import type { ServiceFactory } from './services.js';
import { parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { AlertDispatcher, budgetAlertMessage } from './alerts.js';
import {
  GatewayHandler,
  HttpProvider,
  Meter,
  Router,
  SimulatedProvider,
  type Provider,
  type ProviderName,
} from '../gateway/index.js';

const budgetBody = z.strictObject({
  limitUsd: z.number().positive('must be more than 0').max(1_000_000_000, 'must be at most 1000000000').nullable(),
});
const tokenBody = z.strictObject({
  role: z.enum(ROLES),
  name: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  budgetUsd: z.number().positive('must be more than 0').nullable().optional(),
});

export const gatewayService: ServiceFactory = (ctx) => {
  const g = ctx.config.gateway;
  const simulated = new SimulatedProvider(g.providers.simulated);
  const providers: Record<ProviderName, Provider> = {
    openai: g.providers.openai.apiKey ? new HttpProvider('openai', g.providers.openai.baseUrl, g.providers.openai.apiKey, g.providers.openai.timeoutMs) : simulated,
    anthropic: g.providers.anthropic.apiKey
      ? new HttpProvider('anthropic', g.providers.anthropic.baseUrl, g.providers.anthropic.apiKey, g.providers.anthropic.timeoutMs)
      : simulated,
    simulated,
  };
  const alerts = new AlertDispatcher({
    webhookUrl: g.alerts.webhookUrl,
    email: g.alerts.email,
    logger: ctx.logger,
    onResult: (r) =>
      ctx.state.record({
        agentId: r.alertId.split(':')[1] ?? null,
        type: 'alert.delivery',
        severity: r.ok ? 'info' : 'warn',
        message: r.ok ? `Budget alert delivered by ${r.channel}` : `Budget alert by ${r.channel} failed after ${r.attempts} attempt(s): ${r.error ?? 'unknown error'}`,
        data: { channel: r.channel, ok: r.ok, attempts: r.attempts, error: r.error ?? null, alertId: r.alertId },
      }),
  });
  const meter = new Meter({
    state: ctx.state,
    store: ctx.llm,
    config: g,
    alert: (a) => alerts.send(budgetAlertMessage({ ...a, dashboardUrl: ctx.url() || null })),
    stopAgent: (id, why) => void ctx.stopAgent(id, why),
  });
  meter.restore();
  // One breaker per provider, each transition an event, like the tool services'.
  const breakers = new Map<string, CircuitBreaker>();
  for (const name of new Set(Object.values(providers).map((p) => p.name))) {
    const b = new CircuitBreaker(name, {}, { onListenerError: (err) => ctx.logger.error({ err }, `breaker ${name}: transition listener failed`) });
    b.onTransition((t) => ctx.state.record(transitionEvent(t, b.options.cooldownMs, b.options.halfOpenMaxProbes, null)));
    breakers.set(name, b);
  }
  const handler = new GatewayHandler({
    state: ctx.state,
    store: ctx.llm,
    tokens: ctx.tokens,
    meter,
    router: new Router(g, providers),
    breakers,
    guard: ctx.pii.outputGuard(ctx.config.safety.redactPrompts),
    config: g,
    logger: ctx.logger,
  });

  const routes = (app: Hono<AppEnv>) => {
    app.post('/api/agents/:id/budget', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const id = c.req.param('id');
      const agent = ctx.state.agentBrief(id);
      if (!agent) throw new NotFoundError(`no agent ${id}`);
      const body = parseWith(budgetBody, parseJsonBody(await c.req.text()));
      const limit = body.limitUsd === null ? null : usdToMicros(body.limitUsd);
      meter.ensure(id, agent.limitMicros);
      const refused = meter.setLimit(id, limit, `${p.role} ${p.name}`);
      if (refused) throw new ConflictError(refused);
      return c.json(ctx.state.getAgent(id));
    });

    app.get('/api/agents/:id/costs', (c) => {
      const id = c.req.param('id');
      const agent = ctx.state.getAgent(id) ?? ctx.state.loadAgent(id);
      if (!agent || !canRead(c.get('principal'), id)) throw new NotFoundError(`no agent ${id}`);
      const records = ctx.llm.requestsFor(id);
      const baselineModel = g.baselineModel;
      const summary = summarizeCosts(records, baselineModel ? { baseline: { model: baselineModel, book: meter.book } } : {});
      const snap = meter.tracker.snapshot(id);
      const spent = snap?.spentMicros ?? summary.costMicros;
      const limit = snap ? snap.limitMicros : (ctx.state.agentBrief(id)?.limitMicros ?? null);
      const projection = projectSpend(spent, limit, agent.progress);
      const usd = (m: number | null) => (m === null ? null : microsToUsd(m));
      return c.json({
        agentId: id,
        spentUsd: usd(spent),
        limitUsd: usd(limit),
        reservedUsd: usd(snap?.reservedMicros ?? 0),
        percentUsed: snap?.percentUsed ?? null,
        requests: summary.requests,
        promptTokens: summary.promptTokens,
        completionTokens: summary.completionTokens,
        avgPerUnitUsd: usd(projection.avgPerUnitMicros),
        projectionUsd: usd(projection.projectedMicros),
        projectionStatus: projection.status,
        byModel: summary.byModel.map((m) => ({ model: m.model, provider: m.provider, requests: m.requests, promptTokens: m.promptTokens, completionTokens: m.completionTokens, costUsd: microsToUsd(m.costMicros), share: m.share })),
        byStatus: summary.byStatus,
        overTime: summary.buckets.map((b) => ({ start: b.start, requests: b.requests, costUsd: microsToUsd(b.costMicros) })),
        baseline: summary.baseline ? { model: summary.baseline.model, costUsd: microsToUsd(summary.baseline.costMicros), savedUsd: microsToUsd(summary.baseline.savedMicros) } : null,
        display: {
          usage: formatBudgetUsage(spent, limit),
          avgPerUnit: projection.avgPerUnitMicros !== null && projection.unit ? formatAvgPerUnit(projection.avgPerUnitMicros, projection.unit) : null,
          projection: projection.projectedMicros !== null ? formatProjection(projection.projectedMicros) : null,
          status: formatProjectionStatus(projection.status),
          baseline: summary.baseline ? formatBaselineSavings(summary.baseline.savedMicros) : null,
        },
      });
    });

    app.get('/api/gateway/providers', (c) =>
      c.json(
        (['openai', 'anthropic', 'simulated'] as const).map((name) => {
          const p = providers[name];
          const b = breakers.get(p.name);
          b?.refresh();
          return { name, servedBy: p.name, real: p.real, breaker: b ? { state: b.state, retryAfterMs: b.retryAfterMs() } : null };
        }),
      ),
    );

    app.post('/api/tokens', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const body = parseWith(tokenBody, parseJsonBody(await c.req.text()));
      const created = createApiToken(ctx.state, ctx.llm, { role: body.role, name: body.name, budgetMicros: body.budgetUsd == null ? null : usdToMicros(body.budgetUsd) });
      return c.json(created, 201);
    });

    app.get('/api/tokens', (c) => {
      assertRole(c.get('principal'), 'admin');
      return c.json(ctx.llm.listTokens().map(({ hash: _hash, ...t }) => t));
    });

    app.delete('/api/tokens/:id', (c) => {
      assertRole(c.get('principal'), 'admin');
      const revoked = ctx.llm.revokeToken(c.req.param('id'));
      if (revoked.length === 0) throw new NotFoundError(`no active token ${c.req.param('id')}`);
      ctx.tokens.invalidate();
      return c.json(revoked.map(({ hash: _hash, ...t }) => t));
    });
  };

  return {
    name: 'gateway',
    rawRoutes: [{ prefix: '/v1/', handle: handler.handle }],
    apiRoutes: [routes],
    agentEnv: (_id, token) => ({
      OPENAI_BASE_URL: `${ctx.url()}/v1`,
      OPENAI_API_KEY: token,
      ANTHROPIC_BASE_URL: ctx.url(),
      ANTHROPIC_API_KEY: token,
    }),
    announce() {
      ctx.logger.info(`LLM gateway: OpenAI-compatible at ${ctx.url()}/v1, Anthropic-compatible at ${ctx.url()}`);
      for (const name of ['openai', 'anthropic'] as const) {
        if (!providers[name].real) {
          const env = name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
          ctx.logger.warn(`No ${name === 'openai' ? 'OpenAI' : 'Anthropic'} API key configured: ${name} calls are answered by the built-in SIMULATED provider (set ${env} or providers.${name}.api_key)`);
        }
      }
      if (alerts.channels.length > 0) ctx.logger.info(`Budget alerts go to: ${alerts.channels.join(', ')}`);
      // Load the BPE tables (about 0.2 s of synchronous work, once) just after start, before
      // an agent's first call can arrive, but not in the way of the first health checks.
      setTimeout(() => preloadTokenizers(), 100).unref();
    },
    async close() {
      await alerts.close();
      await Promise.all(Object.values(providers).map((p) => p.close()));
    },
  };
};
