import { z } from 'zod';

// Gateway, budget and alert keys of the config file (snake_case). Pricing tables are checked
// by the budget domain's own parser, which names every bad entry.

const url = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL');
const ms = (max: number) => z.number().int('must be a whole number').min(0, 'must be 0 or more').max(max, `must be at most ${max}`);

const provider = z.strictObject({
  base_url: url.optional(),
  /** The key itself, or leave it out and set api_key_env (default OPENAI_API_KEY / ANTHROPIC_API_KEY). */
  api_key: z.string().min(1, 'must not be empty').optional(),
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  timeout_ms: ms(600_000).optional(),
});

const simulated = z.strictObject({
  latency_ms: ms(60_000).optional(),
  chunk_delay_ms: ms(10_000).optional(),
  /** Fail calls from N for K calls with a status (or a timeout): for demos and tests. */
  failures: z
    .array(
      z.strictObject({
        from_call: z.number().int('must be a whole number').min(1, 'must be 1 or more'),
        count: z.number().int('must be a whole number').min(1, 'must be 1 or more').optional(),
        status: z.union([z.literal(429), z.literal(500), z.literal(502), z.literal(503), z.literal('timeout')]),
      }),
    )
    .optional(),
});

export const gatewayFileSchema = {
  providers: z
    .strictObject({
      openai: provider.optional(),
      anthropic: provider.optional(),
      simulated: simulated.optional(),
    })
    .optional(),
  /** Model name (or prefix ending in *) → provider, beyond the defaults (claude* → anthropic). */
  routing: z.record(z.string(), z.enum(['openai', 'anthropic', 'simulated'])).optional(),
  model_fallbacks: z.record(z.string(), z.array(z.string().min(1)).min(1, 'must list at least one model')).optional(),
  pricing: z.record(z.string(), z.unknown()).optional(),
  default_price: z.unknown().optional(),
  baseline_model: z.string().min(1).optional(),
  budget_policy: z
    .strictObject({
      thresholds: z.array(z.number().gt(0, 'must be above 0').max(1, 'must be at most 1 (100%)')).optional(),
      on_exhausted: z.enum(['stop', 'refuse']).optional(),
      default_max_output_tokens: z.number().int('must be a whole number').min(1).max(1_000_000).optional(),
    })
    .optional(),
  retry: z
    .strictObject({
      attempts: z.number().int('must be a whole number').min(1, 'must be 1 or more').max(10, 'must be at most 10').optional(),
      base_ms: ms(60_000).optional(),
      max_ms: ms(300_000).optional(),
    })
    .optional(),
  alerts: z
    .strictObject({
      webhook_url: url.optional(),
      email: z
        .strictObject({
          to: z.string().email('must be an e-mail address'),
          from: z.string().email('must be an e-mail address').optional(),
          smtp_url: z.string().regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL'),
        })
        .optional(),
    })
    .optional(),
  max_request_mb: z.number().gt(0, 'must be more than 0').max(100, 'must be at most 100').optional(),
};

export interface ProviderConfig {
  baseUrl: string;
  apiKey: string | null;
  timeoutMs: number;
}

export interface GatewayConfig {
  providers: {
    openai: ProviderConfig;
    anthropic: ProviderConfig;
    simulated: { latencyMs: number; chunkDelayMs: number; failures: Array<{ fromCall: number; count: number | null; status: 429 | 500 | 502 | 503 | 'timeout' }> };
  };
  routing: Record<string, 'openai' | 'anthropic' | 'simulated'>;
  modelFallbacks: Record<string, string[]>;
  /** Raw tables, validated by the budget domain at load. */
  pricing: Record<string, unknown> | null;
  defaultPrice: unknown;
  baselineModel: string | null;
  budgetPolicy: { thresholds: number[]; onExhausted: 'stop' | 'refuse'; defaultMaxOutputTokens: number };
  retry: { attempts: number; baseMs: number; maxMs: number };
  alerts: { webhookUrl: string | null; email: { to: string; from: string; smtpUrl: string } | null };
  maxRequestBytes: number;
}

