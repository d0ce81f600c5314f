import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import type { Micros } from '../core/money.js';
import { usdSchema } from '../core/validation.js';
import { ERROR_KINDS, SERVICE_NAME, SERVICE_RULE, validateBreakerOptions, type BreakerOptions, type FaultConfig, type FaultKind, type RetryPolicy } from '../domain/reliability/index.js';

// `tools.<service>` (the egress proxy's upstreams), `faults` and `allow_faults`. File keys are
// snake_case; the parsed values are what src/tools uses, with every default filled in, so a
// mistake is reported at load time with its key path and never while the agent runs.

export interface ToolServiceConfig {
  name: string;
  /** Base URL without a trailing slash; requests go to `${url}/${path}` and nowhere else. */
  url: string;
  /** Added to every upstream request (API keys live here); never logged, never in an event. */
  headers: Record<string, string>;
  timeoutMs: number;
  costPerCallMicros: Micros;
  /** 0 turns the response cache (tier 2) off. */
  cacheTtlMs: number;
  cacheMaxEntries: number;
  /** Tier 3: served as JSON with status 200. null: no placeholder, a failure stays a failure. */
  placeholder: { value: unknown } | null;
  breaker: BreakerOptions;
  /** Retries for idempotent methods only; null: one attempt. */
  retry: RetryPolicy | null;
}

export const TOOL_DEFAULTS = {
  timeoutMs: 10_000,
  cacheTtlMs: 24 * 3600 * 1000,
  cacheMaxEntries: 10_000,
} as const;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Set by the proxy itself for each request; a configured value would corrupt the framing.
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect', 'accept-encoding']);

const posInt = z.number().int('must be a whole number').min(1, 'must be 1 or more');
const seconds = z
  .number()
  .min(0, 'must be 0 or more')
  .max(30 * 24 * 3600, 'must be at most 2592000 (30 days)');
const httpStatus = z.number().int('must be a whole number').min(400, 'must be 400-599').max(599, 'must be 400-599');
const toMs = (s: number): number => Math.round(s * 1000);

const httpUrl = z.string().transform((raw, ctx) => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail('must be an http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail(`must be an http(s) URL (got ${u.protocol.slice(0, -1)}:)`);
  // Credentials in the URL would end up in logs and error messages; headers are kept out of both.
  if (u.username || u.password) return fail('must not contain credentials; put them in headers');
  if (u.search || u.hash || raw.includes('?') || raw.includes('#')) return fail('must not have a query or fragment');
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
});

const headers = z.record(z.string(), z.string()).superRefine((h, ctx) => {
  for (const [name, value] of Object.entries(h)) {
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
    else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'is set by the proxy and cannot be configured' });
    // The value is never echoed: it is usually an API key.
    else if (/[\r\n\0]/.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'must not contain line breaks or NUL' });
  }
});

/** Anything JSON can carry (TOML dates and the like cannot be served as JSON). */
function isJsonValue(v: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.values(v as object).every((x) => isJsonValue(x, depth + 1));
  }
  return false;
}

const failureRate = z
  .strictObject({
    threshold_percent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').optional(),
    min_calls: posInt.optional(),
    window_calls: posInt.max(100_000, 'must be at most 100000').optional(),
    window_s: z.number().gt(0, 'must be above 0').max(86_400, 'must be at most 86400').optional(),
  })
  .superRefine((f, ctx) => {
    if (f.window_calls === undefined && f.window_s === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs window_calls (last N calls) or window_s (last T seconds), or both' });
    }
    if (f.window_calls !== undefined && f.min_calls !== undefined && f.min_calls > f.window_calls) {
      ctx.addIssue({ code: 'custom', path: ['min_calls'], message: `must not exceed window_calls (${f.window_calls}), or the rate is never evaluated` });
    }
  });

