import { resolve } from 'node:path';
import * as z from 'zod';
import { parseModelRates, parsePriceOverrides, PriceOverrides, type ModelRates } from '../domain/budget/index.js';
import { DAY_MS } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { httpUrl, usdAmount } from '../core/validation.js';
import { layer, merged, type Keys } from './layer.js';
import { loadSimScript, type SimScript } from './sim-script.js';

// Gateway and budget keys of the config file (snake_case). Pricing tables are checked
// by the budget domain's own parser, which names every bad entry.

const ms = (max: number) => z.number().int('must be a whole number').min(0, 'must be 0 or more').max(max, `must be at most ${max}`);

const provider = z.strictObject({
  base_url: httpUrl.optional(),
  /** The key itself, or leave it out and set api_key_env (default OPENAI_API_KEY / ANTHROPIC_API_KEY). */
  api_key: z.string().min(1, 'must not be empty').optional(),
  api_key_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
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
  /** A file of scripted turns (YAML or JSON) it answers with instead of inventing them; relative to the config file's folder. */
  script: z.string().min(1, 'must not be empty').optional(),
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
      /** The smallest increase a budget warning offers ("Approve $25 increase"): a team's approval step. */
      min_increase_usd: usdAmount.optional(),
      /** `clamp`: near the end of the budget, lower a call's output limit to what is left instead of refusing it. */
      near_limit: z.enum(['refuse', 'clamp']).optional(),
      /** How long a call may wait for in-flight calls to free the budget they hold; 0: never wait. */
      wait_ms: ms(3_600_000).optional(),
      /** How many of an agent's calls may wait for budget at once. */
      max_waiting: z.number().int('must be a whole number').min(1, 'must be 1 or more').max(10_000, 'must be at most 10000').optional(),
      /** Alert (event, webhook, e-mail) when the budget's runway at the current rate falls under this many minutes; 0: off. */
      runway_alert_minutes: z.number().min(0, 'must be 0 (off) or more').max(10_080, 'must be at most 10080 (a week)').optional(),
    })
    .optional(),
  retry: z
    .strictObject({
      attempts: z.number().int('must be a whole number').min(1, 'must be 1 or more').max(10, 'must be at most 10').optional(),
      base_ms: ms(60_000).optional(),
      max_ms: ms(300_000).optional(),
    })
    .optional(),
  max_request_mb: z.number().gt(0, 'must be more than 0').max(100, 'must be at most 100').optional(),
  /** The Responses API's stored state (`store: true`): how long a response is kept, and what one request may expand it to. */
  responses: z
    .strictObject({
      retention_days: z.number().gt(0, 'must be more than 0').max(3650, 'must be at most 3650').optional(),
      /** How many `item_reference`s one request (a turn, or a batch of conversation items) may hold. */
      max_references: z.number().int('must be a whole number').min(1, 'must be 1 or more').max(100_000, 'must be at most 100000').optional(),
      /** How much stored state (previous responses, a conversation, referenced items, as stored) one request may expand to. */
      max_context_mb: z.number().gt(0, 'must be more than 0').max(1024, 'must be at most 1024').optional(),
      /** How much stored state (responses, their items, conversations and their items, as stored) one agent may keep. */
      max_stored_mb_per_agent: z.number().gt(0, 'must be more than 0').max(1_048_576, 'must be at most 1048576').optional(),
      /** How many stored responses, turn items, conversations and conversation items one agent may keep. */
      max_stored_items_per_agent: z.number().int('must be a whole number').min(1, 'must be 1 or more').max(100_000_000, 'must be at most 100000000').optional(),
    })
    .optional(),
};

export interface ProviderConfig {
  baseUrl: string;
  apiKey: string | null;
  /** The variable `api_key_env` named: a credential source, withheld from the agent's environment. */
  apiKeyEnv?: string;
  timeoutMs: number;
}