export const GATEWAY_DEFAULTS: GatewayConfig = {
  providers: {
    openai: { baseUrl: 'https://api.openai.com/v1', apiKey: null, timeoutMs: 120_000 },
    anthropic: { baseUrl: 'https://api.anthropic.com', apiKey: null, timeoutMs: 120_000 },
    simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] },
  },
  routing: {},
  modelFallbacks: {},
  pricing: null,
  defaultPrice: undefined,
  baselineModel: null,
  budgetPolicy: { thresholds: [0.9, 1], onExhausted: 'stop', defaultMaxOutputTokens: 4096 },
  retry: { attempts: 3, baseMs: 250, maxMs: 8000 },
  alerts: { webhookUrl: null, email: null },
  maxRequestBytes: 10 * 1024 * 1024,
};

type GatewayLayer = { [K in keyof typeof gatewayFileSchema]?: z.output<(typeof gatewayFileSchema)[K]> };

function applyProvider(cur: ProviderConfig, l: z.output<typeof provider> | undefined, env: NodeJS.ProcessEnv, defaultEnv: string): ProviderConfig {
  const keyEnv = l?.api_key_env ?? defaultEnv;
  return {
    baseUrl: (l?.base_url ?? cur.baseUrl).replace(/\/+$/, ''),
    apiKey: l?.api_key ?? (l?.api_key_env !== undefined ? (env[keyEnv] ?? null) : cur.apiKey),
    timeoutMs: l?.timeout_ms ?? cur.timeoutMs,
  };
}

/** Layer the gateway keys of one parsed source over `cur`. */
export function applyGateway(cur: GatewayConfig, l: GatewayLayer, env: NodeJS.ProcessEnv): GatewayConfig {
  const p = l.providers;
  return {
    providers: {
      openai: applyProvider(cur.providers.openai, p?.openai, env, 'OPENAI_API_KEY'),
      anthropic: applyProvider(cur.providers.anthropic, p?.anthropic, env, 'ANTHROPIC_API_KEY'),
      simulated: {
        latencyMs: p?.simulated?.latency_ms ?? cur.providers.simulated.latencyMs,
        chunkDelayMs: p?.simulated?.chunk_delay_ms ?? cur.providers.simulated.chunkDelayMs,
        failures: p?.simulated?.failures?.map((f) => ({ fromCall: f.from_call, count: f.count ?? null, status: f.status })) ?? cur.providers.simulated.failures,
      },
    },
    routing: { ...cur.routing, ...l.routing },
    modelFallbacks: { ...cur.modelFallbacks, ...l.model_fallbacks },
    pricing: l.pricing ?? cur.pricing,
    defaultPrice: l.default_price ?? cur.defaultPrice,
    baselineModel: l.baseline_model ?? cur.baselineModel,
    budgetPolicy: {
      thresholds: l.budget_policy?.thresholds ?? cur.budgetPolicy.thresholds,
      onExhausted: l.budget_policy?.on_exhausted ?? cur.budgetPolicy.onExhausted,
      defaultMaxOutputTokens: l.budget_policy?.default_max_output_tokens ?? cur.budgetPolicy.defaultMaxOutputTokens,
    },
    retry: {
      attempts: l.retry?.attempts ?? cur.retry.attempts,
      baseMs: l.retry?.base_ms ?? cur.retry.baseMs,
      maxMs: l.retry?.max_ms ?? cur.retry.maxMs,
    },
    alerts: {
      webhookUrl: l.alerts?.webhook_url ?? cur.alerts.webhookUrl,
      email: l.alerts?.email ? { to: l.alerts.email.to, from: l.alerts.email.from ?? 'iron-cage@localhost', smtpUrl: l.alerts.email.smtp_url } : cur.alerts.email,
    },
    maxRequestBytes: l.max_request_mb !== undefined ? Math.round(l.max_request_mb * 1024 * 1024) : cur.maxRequestBytes,
  };
}

/** Provider keys from the environment iron-cage itself runs in, when the config names none. */
export function gatewayDefaults(env: NodeJS.ProcessEnv): GatewayConfig {
  const d = structuredClone(GATEWAY_DEFAULTS);
  d.providers.openai.apiKey = env.OPENAI_API_KEY || null;
  d.providers.anthropic.apiKey = env.ANTHROPIC_API_KEY || null;
  if (env.OPENAI_BASE_URL) d.providers.openai.baseUrl = env.OPENAI_BASE_URL.replace(/\/+$/, '');
  if (env.ANTHROPIC_BASE_URL) d.providers.anthropic.baseUrl = env.ANTHROPIC_BASE_URL.replace(/\/+$/, '');
  return d;
}