const breaker = z.strictObject({
  failure_threshold: posInt.optional(),
  cooldown_s: seconds.optional(),
  half_open_probes: posInt.max(1000, 'must be at most 1000').optional(),
  half_open_successes: posInt.max(1000, 'must be at most 1000').optional(),
  probe_timeout_s: seconds.refine((s) => s > 0, 'must be above 0').optional(),
  failure_rate: failureRate.optional(),
  failure_statuses: z.array(httpStatus).optional(),
  ignored_statuses: z.array(httpStatus).optional(),
  server_errors_fail: z.boolean().optional(),
  failure_errors: z.array(z.enum(ERROR_KINDS)).optional(),
});

const retry = z
  .strictObject({
    attempts: posInt.max(10, 'must be at most 10'),
    base_ms: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(60_000, 'must be at most 60000').optional(),
    max_ms: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(300_000, 'must be at most 300000').optional(),
  })
  .superRefine((r, ctx) => {
    if (r.base_ms !== undefined && r.max_ms !== undefined && r.max_ms < r.base_ms) {
      ctx.addIssue({ code: 'custom', path: ['max_ms'], message: `must be at least base_ms (${r.base_ms})` });
    }
  });

type BreakerLayer = z.output<typeof breaker>;

function breakerOptions(b: BreakerLayer | undefined): BreakerOptions {
  const fr = b?.failure_rate;
  // Everything was checked above with snake_case messages; this only fills the defaults.
  return validateBreakerOptions({
    ...(b?.failure_threshold !== undefined && { failureThreshold: b.failure_threshold }),
    ...(b?.cooldown_s !== undefined && { cooldownMs: toMs(b.cooldown_s) }),
    ...(b?.half_open_probes !== undefined && { halfOpenMaxProbes: b.half_open_probes }),
    ...(b?.half_open_successes !== undefined && { halfOpenSuccessThreshold: b.half_open_successes }),
    ...(b?.probe_timeout_s !== undefined && { probeTimeoutMs: Math.max(1, toMs(b.probe_timeout_s)) }),
    failureRate: fr
      ? {
          ...(fr.threshold_percent !== undefined && { thresholdPercent: fr.threshold_percent }),
          ...(fr.min_calls !== undefined && { minCalls: fr.min_calls }),
          windowCalls: fr.window_calls ?? null,
          windowMs: fr.window_s === undefined ? null : Math.max(1, toMs(fr.window_s)),
        }
      : null,
    classify: {
      ...(b?.failure_statuses && { failureStatuses: b.failure_statuses }),
      ...(b?.ignored_statuses && { ignoredStatuses: b.ignored_statuses }),
      ...(b?.server_errors_fail !== undefined && { serverErrorsFail: b.server_errors_fail }),
      ...(b?.failure_errors && { failureErrors: b.failure_errors }),
    },
  });
}

const service = z.strictObject({
  url: httpUrl,
  headers: headers.optional(),
  timeout_ms: posInt.max(600_000, 'must be at most 600000 (10 minutes)').optional(),
  // Zero is allowed explicitly: a free service still gets breakers and a cache.
  cost_per_call_usd: usdSchema({ allowZero: true, maxUsd: 1000 }).optional(),
  cache_ttl_s: seconds.optional(),
  cache_max_entries: posInt.max(1_000_000, 'must be at most 1000000').optional(),
  // null (or an empty `placeholder:` in YAML) means none; any other JSON value is served.
  placeholder: z.unknown().refine(isJsonValue, 'must be a JSON value (object, list, string, number, true/false)').optional(),
  breaker: breaker.optional(),
  retry: retry.optional(),
});

