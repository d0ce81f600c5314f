import { isUtf8 } from 'node:buffer';
import type { Agent } from 'undici';
import type { ToolServiceConfig } from '../config/index.js';
import {
  TierMetrics,
  responseCacheKey,
  classifyOutcome,
  errorKindOf,
  retryAfterFromHeaders,
  serveWithFallback,
  type CacheLookup,
  type CircuitBreaker,
  type ChainRetry,
  type Classifier,
  type FallbackResult,
  type FaultKind,
  type Tier,
} from '../domain/reliability/index.js';
import { CredentialScrubber } from '../domain/secrets/index.js';
import type { BreakerRegistry } from '../reliability/index.js';
import type { ToolsStore } from '../state/index.js';
import { agentResponseHeaders, cachedHeaders, headerValue } from './headers.js';
import { baseUrl, type BaseUrl } from './path.js';
import type { Blocked, HeaderRedactor, RedactedBody, ResponseRedactor } from './redact.js';
import { spanned, type InjectionAnswer, type InjectionGuard } from '../injection/index.js';
import type { ObservedInjection } from '../observability/index.js';
import type { UnreadableRule } from './unreadable.js';
import { factsOf, savedExtra } from './recorded.js';
import { callUpstream, createDispatcher, injectedFault, ResponseTooLargeError, type ClientLink, type UpstreamResponse } from './upstream.js';
import { percentiles } from '../core/stats.js';

/** One answer, whichever tier produced it. */
export interface ToolAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  redactions: number;
  /** Why the PII policy refuses this answer; null when it may be delivered. */
  blocked: Blocked | null;
  upstreamMs: number | null;
  fault: boolean;
  /** For cached answers: when the live answer was stored (epoch ms). */
  storedAt: number | null;
  /** It passed without a PII scan (a coding we cannot undo, under warn): never cached, so never served again unscanned. */
  unscanned?: true;
  /** A prompt injection it carries (src/injection) and what was done with it: its span says so. */
  injection?: ObservedInjection | null;
}

export interface ServeRequest {
  agentId: string | null;
  /** Whose answer this is (`agent:<id>`, `admin:<name>`): the cache never crosses it. */
  caller: string;
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
  /** The path under the base as written, the raw query and the body: what the cache key covers. */
  rest: string;
  query: string;
  /** The agent's headers that can change the answer (cacheKeyHeaders): also in the key. */
  keyHeaders: Record<string, string | string[]>;
  client: ClientLink;
  fault: FaultKind | null;
  /** Credentials iron-cage sent with the call (configured headers): taken out of the answer before anyone sees or keeps it. */
  injected: readonly string[];
}

/** What a ToolEntry needs from the rest of the proxy. */
export interface ToolEntryDeps {
  config: ToolServiceConfig;
  store: Pick<ToolsStore, 'cacheGet' | 'cachePut'>;
  /** The PII step for live answers. */
  redactor: ResponseRedactor;
  /** The PII step for the headers of live answers. */
  headerRedactor: HeaderRedactor;
  /** The PII step for a live answer in a content coding we cannot undo (the scan cannot read it). */
  unreadable: UnreadableRule;
  /** The prompt-injection step for live answers, after the PII step (src/injection). */
  injection?: Pick<InjectionGuard, 'answer'>;
  /** Where the service's breaker comes from: created with the service's options, saved and restored with its tier counters. */
  breakers: Pick<BreakerRegistry, 'breaker'>;
  /** A cache write failed: nothing the agent needs to hear about. */
  onError: (error: unknown, what: string) => void;
}