export interface GatewayConfig {
  providers: {
    openai: ProviderConfig;
    anthropic: ProviderConfig;
    simulated: {
      latencyMs: number;
      chunkDelayMs: number;
      failures: Array<{ fromCall: number; count: number | null; status: 429 | 500 | 502 | 503 | 'timeout' }>;
      /** `script`, read and checked at load; null or absent: answers are invented from the prompt. */
      script?: SimScript | null;
    };
  };
  routing: Record<string, 'openai' | 'anthropic' | 'simulated'>;
  modelFallbacks: Record<string, string[]>;
  /** Price overrides, parsed by the budget domain at load. */
  pricing: PriceOverrides;
  /** The price of a model nobody priced; null: the budget domain's own default. */
  defaultPrice: ModelRates | null;
  baselineModel: string | null;
  budgetPolicy: {
    thresholds: number[];
    onExhausted: 'stop' | 'refuse';
    defaultMaxOutputTokens: number;
    minIncreaseMicros: number | null;
    nearLimit: 'refuse' | 'clamp';
    waitMs: number;
    maxWaiting: number;
    /** The burn-rate alarm: the runway under this many minutes raises `budget.runway`; 0: off. */
    runwayAlertMinutes: number;
  };
  retry: { attempts: number; baseMs: number; maxMs: number };
  maxRequestBytes: number;
  /** What `store: true` keeps (responses and their items) is served and kept this long, then purged. */
  responses: {
    retentionMs: number;
    /** The `item_reference`s one request may hold. */
    maxReferences: number;
    /** The bytes of stored state one request may expand to, counted as stored before anything is opened. */
    maxContextBytes: number;
    /** What one agent may keep stored, in bytes as stored and in items; a write past either is refused before it is made. */
    maxStoredBytes: number;
    maxStoredItems: number;
  };
}

/**
 * How long a call to this provider may take: a simulated provider stands in for OpenAI's side
 * (it answers both wires) and takes its timeout.
 * @example providerTimeoutMs(config.gateway, 'anthropic') // 120000
 */
export function providerTimeoutMs(config: Pick<GatewayConfig, 'providers'>, provider: string): number {
  return provider === 'anthropic' ? config.providers.anthropic.timeoutMs : config.providers.openai.timeoutMs;
}

export const GATEWAY_DEFAULTS: GatewayConfig = {
  providers: {
    openai: { baseUrl: 'https://api.openai.com/v1', apiKey: null, timeoutMs: 120_000 },
    anthropic: { baseUrl: 'https://api.anthropic.com', apiKey: null, timeoutMs: 120_000 },
    simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [], script: null },
  },
  routing: {},
  modelFallbacks: {},
  pricing: PriceOverrides.empty,
  defaultPrice: null,
  baselineModel: null,
  // 120 s: a slow LLM answer (real ones take 1-30 s) settles well within it.
  budgetPolicy: { thresholds: [0.9, 1], onExhausted: 'stop', defaultMaxOutputTokens: 4096, minIncreaseMicros: null, nearLimit: 'refuse', waitMs: 120_000, maxWaiting: 100, runwayAlertMinutes: 10 },
  retry: { attempts: 3, baseMs: 250, maxMs: 8000 },
  maxRequestBytes: 10 * 1024 * 1024,
  // OpenAI keeps a stored response 30 days.
  responses: { retentionMs: 30 * DAY_MS, maxReferences: 1_000, maxContextBytes: 8 * 1024 * 1024, maxStoredBytes: 256 * 1024 * 1024, maxStoredItems: 100_000 },
};

type GatewayLayer = { [K in keyof typeof gatewayFileSchema]?: z.output<(typeof gatewayFileSchema)[K]> };
type Providers = NonNullable<GatewayLayer['providers']>;

function providerKeys(env: NodeJS.ProcessEnv): Keys<ProviderConfig, z.output<typeof provider>> {
  return {
    baseUrl: (l) => l.base_url?.replace(/\/+$/, ''),
    // Naming an environment variable means its value, even an unset one (no key: simulated).
    apiKey: (l) => l.api_key ?? (l.api_key_env !== undefined ? (env[l.api_key_env] ?? null) : undefined),
    apiKeyEnv: 'api_key_env',
    timeoutMs: 'timeout_ms',
  };
}