export const toolsSchema = z
  .record(z.string(), service)
  .superRefine((tools, ctx) => {
    for (const name of Object.keys(tools)) {
      if (!SERVICE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `service names ${SERVICE_RULE}` });
    }
  })
  .transform((tools): Record<string, ToolServiceConfig> => {
    const out: Record<string, ToolServiceConfig> = {};
    for (const [name, s] of Object.entries(tools)) {
      out[name] = {
        name,
        url: s.url,
        headers: s.headers ?? {},
        timeoutMs: s.timeout_ms ?? TOOL_DEFAULTS.timeoutMs,
        costPerCallMicros: s.cost_per_call_usd ?? 0,
        cacheTtlMs: s.cache_ttl_s === undefined ? TOOL_DEFAULTS.cacheTtlMs : toMs(s.cache_ttl_s),
        cacheMaxEntries: s.cache_max_entries ?? TOOL_DEFAULTS.cacheMaxEntries,
        placeholder: s.placeholder == null ? null : { value: s.placeholder },
        breaker: breakerOptions(s.breaker),
        retry: s.retry ? { attempts: s.retry.attempts, baseMs: s.retry.base_ms ?? 250, maxMs: s.retry.max_ms ?? Math.max(8_000, s.retry.base_ms ?? 0), maxElapsedMs: null } : null,
      };
    }
    return out;
  });

const FAULT_STATUS = 'must be an HTTP status from 400 to 599, "timeout" or "connection"';
/** What a fault plan makes the service answer: in the config file and in POST /api/faults. */
export const faultStatus = z.union([z.number().int(FAULT_STATUS).min(400, FAULT_STATUS).max(599, FAULT_STATUS), z.literal('timeout'), z.literal('connection')], { error: FAULT_STATUS });

/** The longest a fault plan may last, in the file and in POST /api/faults: a day. */
export const FAULT_MAX_S = 86_400;
/** A fault plan's call numbers and counts, in the file and in POST /api/faults. */
export const faultCalls = posInt.max(1_000_000_000, 'must be at most 1000000000');
/** POST /api/faults' duration in milliseconds, bounded like the file's `duration_s`. */
export const faultDurationMs = posInt.max(FAULT_MAX_S * 1000, `must be at most ${FAULT_MAX_S * 1000} (a day)`);

/** `faults:` in the file: the same plans as POST /api/faults, counted from iron-cage's start. */
export const faultsSchema = z
  .array(
    z.strictObject({
      service: z.string().regex(SERVICE_NAME, SERVICE_RULE),
      from_call: faultCalls.optional(),
      count: faultCalls.optional(),
      duration_s: z.number().gt(0, 'must be above 0').max(FAULT_MAX_S, `must be at most ${FAULT_MAX_S}`).optional(),
      status: faultStatus,
    }),
  )
  .transform((list): FaultConfig[] =>
    list.map((f) => ({
      service: f.service,
      fromCall: f.from_call ?? 1,
      count: f.count ?? null,
      durationMs: f.duration_s === undefined ? null : Math.max(1, toMs(f.duration_s)),
      status: f.status as FaultKind,
    })),
  );

/** 127.0.0.0/8, ::1 and localhost: this machine only (fault injection, the secrets CLI's plain-http server). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Whether POST /api/faults may be used: always on a loopback bind, elsewhere only with allow_faults. */
export function faultsPermitted(c: { host: string; allowFaults: boolean }): boolean {
  return c.allowFaults || isLoopbackHost(c.host);
}

/** Cross-key checks run once every layer is applied (the host may come from a flag). */
export function checkToolsConfig(c: { host: string; allowFaults: boolean; tools: Record<string, ToolServiceConfig>; faults: FaultConfig[]; configFile: string | null }): void {
  // Fault plans and tools only come from the file, so the file is where to look.
  const where = c.configFile ? `config ${c.configFile}: ` : '';
  c.faults.forEach((f, i) => {
    if (!c.tools[f.service]) {
      throw new ConfigError(`${where}faults.${i}.service: no tool service '${f.service}' is configured (add tools.${f.service})`);
    }
  });
  if (c.faults.length > 0 && !faultsPermitted(c)) {
    throw new ConfigError(`faults: fault injection is refused on the non-loopback bind ${c.host}; set allow_faults: true (or IRON_CAGE_ALLOW_FAULTS=1) if you mean it`);
  }
}