export interface FallbackState {
  active: boolean;
  served: { cache: number; placeholder: number; failed: number };
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const LATENCY_SAMPLES = 1024;
/** Prune the cache of a service back to its bound every this many stores. */
const PRUNE_EVERY = 1024;
/** Answers remembered to skip rewriting an identical cache row; small ones only. */
const RECENT_STORES = 1024;
const RECENT_BODY_BYTES = 64 * 1024;

/** One configured upstream: its breaker, connection pool, cache policy and counters. */
export class ToolEntry {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  /** Which tier answered each call: saved in the breaker's row by the registry, beside its snapshot. */
  readonly tiers = new TierMetrics();
  readonly dispatcher: Agent;
  readonly base: BaseUrl;
  readonly fallback: FallbackState = { active: false, served: { cache: 0, placeholder: 0, failed: 0 } };
  readonly config: ToolServiceConfig;
  /**
   * The agent whose call the breaker is judging, so a transition can name it. Set just before
   * the breaker acquires or records (serveWithFallback does both without yielding in between).
   */
  private cause: string | null = null;
  private readonly store: ToolEntryDeps['store'];
  private readonly redactor: ResponseRedactor;
  private scrubber: { key: string; scrub: CredentialScrubber } | null = null;
  private readonly headerRedactor: HeaderRedactor;
  private readonly unreadable: UnreadableRule;
  private readonly injection: ToolEntryDeps['injection'];
  private readonly onError: ToolEntryDeps['onError'];
  private readonly placeholder: { value: ToolAnswer } | null;
  private readonly classify: Classifier<ToolAnswer>;
  private readonly latencies = new Float64Array(LATENCY_SAMPLES);
  private latencyCount = 0;
  private stores = 0;
  private readonly recentStores = new Map<string, { at: number; status: number; type: string | undefined; body: Buffer }>();
  private readonly refreshMs: number;
  private lastClean: { type: string | undefined; body: Buffer } | null = null;

  constructor(deps: ToolEntryDeps) {
    const { config } = deps;
    this.config = config;
    this.name = config.name;
    this.store = deps.store;
    this.redactor = deps.redactor;
    this.headerRedactor = deps.headerRedactor;
    this.unreadable = deps.unreadable;
    this.injection = deps.injection;
    this.onError = deps.onError;
    this.breaker = deps.breakers.breaker('tool', config.name, { options: config.breaker, extra: savedExtra(this.tiers, factsOf(config)), cause: () => this.cause });
    this.dispatcher = createDispatcher(config.timeoutMs);
    this.base = baseUrl(config.url);
    this.refreshMs = Math.min(60_000, Math.floor(config.cacheTtlMs / 4));
    this.placeholder = config.placeholder ? { value: placeholderAnswer(config.placeholder.value) } : null;
    const rules = config.breaker.classify;
    this.classify = (settled) => {
      if (settled.ok) return classifyOutcome({ status: settled.value.status }, rules);
      // Our own limit, not the upstream's sickness.
      if (settled.error instanceof ResponseTooLargeError) return { kind: 'ignore', reason: 'response_too_large' };
      return classifyOutcome({ error: errorKindOf(settled.error) }, rules);
    };
  }

  async serve(r: ServeRequest): Promise<FallbackResult<ToolAnswer>> {
    const judge: Classifier<ToolAnswer> = (settled) => {
      this.cause = r.agentId;
      // Cut short by the agent (it hung up, or its own timeout did): whatever the attempt
      // ended with says nothing about the service, whatever failure_errors lists.
      if (!settled.ok && r.client.gone) return { kind: 'ignore', reason: 'client_aborted' };
      return this.classify(settled);
    };
    const cached = this.config.cacheTtlMs > 0;
    this.cause = r.agentId;
    try {
      return await serveWithFallback<ToolAnswer>({
        breaker: this.breaker,
        live: () => this.live(r),
        classify: judge,
        retry: this.retryPolicy(r),
        cache: cached ? { lookup: () => this.lookup(this.cacheKey(r), r.agentId), store: (a) => this.keep(this.cacheKey(r), a) } : null,
        placeholder: this.placeholder,
        // Tiers are counted by the caller, which knows when the agent hung up and nothing was served.
        metrics: null,
      });
    } finally {
      this.cause = null;
    }
  }

  /** Only idempotent calls are repeated, and never an injected fault. */
  private retryPolicy(r: ServeRequest): ChainRetry<ToolAnswer> | null {
    const { retry } = this.config;
    if (!retry || !IDEMPOTENT.has(r.method) || r.fault !== null) return null;
    return {
      attempts: retry.attempts,
      baseMs: retry.baseMs,
      maxMs: retry.maxMs,
      retryAfterMs: (s) => (s.ok ? retryAfterFromHeaders(s.value.headers, Date.now()) : null),
      sleep: (ms) =>
        new Promise((resolve) =>
          setTimeout(() => {
            this.cause = r.agentId;
            resolve();
          }, ms),
        ),
    };
  }

  recordTier(tier: Tier, lookup: CacheLookup | null): void {
    this.tiers.record(tier, lookup);
  }