/** `dir`: the folder a relative `script` is in (the config file's). */
const simulatedKeys = (dir: string): Keys<GatewayConfig['providers']['simulated'], NonNullable<Providers['simulated']>> => ({
  latencyMs: 'latency_ms',
  chunkDelayMs: 'chunk_delay_ms',
  failures: (l) => l.failures?.map((f) => ({ fromCall: f.from_call, count: f.count ?? null, status: f.status })),
  script: (l) => {
    if (l.script === undefined) return undefined;
    try {
      return loadSimScript(resolve(dir, l.script));
    } catch (e) {
      throw e instanceof ConfigError ? new ConfigError(`providers.simulated.script: ${e.message}`) : e;
    }
  },
});

/** The gateway keys of one parsed source, which sit at the top level of the file; `dir`: the folder its relative paths are in. */
function gatewayKeys(env: NodeJS.ProcessEnv, dir: string): Keys<GatewayConfig, GatewayLayer> {
  const provider = providerKeys(env);
  return {
    providers: (l, cur) =>
      layer(cur, l.providers, {
        openai: (p, c) => layer(c, p.openai, provider),
        anthropic: (p, c) => layer(c, p.anthropic, provider),
        simulated: (p, c) => layer(c, p.simulated, simulatedKeys(dir)),
      }),
    routing: merged('routing'),
    modelFallbacks: merged('model_fallbacks'),
    // Price tables are the budget domain's to judge: it names every bad entry (ConfigError).
    pricing: (l) => (l.pricing === undefined ? undefined : parsePriceOverrides(l.pricing, 'pricing')),
    // An empty `default_price:` (null) has always meant "not set".
    defaultPrice: (l) => (l.default_price == null ? undefined : parseModelRates(l.default_price, 'default_price')),
    baselineModel: 'baseline_model',
    budgetPolicy: (l, cur) =>
      layer(cur, l.budget_policy, {
        thresholds: 'thresholds',
        onExhausted: 'on_exhausted',
        defaultMaxOutputTokens: 'default_max_output_tokens',
        minIncreaseMicros: 'min_increase_usd',
        nearLimit: 'near_limit',
        waitMs: 'wait_ms',
        maxWaiting: 'max_waiting',
        runwayAlertMinutes: 'runway_alert_minutes',
      }),
    retry: (l, cur) => layer(cur, l.retry, { attempts: 'attempts', baseMs: 'base_ms', maxMs: 'max_ms' }),
    maxRequestBytes: (l) => (l.max_request_mb === undefined ? undefined : Math.round(l.max_request_mb * 1024 * 1024)),
    responses: (l, cur) =>
      layer(cur, l.responses, {
        retentionMs: (r) => (r.retention_days === undefined ? undefined : Math.round(r.retention_days * DAY_MS)),
        maxReferences: 'max_references',
        maxContextBytes: (r) => (r.max_context_mb === undefined ? undefined : Math.round(r.max_context_mb * 1024 * 1024)),
        maxStoredBytes: (r) => (r.max_stored_mb_per_agent === undefined ? undefined : Math.round(r.max_stored_mb_per_agent * 1024 * 1024)),
        maxStoredItems: 'max_stored_items_per_agent',
      }),
  };
}

/** Layer the gateway keys of one parsed source over `cur`; a relative path in it is in `dir`. */
export function applyGateway(cur: GatewayConfig, l: GatewayLayer, env: NodeJS.ProcessEnv, dir: string): GatewayConfig {
  return layer(cur, l, gatewayKeys(env, dir));
}

/** The defaults, with provider keys and base URLs from the environment iron-cage itself runs in. */
export function gatewayDefaults(env: NodeJS.ProcessEnv): GatewayConfig {
  const d = GATEWAY_DEFAULTS;
  const fromEnv = (p: ProviderConfig, key: string | undefined, url: string | undefined): ProviderConfig => ({
    ...p,
    apiKey: key || null,
    baseUrl: url ? url.replace(/\/+$/, '') : p.baseUrl,
  });
  return {
    ...d,
    providers: {
      openai: fromEnv(d.providers.openai, env.OPENAI_API_KEY, env.OPENAI_BASE_URL),
      anthropic: fromEnv(d.providers.anthropic, env.ANTHROPIC_API_KEY, env.ANTHROPIC_BASE_URL),
      simulated: d.providers.simulated,
    },
  };
}