  /** p50/p95/p99 of the recent live calls' upstream time, or null before any. */
  latency(): { p50: number; p95: number; p99: number; samples: number } | null {
    const n = Math.min(this.latencyCount, LATENCY_SAMPLES);
    if (n === 0) return null;
    return { ...percentiles(Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b))!, samples: n };
  }

  /** The server is closed by now: calls still waiting on the upstream have nobody to answer. */
  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => {});
  }

  private async live(r: ServeRequest): Promise<ToolAnswer> {
    const up: UpstreamResponse = r.fault
      ? injectedFault(r.fault, this.name, this.config.timeoutMs)
      : await callUpstream({
          dispatcher: this.dispatcher,
          url: r.url,
          method: r.method,
          headers: r.headers,
          body: r.body,
          timeoutMs: this.config.timeoutMs,
          client: r.client,
        });
    if (!up.fault) {
      this.latencies[this.latencyCount % LATENCY_SAMPLES] = up.upstreamMs;
      this.latencyCount++;
    }
    if (up.fault)
      return { status: up.status, headers: agentResponseHeaders(up.headers, up.decoded), body: up.body, redactions: 0, blocked: null, upstreamMs: up.upstreamMs, fault: true, storedAt: null };
    // The credentials the call carried come out first, whatever the PII policy: an answer that
    // echoes them (a debugging endpoint, an error page) is neither delivered nor cached with them.
    const scrub = this.scrubberFor(r.injected);
    const echoed = scrubHeaders(scrub, agentResponseHeaders(up.headers, up.decoded));
    const head = this.headerRedactor(echoed.headers, r.agentId);
    // A body still compressed in a coding we cannot undo cannot be scanned: the policy says
    // whether it may pass unread (warn, off) or is refused (redact, block); it is refused
    // whatever the policy when the call carried credentials it might echo.
    let red: RedactedBody;
    let injection: InjectionAnswer | null = null;
    if (up.unreadable !== null) {
      const blocked = scrub.empty
        ? this.unreadable(up.unreadable, r.agentId)
        : { message: `its answer is in a content coding iron-cage cannot read (${up.unreadable}), and may echo the credentials sent with the call`, types: null };
      red = { body: up.body, redactions: 0, blocked };
    } else {
      const body = scrub.buffer(up.body);
      red = this.scan(body.body, headerValue(head.headers, 'content-type'), r.agentId);
      red = { ...red, redactions: red.redactions + body.found };
      // Whatever the status: an error page is read by the agent as much as an answer.
      if (red.blocked === null) injection = this.injected(red.body, headerValue(head.headers, 'content-type'), r.agentId);
    }
    const redactions = red.redactions + head.redactions + echoed.found;
    const blocked = red.blocked ?? head.blocked ?? refusal(injection);
    const answer: ToolAnswer = {
      status: up.status,
      headers: head.headers,
      body: red.body,
      redactions,
      blocked,
      upstreamMs: up.upstreamMs,
      fault: false,
      storedAt: null,
      injection: observed(injection),
    };
    if (up.unreadable !== null) answer.unscanned = true;
    return answer;
  }

  /**
   * The PII step. A body identical to the last one found clean is clean again, so a service
   * giving the same answer over and over is scanned once; any finding is never remembered, so
   * every answer that has PII is redacted and audited on its own.
   */
  private scan(body: Buffer, contentType: string | undefined, agentId: string | null): RedactedBody {
    const clean = this.lastClean;
    if (clean !== null && clean.type === contentType && clean.body.equals(body)) return { body, redactions: 0, blocked: null };
    const red = this.redactor(body, contentType, agentId);
    this.lastClean = red.redactions === 0 && red.blocked === null && body.length <= RECENT_BODY_BYTES ? { type: contentType, body } : null;
    return red;
  }

  /**
   * The prompt-injection step: an answer of any status (JSON parsed, anything else as text: UTF-8,
   * else byte for byte) read once per agent and text; under `safety.injection: block`, why it must
   * not reach the agent.
   */
  private injected(body: Buffer, contentType: string | undefined, agentId: string | null): InjectionAnswer | null {
    const guard = this.injection;
    if (!guard || body.length === 0) return null;
    // Not UTF-8 under a textual type (a Latin charset, a stray byte): read byte for byte, as the
    // PII step reads it; bytes under any other type are binary (an image), not read.
    const utf8 = isUtf8(body);
    if (!utf8 && !/^text\/|json|xml|yaml|charset=/i.test(contentType ?? '')) return null;
    const text = body.toString(utf8 ? 'utf8' : 'latin1');
    let content: { text: string; json?: unknown } = { text };
    if (contentType && /json/i.test(contentType)) {
      try {
        content = { text, json: JSON.parse(text) };
      } catch {
        // Not JSON after all: read as the text it is.
      }
    }
    return guard.answer(agentId, 'tool.response', content, `tool:${this.name}`);
  }

  /** The scrubber for this call's credentials, kept while they stay the same (a rotation makes a new one). */
  private scrubberFor(injected: readonly string[]): CredentialScrubber {
    const key = injected.join('\u0000');
    if (this.scrubber?.key !== key) this.scrubber = { key, scrub: new CredentialScrubber(injected) };
    return this.scrubber.scrub;
  }

  /** The key covers who asks, what and how (headers included): one agent never gets an answer shaped for another. */
  private cacheKey(r: ServeRequest): string {
    return responseCacheKey({ scope: r.caller, service: this.name, method: r.method, path: r.rest, query: r.query, body: r.body, headers: r.keyHeaders });
  }

  /** A stored answer, read for prompt injection again: it was stored under the mode of its day, and `block` may have come since. */
  private lookup(key: string, agentId: string | null): ToolAnswer | null {
    const hit = this.store.cacheGet(key, Date.now());
    if (!hit) return null;
    const injection = this.injected(hit.body, headerValue(hit.headers, 'content-type'), agentId);
    return {
      status: hit.status,
      headers: hit.headers,
      body: hit.body,
      redactions: 0,
      blocked: refusal(injection),
      upstreamMs: null,
      fault: false,
      storedAt: hit.storedAt,
      injection: observed(injection),
    };
  }

  /**
   * Only real 2xx answers the agent was allowed to see, scanned, are worth serving again. The row joins
   * the group commit of this tick, the one the call's own row goes into.
   */
  private keep(key: string, a: ToolAnswer): void {
    if (a.status < 200 || a.status > 299 || a.blocked || a.fault || a.unscanned) return;
    const now = Date.now();
    const headers = cachedHeaders(a.headers);
    const type = headers['content-type'];
    // A service asked the same thing over and over gives the same answer: rewriting the row
    // each time would cost a database write per call for nothing. The row is still refreshed
    // well before it expires.
    const last = this.recentStores.get(key);
    if (last && now - last.at < this.refreshMs && last.status === a.status && last.type === type && last.body.equals(a.body)) return;
    const pruneTo = ++this.stores % PRUNE_EVERY === 0 ? this.config.cacheMaxEntries : null;
    const row = { key, service: this.name, status: a.status, headers, body: a.body, storedAt: now, expiresAt: now + this.config.cacheTtlMs };
    this.store.cachePut(row, pruneTo).catch((err: unknown) => this.onError(err, 'cache write'));
    if (a.body.length <= RECENT_BODY_BYTES) {
      this.recentStores.delete(key);
      this.recentStores.set(key, { at: now, status: a.status, type, body: a.body });
      if (this.recentStores.size > RECENT_STORES) this.recentStores.delete(this.recentStores.keys().next().value!);
    }
  }
}

function placeholderAnswer(value: unknown): ToolAnswer {
  const body = Buffer.from(JSON.stringify(value));
  return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body, redactions: 0, blocked: null, upstreamMs: null, fault: false, storedAt: null };
}

/** Response headers with the call's credentials taken out of every value. */
function scrubHeaders(scrub: CredentialScrubber, headers: Record<string, string | string[]>): { headers: Record<string, string | string[]>; found: number } {
  if (scrub.empty) return { headers, found: 0 };
  let found = 0;
  const one = (v: string) => {
    const r = scrub.text(v);
    found += r.found;
    return r.text;
  };
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.map(one) : one(v);
  return { headers: out, found };
}

/** Why an answer that carries a prompt injection must not reach the agent (`safety.injection: block`), as the proxy refuses it. */
const refusal = (a: InjectionAnswer | null): Blocked | null => (a?.refuse ? { message: a.refuse, types: null, code: 'injection_blocked' } : null);

/** A finding as the call's span says it. */
const observed = (a: InjectionAnswer | null): ObservedInjection | null => (a ? spanned(a.finding) : null);
